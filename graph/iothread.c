/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/iothread.h"

#include "graph/error.h"
#include "graph/driver.h"
#include "graph/graph.h"
#include "graph/io.h"
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

/* ---- moving a subtree to another loop (jobs across two loops) ---- */

static bool loop_move_refuse(GError **errp, const BlockNode *node, const char *why)
{
    g_autofree char *where = node_loop_describe(node);

    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Node '%s' cannot leave %s: %s", node->name, where, why);
    return false;
}

/* What ties one node of the subtree to its loop (set: the subtree's nodes). */
static bool node_loop_free(const BlockNode *node, AioLoop *to, GPtrArray *set,
                           const char *user, GError **errp)
{
    const char *bound = option_set_get_string(node->options, "iothread");
    g_autofree char *why = NULL;

    if (bound)
        why = g_strdup_printf("it is bound to iothread '%s' (its iothread option)", bound);
    else if (to != aio_loop_main() && !node->drv->runs_in_iothread)
        why = g_strdup_printf("driver '%s' cannot run in an iothread", node->drv->name);
    else if (node->drv->stays_in_loop)
        why = g_strdup_printf("driver '%s' keeps state of its loop", node->drv->name);
    for (guint i = 0; !why && i < node->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->parents, i);

        if (c->user_kind == BLOCK_USER_NODE && !g_ptr_array_find(set, c->parent, NULL))
            why = g_strdup_printf("node '%s' links it as its '%s' child", c->parent->name,
                                  c->role);
        else if (c->user_kind == BLOCK_USER_EXPORT)
            why = g_strdup_printf("export '%s' serves it", c->user_name);
        else if (c->user_kind == BLOCK_USER_JOB && g_strcmp0(c->user_name, user) != 0)
            why = g_strdup_printf("job '%s' works on it", c->user_name);
        else if (c->user_kind == BLOCK_USER_INTERNAL)
            why = g_strdup_printf("'%s' uses it", c->user_name);
    }
    return !why || loop_move_refuse(errp, node, why);
}

/* node and the nodes below it, parents first. */
static void node_subtree(BlockNode *node, GPtrArray *set)
{
    if (g_ptr_array_find(set, node, NULL))
        return;
    g_ptr_array_add(set, node);
    for (guint i = 0; i < node->children->len; i++)
        node_subtree(((BlockChild *)g_ptr_array_index(node->children, i))->node, set);
}

bool node_loop_can_move(BlockNode *node, AioLoop *to, const char *user, GError **errp)
{
    g_autoptr(GPtrArray) set = g_ptr_array_new();

    node_subtree(node, set);
    for (guint i = 0; i < set->len; i++) {
        if (!node_loop_free(set->pdata[i], to, set, user, errp))
            return false;
    }
    return true;
}

bool coroutine_fn node_co_move_loop(BlockNode *node, AioLoop *to, const char *user,
                                    GError **errp)
{
    g_autoptr(GPtrArray) set = g_ptr_array_new();
    bool ok;

    node_subtree(node, set);
    for (guint i = 0; i < set->len; i++)
        node_co_drain_begin(set->pdata[i]);
    ok = node_loop_can_move(node, to, user, errp);      /* again: the drains yielded */
    for (guint i = 0; ok && i < set->len; i++)
        ((BlockNode *)set->pdata[i])->loop = aio_loop_is_main(to) ? NULL : to;
    for (guint i = set->len; i-- > 0;)
        node_drain_end(set->pdata[i]);
    if (ok)
        g_message("Node '%s' and the %u nodes below it moved to %s for %s", node->name,
                  set->len - 1, aio_loop_is_main(to) ? "the main loop" : aio_loop_name(to), user);
    return ok;
}
