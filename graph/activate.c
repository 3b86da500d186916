/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Active and inactive nodes (handing an image over to another host), and failed nodes. */

#include <errno.h>
#include <stdarg.h>

#include "graph/driver-call.h"
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

static void notify_active(BlockNode *node)
{
    node_notify_changed(node, NODE_CHANGE_ACTIVE);
    node_notify_changed(node, NODE_CHANGE_WRITABLE);     /* an inactive node takes no writes */
}

/* Takes the locks and write links back, then lets the driver read the image again. */
static int coroutine_fn activate_drained(BlockNode *node, GError **errp)
{
    uint64_t size = node->size;
    g_autoptr(GError) err = NULL;
    int r;

    node->active = true;
    if (!perm_refresh_node(node, errp)) {
        node->active = false;
        return -EPERM;
    }
    if (node->failure)
        return 0;
    r = drv_co_activate(node, &err);
    if (r < 0) {
        node_fail(node, "could not read the image again on activation: %s", err->message);
        g_propagate_prefixed_error(errp, g_steal_pointer(&err), "Failed to activate node '%s': ",
                                   node->name);
        return r;
    }
    if (node->size != size)
        node_notify_changed(node, NODE_CHANGE_SIZE);
    return 0;
}

static int coroutine_fn activate(BlockNode *node, GError **errp)
{
    int r;

    for (guint i = 0; i < node->children->len; i++) {
        BlockChild *c = g_ptr_array_index(node->children, i);
        if (!c->node->active && activate(c->node, errp) < 0)
            return -EPERM;
    }
    if (node->active)
        return 0;
    node_co_drain_begin(node);
    r = activate_drained(node, errp);
    node_drain_end(node);
    if (node->active)
        notify_active(node);
    return r;
}

/*
 * With nothing in flight (requests that come meanwhile wait, then see the
 * node inactive): the driver writes back what it caches, the node is
 * flushed, its locks dropped.
 */
static int coroutine_fn inactivate_drained(BlockNode *node, GError **errp)
{
    const BlockChild *writer = active_writer(node);
    int r = 0;

    if (writer) {
        g_autofree char *who = block_child_describe_user(writer);
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Cannot inactivate node '%s': %s still writes to it", node->name, who);
        return -EBUSY;
    }
    if (node->writable && !node->failure)
        r = drv_co_inactivate(node);
    if (r >= 0)
        r = node_co_flush_drained(node);
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
    return 0;
}

static int coroutine_fn inactivate(BlockNode *node, GError **errp)
{
    int r;

    node_co_drain_begin(node);
    r = inactivate_drained(node, errp);
    node_drain_end(node);
    if (r < 0)
        return r;
    notify_active(node);
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
    int r;

    graph_co_lock();
    r = active ? activate(node, errp) : inactivate(node, errp);
    graph_unlock();
    return r;
}

void coroutine_fn node_co_finish_failure(BlockNode *node)
{
    const BlockDriver *error_driver = block_driver_find("error");

    if (!node->failure || !node->opened || node->drv == error_driver)
        return;
    drv_co_close(node);
    g_clear_pointer(&node->opaque, g_free);
    __atomic_store_n(&node->drv, error_driver, __ATOMIC_RELEASE);     /* read by the bus */
    node->opened = true;        /* `error` needs no open and no close */
    node_notify_changed(node, NODE_CHANGE_DRIVER);
}

void node_fail(BlockNode *node, const char *fmt, ...)
{
    va_list ap;

    if (node->failure)
        return;
    va_start(ap, fmt);
    __atomic_store_n(&node->failure, g_strdup_vprintf(fmt, ap), __ATOMIC_RELEASE);
    va_end(ap);
    g_warning("Node '%s' failed: %s; it answers every request with EIO from now on",
              node->name, node->failure);
    node_notify_changed(node, NODE_CHANGE_FAILURE);
    /*
     * Not now: the driver may be in the middle of a request on this very
     * node.  The last request in flight switches it (graph/io.c).
     */
}
