/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replacing a node by another for its users, the pivot of active commit
 * (and of mirror): the links to `from` move to `to` as one transaction,
 * with `from` drained so that no request is lost on the way.
 */

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/graph-internal.h"
#include "graph/io.h"

/* What the users are told once the move holds. */
typedef struct MovedLink {
    BlockChild *c;
    BlockNode *from;
} MovedLink;

static void moved_link_commit(void *opaque)
{
    MovedLink *u = opaque;
    BlockChild *c = u->c;

    node_notify_changed(u->from, NODE_CHANGE_USERS);
    node_notify_changed(c->node, NODE_CHANGE_USERS);
    if (c->parent) {
        node_notify_changed(c->parent, NODE_CHANGE_CHILDREN);
        if (c->parent->file == c)
            node_refresh_filename(c->parent);
    }
    if (c->moved)
        c->moved(c, u->from);
}

static const TransactionActions moved_link_actions = { .commit = moved_link_commit, .clean = g_free };

/*
 * The links that move: not the ones the caller keeps, and not those of
 * `to` itself or of a node below it, which would close a cycle (a mirror
 * target backed by its source keeps that link, as in QEMU).
 */
static bool collect_links(BlockNode *from, BlockNode *to, GraphKeepLink keep, void *opaque,
                          GPtrArray *links, GError **errp)
{
    for (guint i = 0; i < from->parents->len; i++) {
        BlockChild *c = g_ptr_array_index(from->parents, i);

        if ((keep && keep(c, opaque)) ||
            (c->parent && !graph_check_link_acyclic(c->parent, to, c->role, NULL, NULL)))
            continue;
        if (c->frozen) {
            g_autofree char *who = block_child_describe_user(c);
            g_set_error(errp, BG_ERROR, BG_ERROR_FROZEN,
                        "Cannot replace node '%s' by node '%s' for %s: job '%s' relies on "
                        "that link", from->name, to->name, who, c->frozen_by ? c->frozen_by : "?");
            return false;
        }
        if (c->parent && !perm_child_can_write(c->parent, to, c->role, errp))
            return false;
        g_ptr_array_add(links, c);
    }
    return true;
}

static bool move_links(BlockNode *from, BlockNode *to, GPtrArray *links, GError **errp)
{
    Transaction *tran = tran_new();
    bool ok = true;

    for (guint i = 0; i < links->len; i++) {
        MovedLink *u = g_new(MovedLink, 1);

        *u = (MovedLink){ g_ptr_array_index(links, i), from };
        block_child_move_in(u->c, to, tran);
        tran_add(tran, &moved_link_actions, u);
    }
    for (guint i = 0; ok && i < links->len; i++)
        ok = perm_check_link(g_ptr_array_index(links, i), errp);
    ok = ok && perm_refresh_node_in(to, tran, errp) && perm_refresh_node_in(from, tran, errp);
    return tran_finish(tran, ok);
}

int coroutine_fn graph_co_replace_node(BlockNode *from, BlockNode *to, GraphKeepLink keep,
                                       void *opaque, GError **errp)
{
    g_autoptr(GPtrArray) links = g_ptr_array_new();
    bool ok;

    if (from == to) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Cannot replace node '%s' by itself", from->name);
        return -EINVAL;
    }
    node_co_drain_begin(from);
    graph_co_lock();
    ok = collect_links(from, to, keep, opaque, links, errp) && move_links(from, to, links, errp);
    graph_unlock();
    node_drain_end(from);   /* requests held back go to `to` now (graph/io.c) */
    return ok ? 0 : -EPERM;
}
