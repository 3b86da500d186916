/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between the graph's files only: node lifetime and permission checks. */

#include "graph/graph.h"
#include "graph/node.h"
#include "graph/spec.h"
#include "graph/transaction.h"

/* A node nobody holds any more (not user-owned, no users) is closed and freed. */
void coroutine_fn graph_release_if_orphan(BlockNode *node);

/*
 * A child element of spec for a node of drv named name: its role must be one
 * the driver takes, and appear only once (AddNode and reopen).
 */
bool child_spec_check_role(const BlockDriver *drv, const BlockdevSpec *spec,
                           const ChildSpec *cs, const char *name, GError **errp);

/*
 * Whether child may become the role child of parent without closing a cycle:
 * neither parent nor one of ancestors (nodes still being built that will be
 * above parent; NULL for none) may be child or lie below it.  AddNode and
 * reopen both ask this before they link.
 */
bool graph_check_link_acyclic(const BlockNode *parent, const BlockNode *child,
                              const char *role, GPtrArray *ancestors, GError **errp);

/*
 * Gives link c (already in c->node->parents) the permissions perm/shared and
 * updates everything below it as one transaction: conflicts with the other
 * users, read-write switches, the permissions the node passes to its own
 * children, image locks.  On failure nothing changed.
 */
bool perm_update_link(BlockChild *c, uint64_t perm, uint64_t shared, GError **errp);

/* Whether link c's permissions agree with every other user of c->node. */
bool perm_check_link(const BlockChild *c, GError **errp);

/* Recomputes what node passes to its children (after node->writable changed). */
bool perm_refresh_node(BlockNode *node, GError **errp);

/* What parent needs from the child in role, from the parent's own users' needs. */
void perm_for_child(BlockNode *parent, const char *role, uint64_t *ret_perm,
                    uint64_t *ret_shared);

/*
 * Whether a writable parent may have child in role: its storage must be
 * writable or able to become so (backing children need not be).  A node
 * does not take write on storage it does not write to yet (raw with no
 * writer), so this is the check that read-only=off means "can be written".
 */
bool perm_child_can_write(const BlockNode *parent, const BlockNode *child, const char *role,
                          GError **errp);
/* The same for every child of node (after a reopen made it writable). */
bool perm_children_can_write(const BlockNode *node, GError **errp);

/* The first user that takes write or resize on node, or NULL. */
const BlockChild *perm_first_writer(const BlockNode *node);

/* Whether the node can become writable by itself (dynamic auto-read-only). */
bool node_is_dynamic_read_only(const BlockNode *node);

/* Unlinks a user from its node (and its parent) and frees the link; nothing else. */
void block_child_unlink(BlockChild *c);
/* Gives back what link c took from its node (which stays open), then unlinks it. */
void block_child_drop(BlockChild *c);
/* Unlinks without freeing (a transaction may put it back), and the way back. */
void block_child_take_out(BlockChild *c);
void block_child_put_back(BlockChild *c, guint child_index);
void block_child_destroy(BlockChild *c);

/*
 * A format or filter shows its file's filename: sets it from the current
 * `file` child (after AddNode linked it or a reopen replaced it), and the
 * same for the parents that show this one's.
 */
void node_refresh_filename(BlockNode *node);

/* Makes node visible: name table, node list, listener. */
void graph_register(BlockNode *node);

/* Frees a node with no links left (closed or never opened). */
void node_free(BlockNode *node);

/* The same steps inside a caller's transaction (reopen). */
bool perm_update_link_in(BlockChild *c, uint64_t perm, uint64_t shared, Transaction *tran,
                         GError **errp);
bool perm_refresh_node_in(BlockNode *node, Transaction *tran, GError **errp);
/* Opens node read-write or read-only (protocol: through the driver), undone on abort. */
bool perm_set_writable(BlockNode *node, bool writable, Transaction *tran, GError **errp);

/* Moves link c to node `to` (parent and role stay), moved back on abort. */
void block_child_move_in(BlockChild *c, BlockNode *to, Transaction *tran);

/* A link with no permissions yet, for a transaction that checks them at the end. */
BlockChild *block_child_link(BlockNode *parent, BlockNode *child, const char *role);

/* A failed node with nothing in flight: close its driver, answer with `error`'s. */
void coroutine_fn node_co_finish_failure(BlockNode *node);
