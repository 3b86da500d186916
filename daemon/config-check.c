/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --check-config: validates the configuration folder without opening any
 * image (a running daemon may hold them, with locks).
 */

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/config-dir.h"
#include "graph/driver.h"
#include "graph/error.h"
#include "graph/node.h"
#include "xml/config-file.h"

typedef struct Checker {
    GHashTable *nodes;      /* node-names defined so far (all files) */
    GHashTable *exports;    /* export ids defined so far */
} Checker;

static bool fail_at(GError **errp, int code, const char *source, int line,
                    const char *fmt, ...) G_GNUC_PRINTF(5, 6);

static bool fail_at(GError **errp, int code, const char *source, int line,
                    const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, code, "%s line %d: %s", source ? source : "?", line, msg);
    return false;
}

static bool role_accepted(const BlockDriver *drv, const char *role)
{
    for (size_t i = 0; drv->child_roles && drv->child_roles[i]; i++) {
        if (g_str_equal(drv->child_roles[i], role)) {
            return true;
        }
    }
    return false;
}

static bool check_blockdev(Checker *c, const BlockdevSpec *spec, GHashTable *local,
                           GError **errp);

static bool check_child(Checker *c, const BlockdevSpec *parent, const BlockDriver *drv,
                        const ChildSpec *child, GHashTable *local, GError **errp)
{
    int line = child->line ? child->line : parent->line;

    if (!role_accepted(drv, child->role)) {
        return fail_at(errp, BG_ERROR_INVALID_ARGUMENT, parent->source, line,
                       "driver '%s' takes no '%s' child", drv->name, child->role);
    }
    switch (child->kind) {
    case CHILD_SPEC_REF:
        if (!g_hash_table_contains(c->nodes, child->ref) &&
            !g_hash_table_contains(local, child->ref)) {
            return fail_at(errp, BG_ERROR_NOT_FOUND, parent->source, line,
                           "'%s' child refers to node '%s', which is not defined before it",
                           child->role, child->ref);
        }
        return true;
    case CHILD_SPEC_INLINE:
        return check_blockdev(c, child->inline_spec, local, errp);
    case CHILD_SPEC_NONE:
        return true;
    }
    return true;
}

static bool check_filename(const BlockdevSpec *spec, const BlockDriver *drv, GError **errp)
{
    const char *filename = blockdev_spec_get(spec, "filename");
    struct stat st;

    if (drv->kind != BLOCK_DRIVER_PROTOCOL || !filename) {
        return true;
    }
    if (stat(filename, &st) < 0) {
        return fail_at(errp, BG_ERROR_NOT_FOUND, spec->source, spec->line,
                       "node '%s': file '%s': %s", blockdev_spec_get(spec, "node-name") ?: "",
                       filename, g_strerror(errno));
    }
    return true;
}

static bool check_node_name(Checker *c, const BlockdevSpec *spec, GHashTable *local,
                            GError **errp)
{
    const char *name = blockdev_spec_get(spec, "node-name");

    if (!name) {
        return true;    /* inline child: the graph generates one */
    }
    if (!node_name_is_valid(name)) {
        return fail_at(errp, BG_ERROR_INVALID_ARGUMENT, spec->source, spec->line,
                       "invalid node-name '%s' (a letter first, then letters, digits, "
                       "'-', '.', '_'; at most %d characters)", name, NODE_NAME_MAX);
    }
    if (g_hash_table_contains(c->nodes, name) || g_hash_table_contains(local, name)) {
        return fail_at(errp, BG_ERROR_EXISTS, spec->source, spec->line,
                       "node-name '%s' is already defined", name);
    }
    g_hash_table_add(local, g_strdup(name));
    return true;
}

static bool check_blockdev(Checker *c, const BlockdevSpec *spec, GHashTable *local,
                           GError **errp)
{
    const char *driver = blockdev_spec_get(spec, "driver");
    const BlockDriver *drv = driver ? block_driver_find(driver) : NULL;
    g_autoptr(OptionSet) opts = NULL;
    g_autoptr(GError) err = NULL;

    const char *name = blockdev_spec_get(spec, "node-name");
    g_autofree char *what = name ? g_strdup_printf("node '%s'", name) : g_strdup("inline node");

    if (!driver) {
        return fail_at(errp, BG_ERROR_INVALID_ARGUMENT, spec->source, spec->line,
                       "%s: missing option 'driver'", what);
    }
    if (!drv) {
        return fail_at(errp, BG_ERROR_INVALID_ARGUMENT, spec->source, spec->line,
                       "%s: unknown driver '%s'", what, driver);
    }
    const OptionSpec *const tables[] = { node_common_options, drv->options, NULL };
    opts = option_set_parse(tables, spec->options, what, &err);
    if (!opts) {
        return fail_at(errp, err->code, spec->source, spec->line, "%s", err->message);
    }
    if (!check_node_name(c, spec, local, errp) || !check_filename(spec, drv, errp)) {
        return false;
    }
    for (guint i = 0; i < spec->children->len; i++) {
        if (!check_child(c, spec, drv, g_ptr_array_index(spec->children, i), local, errp)) {
            return false;
        }
    }
    return true;
}

static bool check_export(Checker *c, const ExportSpec *e, GHashTable *local,
                         GHashTable *local_exports, GError **errp)
{
    if (!g_hash_table_contains(c->nodes, e->node_name) &&
        !g_hash_table_contains(local, e->node_name)) {
        return fail_at(errp, BG_ERROR_NOT_FOUND, e->source, e->line,
                       "export '%s' uses node '%s', which is not defined before it",
                       e->id, e->node_name);
    }
    if (g_hash_table_contains(c->exports, e->id) || g_hash_table_contains(local_exports, e->id)) {
        return fail_at(errp, BG_ERROR_EXISTS, e->source, e->line,
                       "export id '%s' is already defined", e->id);
    }
    g_hash_table_add(local_exports, g_strdup(e->id));
    return true;
}

static void merge_set(GHashTable *into, GHashTable *from)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, from);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_hash_table_add(into, g_strdup(key));
    }
}

/* Checks one file; what it defines counts for later files only if it is good. */
static bool check_file(Checker *c, const char *path, GError **errp)
{
    g_autoptr(ConfigFile) file = config_file_load(path, errp);
    g_autoptr(GHashTable) local = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) local_exports =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    if (!file) {
        return false;
    }
    for (guint i = 0; i < file->items->len; i++) {
        const ConfigItem *item = g_ptr_array_index(file->items, i);
        bool ok = item->kind == CONFIG_ITEM_BLOCKDEV
                  ? check_blockdev(c, item->blockdev, local, errp)
                  : check_export(c, item->export, local, local_exports, errp);

        if (!ok) {
            return false;
        }
    }
    merge_set(c->nodes, local);
    merge_set(c->exports, local_exports);
    return true;
}

int config_dir_check(const char *dir, GError **errp)
{
    g_auto(GStrv) files = config_dir_list(dir, errp);
    Checker c;
    int failed = 0;

    if (!files) {
        return -1;
    }
    c.nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    c.exports = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; files[i]; i++) {
        g_autoptr(GError) err = NULL;

        if (!check_file(&c, files[i], &err)) {
            g_warning("%s", err->message);
            failed++;
        } else {
            g_message("%s: OK", files[i]);
        }
    }
    g_hash_table_unref(c.nodes);
    g_hash_table_unref(c.exports);
    return failed;
}
