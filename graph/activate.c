/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Active and inactive nodes (handing an image over to another host), and failed nodes. */

#include <errno.h>
#include <stdarg.h>

#include "drivers/drivers.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/io.h"

static const BlockChild *active_writer(const BlockNode *node)
{
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->parents, i);
        bool user_active = c->user_kind != BLOCK_USER_NODE || c->parent->active;

        if (user_active && (c->perm & (BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE)))
            return c;
    }
    return NULL;
}

static int coroutine_fn activate(BlockNode *node, GError **errp)
{
    for (guint i = 0; i < node->children->len; i++) {
        BlockChild *c = g_ptr_array_index(node->children, i);
        if (!c->node->active && activate(c->node, errp) < 0)
            return -EPERM;
    }
    if (node->active)
        return 0;
    node->active = true;
    /* Take the locks and write links back. */
    if (!perm_refresh_node(node, errp)) {
        node->active = false;
        return -EPERM;
    }
    node_notify_changed(node, "Active");
    return 0;
}

static int coroutine_fn inactivate(BlockNode *node, GError **errp)
{
    const BlockChild *writer = active_writer(node);
    int r;

    if (writer) {
        g_autofree char *who = block_child_describe_user(writer);
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Cannot inactivate node '%s': %s still writes to it", node->name, who);
        return -EBUSY;
    }
    r = node_co_flush_node(node);
    if (r < 0) {
        bg_set_error_errno(errp, r, "Failed to flush node '%s' before inactivating it",
                           node->name);
        return r;
    }
    node->active = false;
    if (!perm_refresh_node(node, errp)) {
        node->active = true;
        return -EPERM;
    }
    node_notify_changed(node, "Active");
    /* Children that no active parent writes any more go inactive too. */
    for (guint i = 0; i < node->children->len; i++) {
        BlockChild *c = g_ptr_array_index(node->children, i);
        if (c->node->active && !active_writer(c->node) && c->node->parents->len == 1)
            inactivate(c->node, NULL);
    }
    return 0;
}

int coroutine_fn node_co_set_active(BlockNode *node, bool active, GError **errp)
{
    return active ? activate(node, errp) : inactivate(node, errp);
}

void coroutine_fn node_co_finish_failure(BlockNode *node)
{
    if (!node->failure || !node->opened || node->drv == &block_driver_error)
        return;
    if (node->drv->close)
        node->drv->close(node);
    g_clear_pointer(&node->opaque, g_free);
    node->drv = &block_driver_error;
    node_notify_changed(node, "Driver");
}

void node_fail(BlockNode *node, const char *fmt, ...)
{
    va_list ap;

    if (node->failure)
        return;
    va_start(ap, fmt);
    node->failure = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_warning("Node '%s' failed: %s; it answers every request with EIO from now on",
              node->name, node->failure);
    /*
     * Not now: the driver may be in the middle of a request on this very
     * node.  The last request in flight switches it (graph/io.c).
     */
}
