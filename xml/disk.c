/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AddDisk / RemoveDisk: libvirt's node layout for a <disk>, on the graph. */

#include "xml/disk.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "drivers/throttle-group.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "xml/xml-util.h"

/* What AddDisk built, by topmost node name: the indexes it holds. */
typedef struct Disk {
    char *top;
    GArray *indexes;        /* int */
} Disk;

static GHashTable *disks;   /* top node name -> Disk*: the daemon's disks, like nodes */
static int next_index = 1;  /* libvirt's nodenameindex: grows with every disk added */

static void disk_free(Disk *d)
{
    g_free(d->top);
    g_array_unref(d->indexes);
    g_free(d);
}

static bool index_taken(int index, const GArray *mine)
{
    static const char *const kinds[] = { "format", "storage", "filter" };
    GHashTableIter it;
    Disk *d;

    for (guint i = 0; i < mine->len; i++)
        if (g_array_index(mine, int, i) == index)
            return true;
    if (disks) {
        g_hash_table_iter_init(&it, disks);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *)&d))
            for (guint i = 0; i < d->indexes->len; i++)
                if (g_array_index(d->indexes, int, i) == index)
                    return true;
    }
    for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
        g_autofree char *name = g_strdup_printf("libvirt-%d-%s", index, kinds[k]);
        if (graph_lookup(name))
            return true;
    }
    return false;
}

/*
 * The given indexes first (a clash is an error), then fresh ones for the
 * rest; *ret_next: where the next disk's fresh indexes start, if this one is added.
 */
static GArray *assign_indexes(const DiskSpec *spec, bool filter, int *ret_next, GError **errp)
{
    int next = next_index;

    g_autoptr(GArray) idx = g_array_new(FALSE, FALSE, sizeof(int));

    for (guint i = 0; i < spec->layers->len; i++) {
        const DiskLayer *l = g_ptr_array_index(spec->layers, i);

        if (l->index > 0 && index_taken(l->index, idx)) {
            bg_xml_set_error_line(errp, BG_ERROR_EXISTS, spec->source, l->line,
                            "index %d of disk layer '%s' is already in use", l->index, l->path);
            return NULL;
        }
        g_array_append_val(idx, l->index);
    }
    guint layers = idx->len;

    for (guint i = 0; i < layers + (filter ? 1 : 0); i++) {
        int *slot = i < layers ? &g_array_index(idx, int, i) : NULL;
        int fresh;

        if (slot && *slot > 0)
            continue;
        while (index_taken(next, idx))
            next++;
        fresh = next++;
        if (slot)
            *slot = fresh;
        else
            g_array_append_val(idx, fresh);
    }
    *ret_next = next;
    return g_steal_pointer(&idx);
}

static bool check_cycles(const DiskSpec *spec, GError **errp)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; i < spec->layers->len; i++) {
        const DiskLayer *l = g_ptr_array_index(spec->layers, i);
        char canonical[PATH_MAX];
        const char *key = realpath(l->path, canonical) ? canonical : l->path;

        if (!g_hash_table_add(seen, g_strdup(key))) {
            bg_xml_set_error_line(errp, BG_ERROR_INVALID_ARGUMENT, spec->source, l->line,
                            "the backing chain is cyclic: '%s' appears in it twice", l->path);
            return false;
        }
    }
    return true;
}

static void spec_set_all(BlockdevSpec *spec, GHashTable *opts)
{
    GHashTableIter it;
    const char *k, *v;

    g_hash_table_iter_init(&it, opts);
    while (g_hash_table_iter_next(&it, (gpointer *)&k, (gpointer *)&v))
        blockdev_spec_set(spec, k, v);
}

static void set_name(BlockdevSpec *spec, int index, const char *kind)
{
    g_autofree char *name = g_strdup_printf("libvirt-%d-%s", index, kind);

    blockdev_spec_set(spec, "node-name", name);
}

/* Wraps child as the `file` of a new node spec; returns the new spec. */
static BlockdevSpec *wrap(BlockdevSpec *child)
{
    BlockdevSpec *spec = blockdev_spec_new();
    ChildSpec *cs = blockdev_spec_add_child(spec, "file", CHILD_SPEC_INLINE);

    blockdev_spec_free(cs->inline_spec);
    cs->inline_spec = child;
    return spec;
}

/* One layer: format node over its storage node, with backing (the layer below, built already). */
static BlockdevSpec *layer_spec(const DiskSpec *disk, guint i, int index, BlockdevSpec *below)
{
    const DiskLayer *l = g_ptr_array_index(disk->layers, i);
    BlockdevSpec *storage = blockdev_spec_new();
    BlockdevSpec *format = wrap(storage);

    spec_set_all(storage, l->storage);
    set_name(storage, index, "storage");
    spec_set_all(format, l->format);
    set_name(format, index, "format");
    if (below) {
        ChildSpec *cs = blockdev_spec_add_child(format, "backing", CHILD_SPEC_INLINE);
        blockdev_spec_free(cs->inline_spec);
        cs->inline_spec = below;
    } else if (disk->chain_end == DISK_CHAIN_END_EMPTY) {
        blockdev_spec_add_child(format, "backing", CHILD_SPEC_NONE);
    }
    return format;
}

static char *cor_name(const DiskSpec *spec, int top_index)
{
    g_autofree char *name = spec->target ? g_strdup_printf("libvirt-CoR-%s", spec->target) : NULL;

    if (name && node_name_is_valid(name))
        return g_steal_pointer(&name);
    return g_strdup_printf("libvirt-%d-cor", top_index);
}

static BlockdevSpec *build(const DiskSpec *spec, const GArray *idx, const char *group)
{
    BlockdevSpec *top = NULL;
    const char *ro = spec->read_only ? "on" : "off";

    for (guint i = spec->layers->len; i-- > 0;)
        top = layer_spec(spec, i, g_array_index(idx, int, i), top);
    if (spec->copy_on_read) {
        g_autofree char *name = cor_name(spec, g_array_index(idx, int, 0));

        top = wrap(top);
        blockdev_spec_set(top, "driver", "copy-on-read");
        blockdev_spec_set(top, "node-name", name);
        blockdev_spec_set(top, "discard", "unmap");
    }
    if (group) {
        top = wrap(top);
        blockdev_spec_set(top, "driver", "throttle");
        set_name(top, g_array_index(idx, int, spec->layers->len), "filter");
        blockdev_spec_set(top, "throttle-group", group);
        blockdev_spec_set(top, "read-only", ro);
    }
    g_free(top->source);
    top->source = g_strdup(spec->source);
    top->line = spec->line;
    return top;
}

/* The disk's group: its own (named as its filter) or group_name; created when missing. */
static char *disk_group(const DiskSpec *spec, const GArray *idx, bool *created, GError **errp)
{
    g_autofree char *own = g_strdup_printf("libvirt-%d-filter",
                                           g_array_index(idx, int, spec->layers->len));
    const char *group = spec->group_name ? spec->group_name : own;

    if (!throttle_limits_check(group, spec->iotune, errp)) {
        bg_error_prefix_location(errp, spec->source, spec->line);
        return NULL;
    }
    *created = !throttle_group_exists(group);
    if (*created && !throttle_group_set(group, spec->iotune, true, errp))
        return NULL;
    return g_strdup(group);
}

BlockNode *coroutine_fn disk_co_add(const DiskSpec *spec, GError **errp)
{
    g_autoptr(GArray) idx = NULL;
    g_autoptr(BlockdevSpec) top = NULL;
    g_autofree char *group = NULL;
    bool created = false;
    int next;
    BlockNode *node;
    Disk *d;

    if (!check_cycles(spec, errp))
        return NULL;
    idx = assign_indexes(spec, spec->iotune != NULL, &next, errp);
    if (!idx)
        return NULL;
    if (spec->iotune && !(group = disk_group(spec, idx, &created, errp)))
        return NULL;
    top = build(spec, idx, group);
    node = graph_co_add_node(top, errp);
    if (!node) {
        if (created)
            throttle_group_release(group);
        return NULL;
    }
    next_index = next;
    /* A group that was there already takes this disk's limits (QEMU: the last set wins). */
    if (group && !created)
        throttle_group_set(group, spec->iotune, true, NULL);
    if (!disks)
        disks = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)disk_free);
    d = g_new0(Disk, 1);
    d->top = g_strdup(node->name);
    d->indexes = g_steal_pointer(&idx);
    g_hash_table_replace(disks, d->top, d);
    return node;
}

int coroutine_fn disk_co_remove(const char *name, GError **errp)
{
    Disk *d = disks ? g_hash_table_lookup(disks, name) : NULL;
    int r;

    if (!d) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND,
                    "No disk with topmost node '%s' known (AddDisk returns that node)", name);
        return -ENOENT;
    }
    r = graph_co_remove_node(name, errp);
    /* A node removed by RemoveNode already leaves nothing of the disk behind. */
    if (r >= 0 || !graph_lookup(name))
        g_hash_table_remove(disks, name);
    return r;
}
