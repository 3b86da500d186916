/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dirty bitmaps an export offers as qemu:dirty-bitmap:<name> (see export.h). */

#include "exports/export.h"
#include "graph/bitmap.h"
#include "graph/error.h"

/* The bitmap on node or, as QEMU looks, on a node down its backing chain. */
static DirtyBitmap *find_below(BlockNode *node, const char *name)
{
    for (; node; node = node->backing ? node->backing->node : NULL) {
        DirtyBitmap *bm = bitmap_find(node, name);
        if (bm)
            return bm;
    }
    return NULL;
}

static bool check_one(const Export *e, BlockNode *node, const char *name, DirtyBitmap *bm,
                      GError **errp)
{
    if (!bm) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND,
                    "Export '%s': node '%s' and its backing chain have no bitmap '%s'",
                    e->id, node->name, name);
        return false;
    }
    if (bm->inconsistent) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                    "Export '%s': bitmap '%s' of node '%s' is inconsistent", e->id, name,
                    bm->node->name);
        return false;
    }
    return true;
}

bool export_bitmaps_resolve(Export *e, BlockNode *node, const char *const *names,
                            GError **errp)
{
    guint n = names ? g_strv_length((char **)names) : 0;

    if (n > NBD_MAX_EXPORT_BITMAPS) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Export '%s' offers %u bitmaps; at most %d", e->id, n,
                    NBD_MAX_EXPORT_BITMAPS);
        return false;
    }
    g_autofree DirtyBitmap **found = g_new0(DirtyBitmap *, n + 1);
    for (guint i = 0; i < n; i++) {
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(names[i], names[j])) {
                g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                            "Export '%s' names bitmap '%s' twice", e->id, names[i]);
                return false;
            }
        }
        found[i] = find_below(node, names[i]);
        if (!check_one(e, node, names[i], found[i], errp))
            return false;
    }
    for (guint i = 0; i < n; i++)
        bitmap_set_busy(found[i], true);
    e->bitmap_names = g_strdupv((char **)names);
    e->bitmaps = g_steal_pointer(&found);
    return true;
}

void export_bitmaps_release(Export *e)
{
    for (guint i = 0; e->bitmap_names && e->bitmap_names[i]; i++)
        if (e->bitmaps[i])
            bitmap_set_busy(e->bitmaps[i], false);
    g_clear_pointer(&e->bitmaps, g_free);
    g_clear_pointer(&e->bitmap_names, g_strfreev);
}

static void follow_one(Export *e, guint i)
{
    const char *name = e->bitmap_names[i];
    BlockNode *node = e->child->node;
    DirtyBitmap *bm = find_below(node, name);

    if (bm == e->bitmaps[i])
        return;
    if (e->bitmaps[i])
        bitmap_set_busy(e->bitmaps[i], false);
    e->bitmaps[i] = bm && !bm->inconsistent ? bm : NULL;
    if (e->bitmaps[i]) {
        bitmap_set_busy(bm, true);
        g_message("Export '%s': bitmap '%s' now comes from node '%s'", e->id, name,
                  bm->node->name);
    } else {
        g_warning("Export '%s' now serves node '%s', whose chain has no %sbitmap '%s': "
                  "qemu:dirty-bitmap:%s is offered no more; clients that selected it see "
                  "everything dirty", e->id, node->name, bm ? "consistent " : "", name, name);
    }
}

void export_bitmaps_follow(Export *e)
{
    for (guint i = 0; e->bitmap_names && e->bitmap_names[i]; i++)
        follow_one(e, i);
}

uint32_t export_bitmaps_gone(const Export *e)
{
    uint32_t mask = 0;

    for (guint i = 0; e->bitmap_names && e->bitmap_names[i]; i++)
        if (!e->bitmaps[i])
            mask |= 1u << i;
    return mask;
}
