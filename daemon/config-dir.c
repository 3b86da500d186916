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
#include "graph/iothread.h"
#include "policy/allow-path.h"
#include "xml/config-file.h"
#include "xml/disk.h"

/* What one file added so far, to roll back on failure. */
typedef struct Applied {
    GPtrArray *nodes;       /* AppliedNode*, in order added */
    GPtrArray *exports;     /* char* export ids, in order added */
    GPtrArray *iothreads;   /* char* iothread ids, in order added */
} Applied;

/* A node added by <blockdev>, or the topmost node of a libvirt <disk>. */
typedef struct AppliedNode {
    char *name;
    bool disk;
} AppliedNode;

static void applied_node_free(gpointer p)
{
    AppliedNode *a = p;

    g_free(a->name);
    g_free(a);
}

static void applied_add_node(Applied *applied, const char *name, bool disk)
{
    AppliedNode *a = g_new0(AppliedNode, 1);

    a->name = g_strdup(name);
    a->disk = disk;
    g_ptr_array_add(applied->nodes, a);
}

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
        applied_add_node(applied, node->name, false);
        return true;
    case CONFIG_ITEM_EXPORT:
        return config_co_apply_export(item, applied, errp);
    case CONFIG_ITEM_IOTHREAD:
        if (!iothread_add(item->iothread, errp))
            return false;
        g_ptr_array_add(applied->iothreads, g_strdup(item->iothread));
        return true;
    case CONFIG_ITEM_ALLOW_PATH:
        return true;        /* config_allow_paths took them before any file applied */
    case CONFIG_ITEM_DISK:
        node = disk_co_add(item->disk, errp);
        if (!node)
            return false;
        applied_add_node(applied, node->name, true);
        return true;
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
        const AppliedNode *a = g_ptr_array_index(applied->nodes, i);
        g_autoptr(GError) err = NULL;

        if ((a->disk ? disk_co_remove(a->name, &err) : graph_co_remove_node(a->name, &err)) < 0)
            g_warning("%s: rolling back %s '%s' failed: %s", path, a->disk ? "disk" : "node",
                      a->name, err->message);
    }
    for (guint i = applied->iothreads->len; i-- > 0;) {
        const char *id = g_ptr_array_index(applied->iothreads, i);
        g_autoptr(GError) err = NULL;

        if (!iothread_remove(id, &err))
            g_warning("%s: rolling back iothread '%s' failed: %s", path, id, err->message);
    }
}

/* Applies one loaded file, all or nothing. */
static bool coroutine_fn config_co_apply_file(const ConfigFile *file, bool check, GError **errp)
{
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(applied_node_free);
    g_autoptr(GPtrArray) exports = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) iothreads = g_ptr_array_new_with_free_func(g_free);
    Applied applied = { .nodes = nodes, .exports = exports, .iothreads = iothreads };
    const char *path = file->path;

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

/* Every <allow-path> of every file, before anything opens a path. */
static void config_allow_paths(GPtrArray *files)
{
    g_autofree char *list = NULL;

    for (guint i = 0; i < files->len; i++) {
        const ConfigFile *file = g_ptr_array_index(files, i);

        for (guint j = 0; j < file->items->len; j++) {
            const ConfigItem *item = g_ptr_array_index(file->items, j);

            if (item->kind == CONFIG_ITEM_ALLOW_PATH) {
                allow_path_add(item->allow_path, NULL);     /* parsed: absolute */
            }
        }
    }
    list = allow_path_describe();
    g_message("Paths callers may open: %s", list);
}

/* Loads every file; those that do not parse are logged and counted. */
static GPtrArray *config_load_files(char **names, bool check, int *failed)
{
    GPtrArray *files = g_ptr_array_new_with_free_func((GDestroyNotify)config_file_free);

    for (size_t i = 0; names[i]; i++) {
        g_autoptr(GError) err = NULL;
        ConfigFile *file = config_file_load(names[i], &err);

        if (!file) {
            prefix_location(&err, names[i], 0);
            g_warning("%s %s: %s", names[i], check ? "has an error" : "not applied",
                      err->message);
            (*failed)++;
            continue;
        }
        g_ptr_array_add(files, file);
    }
    return files;
}

int coroutine_fn config_dir_co_apply(const char *dir, bool check, GError **errp)
{
    g_auto(GStrv) names = config_dir_list(dir, errp);
    g_autoptr(GPtrArray) files = NULL;
    int failed = 0;

    if (!names) {
        return -1;
    }
    files = config_load_files(names, check, &failed);
    config_allow_paths(files);
    for (guint i = 0; i < files->len; i++) {
        const ConfigFile *file = g_ptr_array_index(files, i);
        g_autoptr(GError) err = NULL;

        if (!config_co_apply_file(file, check, &err)) {
            g_warning("%s %s: %s", file->path, check ? "has an error" : "not applied",
                      err->message);
            failed++;
        }
    }
    return failed;
}
