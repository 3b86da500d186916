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
    for (guint i = 0; e->bitmaps && e->bitmaps[i]; i++)
        bitmap_set_busy(e->bitmaps[i], false);
    g_clear_pointer(&e->bitmaps, g_free);
    g_clear_pointer(&e->bitmap_names, g_strfreev);
}
