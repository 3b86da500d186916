/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Applying the configuration folder at start: every "*.xml" file, in name
 * order, each all or nothing.
 */

#include <string.h>

#include "daemon/config-dir.h"
#include "exports/export.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "xml/config-file.h"

/* What one file added so far, to roll back on failure. */
typedef struct Applied {
    GPtrArray *nodes;       /* char* node-names, in order added */
    GPtrArray *exports;     /* char* export ids, in order added */
} Applied;

/* Makes sure an error names the file and line. */
static void prefix_location(GError **errp, const char *source, int line)
{
    if (errp && *errp && source && !strstr((*errp)->message, source)) {
        bg_error_prefix_location(errp, source, line);
    }
}

/*
 * Exports in configuration files.  The NBD server plugs in here: create the
 * export from spec and remember its id in Applied so a failure removes it.
 */
static bool coroutine_fn config_co_apply_export(const ConfigItem *item, Applied *applied,
                                                GError **errp)
{
    Export *e = export_add_from_spec(item->export, errp);

    if (!e) {
        return false;
    }
    g_ptr_array_add(applied->exports, g_strdup(e->id));
    return true;
}

static bool coroutine_fn config_co_apply_item(const ConfigItem *item, Applied *applied,
                                              GError **errp)
{
    BlockNode *node;

    switch (item->kind) {
    case CONFIG_ITEM_BLOCKDEV:
        node = graph_co_add_node(item->blockdev, errp);
        if (!node) {
            return false;
        }
        g_ptr_array_add(applied->nodes, g_strdup(node->name));
        return true;
    case CONFIG_ITEM_EXPORT:
        return config_co_apply_export(item, applied, errp);
    }
    g_assert_not_reached();
}

static void coroutine_fn config_co_roll_back(Applied *applied, const char *path)
{
    for (guint i = applied->exports->len; i-- > 0;) {
        const char *id = g_ptr_array_index(applied->exports, i);
        g_autoptr(GError) err = NULL;

        if (export_remove(id, EXPORT_REMOVE_HARD, &err) < 0) {
            g_warning("%s: rolling back export '%s' failed: %s", path, id, err->message);
        }
    }
    for (guint i = applied->nodes->len; i-- > 0;) {
        const char *name = g_ptr_array_index(applied->nodes, i);
        g_autoptr(GError) err = NULL;

        if (graph_co_remove_node(name, &err) < 0) {
            g_warning("%s: rolling back node '%s' failed: %s", path, name, err->message);
        }
    }
}

/* Applies one file, all or nothing. */
static bool coroutine_fn config_co_apply_file(const char *path, bool check, GError **errp)
{
    g_autoptr(ConfigFile) file = config_file_load(path, errp);
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) exports = g_ptr_array_new_with_free_func(g_free);
    Applied applied = { .nodes = nodes, .exports = exports };

    if (!file) {
        prefix_location(errp, path, 0);
        return false;
    }
    for (guint i = 0; i < file->items->len; i++) {
        const ConfigItem *item = g_ptr_array_index(file->items, i);

        if (!config_co_apply_item(item, &applied, errp)) {
            prefix_location(errp, path, item->line);
            config_co_roll_back(&applied, path);
            return false;
        }
    }
    g_message("%s: %s (%u items)", path, check ? "OK" : "applied", file->items->len);
    return true;
}

int coroutine_fn config_dir_co_apply(const char *dir, bool check, GError **errp)
{
    g_auto(GStrv) files = config_dir_list(dir, errp);
    int failed = 0;

    if (!files) {
        return -1;
    }
    for (size_t i = 0; files[i]; i++) {
        g_autoptr(GError) err = NULL;

        if (!config_co_apply_file(files[i], check, &err)) {
            g_warning("%s %s: %s", files[i], check ? "has an error" : "not applied",
                      err->message);
            failed++;
        }
    }
    return failed;
}
