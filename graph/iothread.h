/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Iothreads as the graph sees them: named event loops (aio/loop.h) that
 * nodes are bound to with the `iothread` option.  A node and its subtree
 * belong to one loop; the exports of a node serve their connections on it.
 * Added and removed on the main loop only.
 */

#include <glib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

typedef struct BlockNode BlockNode;

/* Starts iothread id.  Errors: InvalidArgument (id), Exists, IOError (thread). */
AioLoop *iothread_add(const char *id, GError **errp);

/* Stops iothread id.  Errors: NotFound, Busy (a node is bound to it). */
bool iothread_remove(const char *id, GError **errp);

/* The iothread named id, or NotFound naming what asked (e.g. "node 'disk0'"). */
AioLoop *iothread_lookup(const char *id, const char *what, GError **errp);

/* The ids of the iothreads, in start order (NULL-terminated, free with g_strfreev). */
char **iothread_ids(void);

/* The loop that does node's I/O: its iothread's, else the main loop. */
AioLoop *node_loop(const BlockNode *node);
/* "the main loop" or "iothread 'io1'", for messages. */
char *node_loop_describe(const BlockNode *node);

/*
 * A link from parent (or a user in parent's loop) to child: both must be in
 * one loop.  InvalidArgument naming both nodes and their loops otherwise.
 */
bool node_check_same_loop(const BlockNode *parent, const BlockNode *child, const char *role,
                          GError **errp);

/*
 * Jobs across two loops (docs/architecture.md, "Jobs"): whether node and
 * its subtree may move to loop to.  Nothing may tie them to their loop: an
 * `iothread` option (a node bound on purpose stays), a parent outside the
 * subtree, an export, a user other than user (a job id), a driver that
 * cannot run in an iothread or keeps state of its loop.  InvalidArgument
 * naming the node and what binds it otherwise.
 */
bool node_loop_can_move(BlockNode *node, AioLoop *to, const char *user, GError **errp);
/* Moves them, drained (main loop, in a coroutine); checks again first. */
bool coroutine_fn node_co_move_loop(BlockNode *node, AioLoop *to, const char *user,
                                    GError **errp);
