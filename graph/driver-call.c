/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Control calls into drivers: open, close, hand-over, locks, read-write,
 * reopen (see driver-call.h).
 */

#include "graph/driver-call.h"

int coroutine_fn drv_co_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    int r = node->drv->co_open ? node->drv->co_open(node, opts, errp) : 0;

    if (r < 0) {
        if (node->drv->close)
            node->drv->close(node);
        return r;
    }
    node->opened = true;
    return 0;
}

void coroutine_fn drv_co_close(BlockNode *node)
{
    if (!node->opened)
        return;
    if (node->drv->close)
        node->drv->close(node);
    node->opened = false;
}

int coroutine_fn drv_co_inactivate(BlockNode *node)
{
    return node->drv->co_inactivate ? node->drv->co_inactivate(node) : 0;
}

int coroutine_fn drv_co_activate(BlockNode *node, GError **errp)
{
    return node->drv->co_activate ? node->drv->co_activate(node, errp) : 0;
}

int coroutine_fn drv_co_backing_changed(BlockNode *node, GError **errp)
{
    return node->drv->co_backing_changed ? node->drv->co_backing_changed(node, errp) : 0;
}

int drv_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared, GError **errp)
{
    if (node->drv->apply_perm && node->opened) {
        int r = node->drv->apply_perm(node, perm, shared, errp);
        if (r < 0)
            return r;
    }
    node->locked_perm = perm;
    node->locked_shared = shared;
    return 0;
}

int drv_set_writable(BlockNode *node, bool writable, GError **errp)
{
    if (node->drv->kind == BLOCK_DRIVER_PROTOCOL && node->drv->set_writable)
        return node->drv->set_writable(node, writable, errp);
    node->writable = writable;
    return 0;
}

int coroutine_fn drv_co_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                       void **ret_state, GError **errp)
{
    *ret_state = NULL;
    return node->drv->reopen_prepare ? node->drv->reopen_prepare(node, opts, ret_state, errp) : 0;
}

void drv_reopen_commit(BlockNode *node, void *state)
{
    if (node->drv->reopen_prepare && node->drv->reopen_commit)
        node->drv->reopen_commit(node, state);
}

void drv_reopen_abort(BlockNode *node, void *state)
{
    if (node->drv->reopen_prepare && node->drv->reopen_abort)
        node->drv->reopen_abort(node, state);
}
