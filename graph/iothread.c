/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/iothread.h"

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/node.h"

AioLoop *iothread_add(const char *id, GError **errp)
{
    if (!node_name_is_valid(id)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Invalid iothread id '%s': it must start with a letter and hold only "
                    "letters, digits, '-', '.' and '_'", id);
        return NULL;
    }
    if (aio_iothread_find(id)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "An iothread '%s' exists already", id);
        return NULL;
    }
    g_autoptr(GError) err = NULL;
    AioLoop *l = aio_iothread_start(id, &err);
    if (!l) {
        g_set_error_literal(errp, BG_ERROR, BG_ERROR_IO_ERROR, err->message);
        return NULL;
    }
    g_message("Iothread '%s' started", id);
    return l;
}

static BlockNode *iothread_first_user(AioLoop *l)
{
    for (GList *n = graph_nodes(); n; n = n->next) {
        BlockNode *node = n->data;

        if (node->loop == l)
            return node;
    }
    return NULL;
}

bool iothread_remove(const char *id, GError **errp)
{
    AioLoop *l = iothread_lookup(id, "RemoveIOThread", errp);
    BlockNode *user;

    if (!l)
        return false;
    user = iothread_first_user(l);
    if (user) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Iothread '%s' is in use: node '%s' is bound to it", id, user->name);
        return false;
    }
    aio_iothread_stop(l);
    g_message("Iothread '%s' stopped", id);
    return true;
}

AioLoop *iothread_lookup(const char *id, const char *what, GError **errp)
{
    AioLoop *l = aio_iothread_find(id);

    if (!l)
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "%s: no iothread '%s' known", what, id);
    return l;
}

char **iothread_ids(void)
{
    const GPtrArray *all = aio_iothreads();
    char **ids = g_new0(char *, all->len + 1);

    for (guint i = 0; i < all->len; i++)
        ids[i] = g_strdup(aio_loop_name(all->pdata[i]));
    return ids;
}

AioLoop *node_loop(const BlockNode *node)
{
    return node->loop ? node->loop : aio_loop_main();
}

char *node_loop_describe(const BlockNode *node)
{
    return node->loop ? g_strdup_printf("iothread '%s'", aio_loop_name(node->loop))
                      : g_strdup("the main loop");
}

bool node_check_same_loop(const BlockNode *parent, const BlockNode *child, const char *role,
                          GError **errp)
{
    g_autofree char *p = NULL, *c = NULL;

    if (node_loop(parent) == node_loop(child))
        return true;
    p = node_loop_describe(parent);
    c = node_loop_describe(child);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Node '%s' runs in %s but its '%s' child '%s' runs in %s: a node and its "
                "subtree belong to one loop", parent->name, p, role, child->name, c);
    return false;
}
