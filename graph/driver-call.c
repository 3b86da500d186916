/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control calls into drivers: open, close, hand-over (see driver-call.h). */

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
