/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Control calls into drivers (the request path is graph/io.c): the graph
 * calls a driver's open, close, hand-over, permission and read-write
 * switch hooks only through these, which keep node->opened,
 * node->locked_perm and the rules around the calls in one place.
 */

#include "graph/node.h"

/*
 * Opens node with its driver.  The rule for a failed open, for every
 * driver: close is called on the partly opened node, so that whatever the
 * driver took before it failed (a descriptor, caches) is given back.
 */
int coroutine_fn drv_co_open(BlockNode *node, const OptionSet *opts, GError **errp);
/* Closes an opened node (no-op otherwise); the caller has flushed it. */
void coroutine_fn drv_co_close(BlockNode *node);

/* Hand-over hooks (BlockDriver.co_inactivate / co_activate); 0 without one. */
int coroutine_fn drv_co_inactivate(BlockNode *node);
int coroutine_fn drv_co_activate(BlockNode *node, GError **errp);

/* After the backing child was attached or changed (BlockDriver.co_backing_changed); 0 without one. */
int coroutine_fn drv_co_backing_changed(BlockNode *node, GError **errp);

/*
 * The image locks for what the node's users take and share
 * (BlockDriver.apply_perm): only an opened node with the hook takes any.
 * Records them in node->locked_perm / locked_shared on success.
 */
int drv_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared, GError **errp);

/*
 * Reopen with new options: BlockDriver.reopen_prepare stages them (and may
 * fail), then exactly one of commit or abort.  A driver without
 * reopen_prepare stages nothing (*ret_state NULL) and commit and abort do
 * nothing for it; the core refused beforehand every change it cannot make.
 */
int coroutine_fn drv_co_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                       void **ret_state, GError **errp);
void drv_reopen_commit(BlockNode *node, void *state);
void drv_reopen_abort(BlockNode *node, void *state);

/*
 * Opens node read-write or read-only: a protocol driver with set_writable
 * reopens its image; any other node only changes node->writable (its
 * storage follows through the permissions it passes down).
 */
int drv_set_writable(BlockNode *node, bool writable, GError **errp);
