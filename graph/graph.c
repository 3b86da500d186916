/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The node registry and node lifetime: lookup, listener, release of nodes
 * nobody holds, removal and shutdown.  Building nodes from specs is in
 * graph-add.c.
 */

#include "aio/loop.h"
#include "graph/bitmap.h"
#include "graph/driver-call.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/graph.h"
#include "graph/io.h"

static GHashTable *nodes_by_name;
static GQueue node_list = G_QUEUE_INIT;
static const GraphListener *listener;
static CoMutex graph_mutex;
static bool graph_mutex_ready;
static void *listener_opaque;

void coroutine_fn graph_co_lock(void)
{
    if (!graph_mutex_ready) {
        co_mutex_init(&graph_mutex);
        graph_mutex_ready = true;
    }
    co_mutex_lock(&graph_mutex);
}

void graph_unlock(void)
{
    co_mutex_unlock(&graph_mutex);
}

void graph_set_listener(const GraphListener *l, void *opaque)
{
    listener = l;
    listener_opaque = opaque;
}

static GHashTable *name_table(void)
{
    if (!nodes_by_name)
        nodes_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    return nodes_by_name;
}

BlockNode *graph_lookup(const char *name)
{
    return g_hash_table_lookup(name_table(), name);
}

guint graph_node_count(void)
{
    return g_queue_get_length(&node_list);
}

GList *graph_nodes(void)
{
    return node_list.head;
}

void graph_register(BlockNode *node)
{
    g_hash_table_insert(name_table(), node->name, node);
    g_queue_push_tail(&node_list, node);
    node->graph_link = node_list.tail;
    node->registered = true;
    if (listener && listener->node_added)
        listener->node_added(node, listener_opaque);
}

static void graph_unregister(BlockNode *node)
{
    if (!node->registered)
        return;
    if (listener && listener->node_removed)
        listener->node_removed(node, listener_opaque);
    g_hash_table_remove(name_table(), node->name);
    g_queue_delete_link(&node_list, node->graph_link);
    node->graph_link = NULL;
    node->registered = false;
}

typedef struct PostedChange {
    char *name;
    NodeChange change;
} PostedChange;

/* On the main loop: the node may have gone meanwhile (found by name). */
static void node_notify_posted(void *opaque)
{
    PostedChange *p = opaque;
    BlockNode *node = graph_lookup(p->name);

    if (node)
        node_notify_changed(node, p->change);
    g_free(p->name);
    g_free(p);
}

/* No-op for nodes not in the graph yet.  The listener (the bus) is the main loop's. */
void node_notify_changed(BlockNode *node, NodeChange change)
{
    if (!node->registered || !listener || !listener->node_changed)
        return;
    if (!aio_loop_is_main(aio_loop_self())) {
        PostedChange *p = g_new(PostedChange, 1);

        *p = (PostedChange){ g_strdup(node->name), change };
        aio_loop_call(aio_loop_main(), node_notify_posted, p);
        return;
    }
    listener->node_changed(node, change, listener_opaque);
}

void node_free(BlockNode *node)
{
    g_assert(node->parents->len == 0 && node->children->len == 0);
    g_ptr_array_unref(node->parents);
    g_ptr_array_unref(node->children);
    option_set_free(node->options);
    node_bitmaps_free(node);
    g_free(node->opaque);
    g_free(node->name);
    g_free(node->filename);
    g_free(node->backing_filename);
    g_free(node->backing_format);
    g_free(node->failure);
    g_free(node);
}

/*
 * Closes node and then every node that becomes orphaned by it, iteratively
 * so that a long backing chain does not recurse.  A parent closes before its
 * children: its close may still write to them.
 */
static void coroutine_fn graph_release(BlockNode *first)
{
    g_autoptr(GPtrArray) to_close = g_ptr_array_new();

    /* From here on the node takes no new users (node_attach refuses). */
    first->removing = true;
    g_ptr_array_add(to_close, first);
    while (to_close->len > 0) {
        BlockNode *node = g_ptr_array_steal_index(to_close, to_close->len - 1);

        /* Nobody uses the node any more: flush, then wait for what is left in flight. */
        if (node->opened && !node->failure) {
            int r = node_co_flush_node(node);
            if (r < 0)
                g_warning("Failed to flush node '%s' before closing it: %s", node->name,
                          g_strerror(-r));
        }
        node_co_drain_begin(node);
        drv_co_close(node);
        graph_unregister(node);
        while (node->children->len > 0) {
            BlockChild *c = g_ptr_array_index(node->children, node->children->len - 1);
            BlockNode *child = c->node;

            /* A child that stays must drop what this link held (write mode, locks). */
            block_child_drop(c);
            if (!child->user_owned && child->parents->len == 0) {
                child->removing = true;
                g_ptr_array_add(to_close, child);
            }
        }
        node_drain_end(node);
        node_free(node);
    }
}

void coroutine_fn graph_release_if_orphan(BlockNode *node)
{
    if (!node->user_owned && node->parents->len == 0)
        graph_release(node);
}

static char *describe_users(const BlockNode *node)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < node->parents->len; i++) {
        g_autofree char *who = block_child_describe_user(g_ptr_array_index(node->parents, i));
        g_string_append_printf(s, "%s%s", i ? ", " : "", who);
    }
    return g_string_free(s, FALSE);
}

static int coroutine_fn remove_node(const char *name, GError **errp)
{
    BlockNode *node = graph_lookup(name);

    if (!node) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known", name);
        return -ENOENT;
    }
    if (!node->user_owned) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Node '%s' was not added by AddNode: it goes away with its users", name);
        return -EINVAL;
    }
    if (node->parents->len > 0) {
        g_autofree char *users = describe_users(node);
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "Node '%s' is in use by %s", name, users);
        return -EBUSY;
    }
    node->user_owned = false;
    graph_release(node);
    return 0;
}

int coroutine_fn graph_co_remove_node(const char *name, GError **errp)
{
    int r;

    graph_co_lock();
    r = remove_node(name, errp);
    graph_unlock();
    return r;
}

void coroutine_fn graph_co_close_all(void)
{
    bool progress = true;

    /* Roots first; whatever they held is released with them. */
    while (progress && node_list.head) {
        progress = false;
        for (GList *l = node_list.head; l;) {
            BlockNode *node = l->data;
            l = l->next;
            if (node->parents->len == 0) {
                node->user_owned = false;
                graph_release(node);
                progress = true;
                break;      /* the list may have lost more than this node */
            }
        }
    }
    for (GList *l = node_list.head; l; l = l->next)
        g_warning("Node '%s' is still in use at shutdown", ((BlockNode *)l->data)->name);
}
