/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reopen: new options and child links for several nodes in one transaction
 * (QEMU's blockdev-reopen).  Every node is drained; new options are parsed
 * and checked against the driver tables (an omitted option means its
 * default, immutable options must not change); child links are re-pointed
 * first and permissions checked on the final state only, so that swapping
 * two nodes' children works; then everything commits or everything aborts.
 */

#include <errno.h>

#include "graph/driver-call.h"
#include "graph/iothread.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "graph/transaction.h"

typedef struct ReopenEntry {
    BlockNode *node;
    const BlockdevSpec *spec;
    OptionSet *new_opts;
    void *drv_state;            /* from drv_co_reopen_prepare */
    bool was_writable;
} ReopenEntry;

typedef struct ReopenQueue {
    GPtrArray *entries;         /* ReopenEntry* */
    GPtrArray *drained;         /* BlockNode* drained by us */
    GPtrArray *released;        /* BlockNode* that lost a link: maybe orphans after commit */
} ReopenQueue;

static void reopen_entry_free(gpointer p)
{
    ReopenEntry *e = p;

    option_set_free(e->new_opts);
    g_free(e);
}

static ReopenEntry *queue_find(ReopenQueue *q, const BlockNode *node)
{
    for (guint i = 0; i < q->entries->len; i++) {
        ReopenEntry *e = g_ptr_array_index(q->entries, i);
        if (e->node == node)
            return e;
    }
    return NULL;
}

static BlockNode *lookup_live(const char *name, const char *what, GError **errp)
{
    BlockNode *node = graph_lookup(name);

    if (!node || node->removing) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "%s '%s' does not exist%s", what, name,
                    node ? " any more: it is being removed" : "");
        return NULL;
    }
    return node;
}

static bool queue_add(ReopenQueue *q, BlockNode *node, const BlockdevSpec *spec, GError **errp);

/* Immutable options keep their value; omitted mutable ones go back to their default. */
static bool check_immutable(const BlockNode *node, const OptionSet *new_opts, GError **errp)
{
    for (guint i = 0; i < option_set_count(new_opts); i++) {
        const OptionValue *nv = option_set_nth(new_opts, i);
        const OptionValue *ov = option_set_lookup(node->options, nv->spec->name);

        if (block_driver_option_mutable(node->drv, nv->spec) ||
            g_str_equal(nv->spec->name, "node-name"))
            continue;
        if (g_strcmp0(nv->text, ov ? ov->text : NULL) == 0)
            continue;
        if (nv->spec->mutable_on_reopen)
            g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                        "Driver '%s' cannot change option '%s' of node '%s' at run time",
                        node->drv->name, nv->spec->name, node->name);
        else if (nv->is_default || !nv->is_set)
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Option '%s' cannot be reset to its default value (node '%s')",
                        nv->spec->name, node->name);
        else
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Cannot change the option '%s' (node '%s')", nv->spec->name, node->name);
        return false;
    }
    return true;
}

static bool check_children(ReopenQueue *q, BlockNode *node, const BlockdevSpec *spec,
                           GError **errp)
{
    for (guint i = 0; i < spec->children->len; i++) {
        const ChildSpec *cs = g_ptr_array_index(spec->children, i);
        BlockChild *cur = node_find_child(node, cs->role);
        const char *inline_name;

        if (!child_spec_check_role(node->drv, spec, cs, node->name, errp))
            return false;
        if (cs->kind != CHILD_SPEC_INLINE)
            continue;
        /* Inline attributes reopen the current child; reopen creates no nodes. */
        inline_name = blockdev_spec_get(cs->inline_spec, "node-name");
        if (!cur || (inline_name && !g_str_equal(inline_name, cur->node->name))) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Reopen cannot create nodes: the inline '%s' child of node '%s' must "
                        "describe its current child%s%s", cs->role, node->name,
                        cur ? " " : "", cur ? cur->node->name : "");
            return false;
        }
        child_spec_apply_inherited_defaults(cs);
        if (!queue_add(q, cur->node, cs->inline_spec, errp))
            return false;
    }
    if (!blockdev_spec_find_child(spec, "backing") && node->drv->supports_backing &&
        (node->backing || node->backing_filename)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "backing is missing for '%s': give <backing ref=\"…\"/> to keep or replace "
                    "it, or <backing/> to detach it", node->name);
        return false;
    }
    return true;
}

static bool queue_add(ReopenQueue *q, BlockNode *node, const BlockdevSpec *spec, GError **errp)
{
    const char *driver = blockdev_spec_get(spec, "driver");
    g_autofree char *what = g_strdup_printf("node '%s' (driver '%s')", node->name,
                                            node->drv->name);
    const OptionSpec *const tables[] = { node_common_options, node->drv->options, NULL };
    ReopenEntry *e;

    if (queue_find(q, node)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Node '%s' is reopened more than once in one call", node->name);
        return false;
    }
    if (driver && !g_str_equal(driver, node->drv->name)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Cannot change the driver of node '%s' from '%s' to '%s'", node->name,
                    node->drv->name, driver);
        return false;
    }
    if (!node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE, "Node '%s' is inactive", node->name);
        return false;
    }
    e = g_new0(ReopenEntry, 1);
    e->node = node;
    e->spec = spec;
    e->was_writable = node->writable;
    g_ptr_array_add(q->entries, e);
    /* The snippet may leave driver and node-name out: they cannot change anyway. */
    g_autoptr(GHashTable) raw = g_hash_table_new(g_str_hash, g_str_equal);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, spec->options);
    while (g_hash_table_iter_next(&it, &k, &v))
        g_hash_table_insert(raw, k, v);
    g_hash_table_insert(raw, "driver", (gpointer)node->drv->name);
    g_hash_table_insert(raw, "node-name", node->name);
    e->new_opts = option_set_parse(tables, raw, what, errp);
    return e->new_opts && check_immutable(node, e->new_opts, errp) &&
           check_children(q, node, spec, errp);
}


/* A detached link is out of the graph at once (so the final refresh does not see it). */
typedef struct DetachUndo {
    BlockChild *c;
    guint index;                /* in the parent's children: GetXML order comes back too */
} DetachUndo;

static void detach_abort(void *opaque)
{
    DetachUndo *u = opaque;

    block_child_put_back(u->c, u->index);
}

static void detach_commit(void *opaque)
{
    DetachUndo *u = opaque;

    block_child_destroy(u->c);
}

static const TransactionActions detach_actions = { .commit = detach_commit,
                                                   .abort = detach_abort, .clean = g_free };

static void new_link_abort(void *opaque)
{
    block_child_unlink(opaque);
}

static const TransactionActions new_link_actions = { .abort = new_link_abort };

static bool change_link(ReopenQueue *q, BlockNode *node, const ChildSpec *cs, Transaction *tran,
                        GError **errp)
{
    BlockChild *cur = node_find_child(node, cs->role);
    BlockNode *target = NULL;

    if (cs->kind == CHILD_SPEC_INLINE)
        return true;
    if (cs->kind == CHILD_SPEC_REF) {
        target = lookup_live(cs->ref, "Node", errp);
        if (!target)
            return false;
        if (cur && cur->node == target)
            return true;
    } else if (!cur) {
        return true;                /* <backing/> and there is none */
    }
    if (cur && cur->frozen) {
        g_set_error(errp, BG_ERROR, BG_ERROR_FROZEN,
                    "Cannot change the '%s' link of node '%s': job '%s' relies on it",
                    cs->role, node->name, cur->frozen_by ? cur->frozen_by : "?");
        return false;
    }
    if (!g_str_equal(cs->role, "file") && !g_str_equal(cs->role, "backing")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Cannot change the '%s' child of node '%s'", cs->role, node->name);
        return false;
    }
    if (cur) {
        g_ptr_array_add(q->released, cur->node);
        /* Drop what it held first: permissions are checked on the final graph. */
        if (!perm_update_link_in(cur, 0, BLOCK_PERM_ALL, tran, errp))
            return false;
    }
    if (!target) {
        DetachUndo *u = g_new(DetachUndo, 1);
        guint index = 0;

        g_ptr_array_find(node->children, cur, &index);
        *u = (DetachUndo){ cur, index };
        block_child_take_out(cur);
        tran_add(tran, &detach_actions, u);
        return true;
    }
    if (!graph_check_link_acyclic(node, target, cs->role, NULL, errp) ||
        !node_check_same_loop(node, target, cs->role, errp))
        return false;
    if (cur) {
        block_child_move_in(cur, target, tran);
        return true;
    }
    /* A new link, with no permissions yet: the final refresh gives them. */
    tran_add(tran, &new_link_actions, block_child_link(node, target, cs->role));
    return true;
}

/* read-only / auto-read-only: decide the open mode the new options ask for. */
typedef struct ReadOnlyUndo {
    BlockNode *node;
    bool read_only, auto_read_only;
} ReadOnlyUndo;

static void read_only_abort(void *opaque)
{
    ReadOnlyUndo *u = opaque;

    u->node->read_only = u->read_only;
    u->node->auto_read_only = u->auto_read_only;
}

static const TransactionActions read_only_actions = { .abort = read_only_abort, .clean = g_free };

static bool stage_read_only(ReopenEntry *e, Transaction *tran, GError **errp)
{
    BlockNode *node = e->node;
    ReadOnlyUndo *u = g_new(ReadOnlyUndo, 1);
    g_autoptr(GError) err = NULL;
    bool want;

    *u = (ReadOnlyUndo){ node, node->read_only, node->auto_read_only };
    tran_add(tran, &read_only_actions, u);
    node->read_only = option_set_get_bool(e->new_opts, "read-only");
    node->auto_read_only = option_set_get_bool(e->new_opts, "auto-read-only");
    if (node->read_only)
        want = false;
    else if (node_is_dynamic_read_only(node))
        want = perm_first_writer(node) != NULL;
    else
        want = true;
    if (want == node->writable)
        return true;
    if (want && !node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE, "Node '%s' is inactive", node->name);
        return false;
    }
    if (!want && perm_first_writer(node) != NULL)
        return true;    /* the permission refresh names the writer */
    if (perm_set_writable(node, want, tran, &err))
        return true;
    if (want && node->auto_read_only)
        return true;    /* fallback: stays read-only */
    g_propagate_error(errp, g_steal_pointer(&err));
    return false;
}

/* The new options take effect: the driver's staged state, then the node's. */
static void commit_entry(void *opaque)
{
    ReopenEntry *e = opaque;
    BlockNode *node = e->node;

    drv_reopen_commit(node, e->drv_state);
    option_set_free(node->options);
    node->options = g_steal_pointer(&e->new_opts);
    node_apply_common_options(node);
    node_refresh_filename(node);
    node_notify_changed(node, NODE_CHANGE_READ_ONLY);
    node_notify_changed(node, NODE_CHANGE_AUTO_READ_ONLY);
    node_notify_changed(node, NODE_CHANGE_SIZE);
}

static void abort_entry(void *opaque)
{
    ReopenEntry *e = opaque;

    drv_reopen_abort(e->node, e->drv_state);
}

/* The entry belongs to the queue: the transaction does not free it. */
static const TransactionActions entry_actions = { .commit = commit_entry, .abort = abort_entry };

/* An error about one snippet names its place, as AddNode's do ("<bus>[1] line 1: ..."). */
static bool spec_failed(const BlockdevSpec *spec, GError **errp)
{
    if (spec->line > 0)
        bg_error_prefix_location(errp, spec->source, spec->line);
    return false;
}

static bool coroutine_fn prepare_driver(ReopenEntry *e, Transaction *tran, GError **errp)
{
    /* check_immutable refused every change a driver without reopen_prepare cannot make. */
    if (drv_co_reopen_prepare(e->node, e->new_opts, &e->drv_state, errp) < 0)
        return false;
    tran_add(tran, &entry_actions, e);
    return true;
}

static bool coroutine_fn reopen_prepare_all(ReopenQueue *q, Transaction *tran, GError **errp)
{
    for (guint i = 0; i < q->entries->len; i++) {
        ReopenEntry *e = g_ptr_array_index(q->entries, i);
        for (guint j = 0; j < e->spec->children->len; j++)
            if (!change_link(q, e->node, g_ptr_array_index(e->spec->children, j), tran, errp))
                return spec_failed(e->spec, errp);
    }
    for (guint i = 0; i < q->entries->len; i++)
        if (!stage_read_only(g_ptr_array_index(q->entries, i), tran, errp))
            return false;
    /* A node that became writable needs storage that can be written (final modes). */
    for (guint i = 0; i < q->entries->len; i++) {
        ReopenEntry *e = g_ptr_array_index(q->entries, i);
        if (e->node->writable && !e->was_writable && !perm_children_can_write(e->node, errp))
            return false;
    }
    for (guint i = 0; i < q->entries->len; i++) {
        ReopenEntry *e = g_ptr_array_index(q->entries, i);
        if (!prepare_driver(e, tran, errp))
            return spec_failed(e->spec, errp);
    }
    /* Permissions on the final graph, top-down from every reopened node. */
    for (guint i = 0; i < q->entries->len; i++) {
        ReopenEntry *e = g_ptr_array_index(q->entries, i);
        if (!perm_refresh_node_in(e->node, tran, errp))
            return false;
    }
    return true;
}

static bool build_queue(ReopenQueue *q, GPtrArray *specs, GError **errp)
{
    for (guint i = 0; i < specs->len; i++) {
        const BlockdevSpec *spec = g_ptr_array_index(specs, i);
        const char *name = blockdev_spec_get(spec, "node-name");
        BlockNode *node;

        if (!name) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "A reopen snippet needs the node-name of the node to reopen");
            return spec_failed(spec, errp);
        }
        node = lookup_live(name, "Node", errp);
        if (!node || !queue_add(q, node, spec, errp))
            return spec_failed(spec, errp);
    }
    return true;
}

/*
 * Releases the nodes that lost their last link.  The orphans are picked
 * before any is released: a node can be listed twice, and releasing one
 * node may free another listed one (its child), so the list is not read
 * again afterwards.  An orphan has no parent, so releasing one never frees
 * another orphan.
 */
static void coroutine_fn release_orphans(GPtrArray *released)
{
    g_autoptr(GPtrArray) orphans = g_ptr_array_new();

    for (guint i = 0; i < released->len; i++) {
        BlockNode *node = g_ptr_array_index(released, i);
        if (!node->user_owned && node->parents->len == 0 &&
            !g_ptr_array_find(orphans, node, NULL))
            g_ptr_array_add(orphans, node);
    }
    for (guint i = 0; i < orphans->len; i++)
        graph_release_if_orphan(g_ptr_array_index(orphans, i));
}

/* Runs the reopen of what specs describe; the caller holds the graph lock. */
static int coroutine_fn reopen_locked(GPtrArray *specs, GError **errp)
{
    ReopenQueue q = {
        .entries = g_ptr_array_new_with_free_func(reopen_entry_free),
        .drained = g_ptr_array_new(),
        .released = g_ptr_array_new(),
    };
    Transaction *tran;
    bool ok;

    ok = build_queue(&q, specs, errp);
    if (ok) {
        for (guint i = 0; i < q.entries->len; i++) {
            BlockNode *node = ((ReopenEntry *)g_ptr_array_index(q.entries, i))->node;
            node_co_drain_begin(node);
            g_ptr_array_add(q.drained, node);
        }
        tran = tran_new();
        ok = tran_finish(tran, reopen_prepare_all(&q, tran, errp));
        for (guint i = 0; i < q.drained->len; i++)
            node_drain_end(g_ptr_array_index(q.drained, i));
        if (ok)
            release_orphans(q.released);
    }
    g_ptr_array_unref(q.entries);
    g_ptr_array_unref(q.drained);
    g_ptr_array_unref(q.released);
    return ok ? 0 : -EINVAL;
}

int coroutine_fn graph_co_reopen(GPtrArray *specs, GError **errp)
{
    int r;

    graph_co_lock();
    r = reopen_locked(specs, errp);
    graph_unlock();
    return r;
}

/* A reopen snippet for node as it is: the options given, every link by ref. */
static BlockdevSpec *spec_of_node(const BlockNode *node)
{
    BlockdevSpec *spec = blockdev_spec_new();

    for (guint i = 0; i < option_set_count(node->options); i++) {
        const OptionValue *v = option_set_nth(node->options, i);
        if (v->is_set && !v->is_default && v->text)
            blockdev_spec_set(spec, v->spec->name, v->text);
    }
    blockdev_spec_set(spec, "node-name", node->name);
    for (guint i = 0; i < node->children->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->children, i);
        blockdev_spec_add_child(spec, c->role, CHILD_SPEC_REF)->ref = g_strdup(c->node->name);
    }
    if (!node->backing && node->drv->supports_backing)
        blockdev_spec_add_child(spec, "backing", CHILD_SPEC_NONE);
    return spec;
}

int coroutine_fn graph_co_set_read_only_locked(BlockNode *node, bool read_only, GError **errp)
{
    g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func((GDestroyNotify)blockdev_spec_free);
    BlockdevSpec *spec = spec_of_node(node);

    blockdev_spec_set(spec, "read-only", read_only ? "on" : "off");
    g_ptr_array_add(specs, spec);
    return reopen_locked(specs, errp);
}

int coroutine_fn graph_co_set_read_only(BlockNode *node, bool read_only, GError **errp)
{
    int r;

    graph_co_lock();
    r = graph_co_set_read_only_locked(node, read_only, errp);
    graph_unlock();
    return r;
}
