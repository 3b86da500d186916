/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Control calls into drivers (the request path is graph/io.c): the graph
 * calls a driver's open, close and hand-over hooks only through these,
 * which keep node->opened and the rules around the calls in one place.
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
