/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The graph: all nodes by name, and the transactions that change it.
 * Everything here runs on the main loop; functions marked coroutine_fn
 * drain and do I/O and must run in a coroutine.
 */

#include <glib.h>
#include "graph/node.h"
#include "graph/spec.h"

typedef struct GraphListener {
    void (*node_added)(BlockNode *node, void *opaque);
    void (*node_removed)(BlockNode *node, void *opaque);
    void (*node_changed)(BlockNode *node, NodeChange change, void *opaque);
} GraphListener;

/* One listener (the bus); NULL to unset. */
void graph_set_listener(const GraphListener *listener, void *opaque);

/*
 * Graph changes (add, remove, reopen, activation, attaching a user) run one
 * at a time: a permission change may yield (it opens images and takes
 * locks in the worker pool) and must not interleave with another.
 */
void coroutine_fn graph_co_lock(void);
void graph_unlock(void);

BlockNode *graph_lookup(const char *name);
guint graph_node_count(void);
/* Nodes in the order they were added (read-only list of BlockNode*). */
GList *graph_nodes(void);

/*
 * Adds the node described by spec with its inline children, all or nothing:
 * on error nothing of it stays in the graph.  The new node is user-owned
 * (stays until graph_co_remove_node).
 */
BlockNode *coroutine_fn graph_co_add_node(const BlockdevSpec *spec, GError **errp);

/* Removes a user-owned node; refuses one that a parent, export or job uses. */
int coroutine_fn graph_co_remove_node(const char *name, GError **errp);

/*
 * Reopens the nodes named by the specs (BlockdevSpec*, one per node) in one
 * transaction: new options (omitted ones reset to their defaults), replaced
 * or detached file/backing links, read-only changes; permissions checked on
 * the final graph.  On error nothing changed.
 */
int coroutine_fn graph_co_reopen(GPtrArray *specs, GError **errp);

/*
 * Reopens node with read-only changed, its other options and links as they
 * are (QEMU's bdrv_reopen_set_read_only: commit and stream make a read-only
 * node writable for the job and back).  A file below with auto-read-only
 * follows through the permissions.  _locked: the caller holds the graph lock.
 */
int coroutine_fn graph_co_set_read_only(BlockNode *node, bool read_only, GError **errp);
int coroutine_fn graph_co_set_read_only_locked(BlockNode *node, bool read_only, GError **errp);

/*
 * Replaces node `from` by `to` for its users: every link to `from` (parent
 * nodes, exports, jobs) moves to `to`, except those keep() returns true for
 * and those of `to` itself or of nodes below it (they would close a cycle).
 * One transaction: a frozen link, a writable parent over a read-only `to`
 * or a permission conflict on `to` leaves everything as it was.  `from` is
 * drained meanwhile: no request is in flight on it during the change, and
 * requests held back by the drain go to `to` (each link's moved() is told).
 */
typedef bool (*GraphKeepLink)(const BlockChild *c, void *opaque);
int coroutine_fn graph_co_replace_node(BlockNode *from, BlockNode *to, GraphKeepLink keep,
                                       void *opaque, GError **errp);

/* SIGTERM: flush and close every node, roots first. */
void coroutine_fn graph_co_close_all(void);
