/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The bitmap verbs (Node.AddBitmap ..., and the <bitmap-*> actions of
 * Manager.Transaction): each checks, changes the bitmap at once and
 * records in tran how to undo the change, so several verbs apply all or
 * nothing.  No I/O: a persistent bitmap reaches the image when the driver
 * stores its bitmaps (close, inactivation, reopen read-only).
 */

#include <string.h>

#include "graph/bitmap-action.h"
#include "graph/error.h"
#include "graph/graph.h"

/* ---- undo records -------------------------------------------------------- */

typedef struct BitmapUndo {
    DirtyBitmap *bm;
    uint64_t *words;            /* the bits before (clear, merge) */
    uint64_t n_set;
    bool disabled;
    GList *link_pos;            /* remove: the bitmap that followed it */
    bool removed;               /* remove: bm is out of the node's list */
    bool added;                 /* add: bm is new */
} BitmapUndo;

static void undo_abort(void *opaque)
{
    BitmapUndo *u = opaque;
    BlockNode *node = u->bm->node;

    if (u->added) {
        bitmap_release(g_steal_pointer(&u->bm));
        return;
    }
    if (u->removed) {
        GList *pos = u->link_pos ? g_list_find(node->bitmaps, u->link_pos) : NULL;
        node->bitmaps = g_list_insert_before(node->bitmaps, pos, u->bm);
        u->removed = false;
    }
    if (u->words) {
        memcpy(u->bm->words, u->words, (u->bm->n_bits + 63) / 64 * sizeof(uint64_t));
        u->bm->n_set = u->n_set;
    }
    u->bm->disabled = u->disabled;
    node_bitmaps_changed(node);
}

static void undo_clean(void *opaque)
{
    BitmapUndo *u = opaque;

    if (u->removed)
        bitmap_free(u->bm);     /* committed: the bitmap is gone for good */
    g_free(u->words);
    g_free(u);
}

static const TransactionActions bitmap_undo_actions = {
    .abort = undo_abort,
    .clean = undo_clean,
};

/* Records bm's state before a change; with_bits: its bits too. */
static BitmapUndo *undo_record(Transaction *tran, DirtyBitmap *bm, bool with_bits)
{
    BitmapUndo *u = g_new0(BitmapUndo, 1);

    u->bm = bm;
    u->disabled = bm->disabled;
    if (with_bits) {
        u->words = g_memdup2(bm->words, MAX((bm->n_bits + 63) / 64, 1) * sizeof(uint64_t));
        u->n_set = bm->n_set;
    }
    tran_add(tran, &bitmap_undo_actions, u);
    return u;
}

/* ---- verbs --------------------------------------------------------------- */

static bool check_persistable(BlockNode *node, const char *name, uint32_t granularity,
                              GError **errp)
{
    if (!node->drv->can_store_bitmap) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Cannot add persistent bitmap '%s': driver '%s' of node '%s' cannot store "
                    "bitmaps (qcow2 can)", name, node->drv->name, node->name);
        return false;
    }
    return node->drv->can_store_bitmap(node, name, granularity, errp);
}

bool node_bitmap_add(BlockNode *node, const char *name, uint32_t granularity, bool persistent,
                     bool disabled, Transaction *tran, GError **errp)
{
    if (!bitmap_check_new(node, name, granularity, errp))
        return false;
    if (persistent && !check_persistable(node, name, granularity ? granularity
                                                                 : BITMAP_DEFAULT_GRANULARITY,
                                         errp))
        return false;
    DirtyBitmap *bm = bitmap_create(node, name, granularity, errp);
    if (!bm)
        return false;
    bm->persistent = persistent;
    bm->disabled = disabled;
    undo_record(tran, bm, false)->added = true;
    return true;
}

bool node_bitmap_remove(BlockNode *node, const char *name, Transaction *tran, GError **errp)
{
    DirtyBitmap *bm = bitmap_lookup(node, name, errp);

    if (!bm)
        return false;
    if (bm->busy) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Cannot remove bitmap '%s' of node '%s': it is in use by a job or an export",
                    name, node->name);
        return false;
    }
    if (bm->persistent && !node_takes_writes(node)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Cannot remove persistent bitmap '%s': node '%s' is read-only", name,
                    node->name);
        return false;
    }
    BitmapUndo *u = undo_record(tran, bm, false);
    GList *link = g_list_find(node->bitmaps, bm);
    u->link_pos = link->next ? link->next->data : NULL;
    node->bitmaps = g_list_delete_link(node->bitmaps, link);
    u->removed = true;
    node_bitmaps_changed(node);
    return true;
}

bool node_bitmap_clear(BlockNode *node, const char *name, Transaction *tran, GError **errp)
{
    DirtyBitmap *bm = bitmap_lookup(node, name, errp);

    if (!bm || !bitmap_check_modifiable(bm, "clear", errp))
        return false;
    undo_record(tran, bm, true);
    bitmap_clear(bm);
    node_bitmaps_changed(node);
    return true;
}

bool node_bitmap_enable(BlockNode *node, const char *name, bool enable, Transaction *tran,
                        GError **errp)
{
    DirtyBitmap *bm = bitmap_lookup(node, name, errp);

    if (!bm || !bitmap_check_modifiable(bm, enable ? "enable" : "disable", errp))
        return false;
    undo_record(tran, bm, false);
    bm->disabled = !enable;
    node_bitmaps_changed(node);
    return true;
}

bool node_bitmap_merge(BlockNode *node, const char *target, const char *const *sources,
                       Transaction *tran, GError **errp)
{
    DirtyBitmap *dst = bitmap_lookup(node, target, errp);

    if (!dst || !bitmap_check_modifiable(dst, "merge into", errp))
        return false;
    for (const char *const *s = sources; *s; s++) {
        DirtyBitmap *src = bitmap_lookup(node, *s, errp);
        if (!src)
            return false;
        if (src->inconsistent) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                        "Cannot merge bitmap '%s' of node '%s': it is inconsistent", *s,
                        node->name);
            return false;
        }
    }
    undo_record(tran, dst, true);
    for (const char *const *s = sources; *s; s++)
        bitmap_merge_into(dst, bitmap_find(node, *s));
    node_bitmaps_changed(node);
    return true;
}

/* ---- transaction actions ------------------------------------------------- */

static const char *const action_names[] = {
    [BITMAP_ACTION_ADD] = "bitmap-add",
    [BITMAP_ACTION_REMOVE] = "bitmap-remove",
    [BITMAP_ACTION_CLEAR] = "bitmap-clear",
    [BITMAP_ACTION_ENABLE] = "bitmap-enable",
    [BITMAP_ACTION_DISABLE] = "bitmap-disable",
    [BITMAP_ACTION_MERGE] = "bitmap-merge",
};

const char *bitmap_action_kind_name(BitmapActionKind kind)
{
    return action_names[kind];
}

void bitmap_action_spec_free(BitmapActionSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->node_name);
    g_free(spec->name);
    g_strfreev(spec->sources);
    g_free(spec);
}

bool bitmap_action_apply(const BitmapActionSpec *spec, Transaction *tran, GError **errp)
{
    BlockNode *node = graph_lookup(spec->node_name);

    if (!node) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known (<%s>)",
                    spec->node_name, bitmap_action_kind_name(spec->kind));
        return false;
    }
    switch (spec->kind) {
    case BITMAP_ACTION_ADD:
        return node_bitmap_add(node, spec->name, spec->granularity, spec->persistent,
                               spec->disabled, tran, errp);
    case BITMAP_ACTION_REMOVE:
        return node_bitmap_remove(node, spec->name, tran, errp);
    case BITMAP_ACTION_CLEAR:
        return node_bitmap_clear(node, spec->name, tran, errp);
    case BITMAP_ACTION_ENABLE:
    case BITMAP_ACTION_DISABLE:
        return node_bitmap_enable(node, spec->name, spec->kind == BITMAP_ACTION_ENABLE, tran,
                                  errp);
    case BITMAP_ACTION_MERGE:
        return node_bitmap_merge(node, spec->name, (const char *const *)spec->sources, tran,
                                 errp);
    }
    return false;
}
