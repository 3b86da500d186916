/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between the graph's files only: node lifetime and permission checks. */

#include "graph/node.h"

/* A node nobody holds any more (not user-owned, no users) is closed and freed. */
void coroutine_fn graph_release_if_orphan(BlockNode *node);

/* Tells the listener; no-op for nodes not in the graph yet. */
void graph_notify_changed(BlockNode *node, const char *property);

/*
 * Checks that a user taking perm and sharing shared can join node's users
 * (ignoring `ignore`), and that the node can be written if perm asks for it.
 */
bool perm_check_new_user(BlockNode *node, const BlockChild *candidate,
                         const BlockChild *ignore, GError **errp);

/* What parent needs from the child in role (driver's child_perm or the default). */
void perm_for_child(BlockNode *parent, const char *role, uint64_t *ret_perm,
                    uint64_t *ret_shared);

/* Unlinks a user from its node (and its parent) and frees the link; nothing else. */
void block_child_unlink(BlockChild *c);

/* Makes node visible: name table, node list, listener. */
void graph_register(BlockNode *node);

/* Frees a node with no links left (closed or never opened). */
void node_free(BlockNode *node);
