/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Persistent dirty bitmaps in qcow2's bitmaps extension (QEMU's
 * docs/interop/qcow2.txt, "Bitmaps extension" and "Bitmaps"): a directory
 * of entries (table offset and size, flags, granularity, name), each
 * pointing at a bitmap table whose entries point at clusters of bits
 * (bit i of the bitmap = bit i % 8 of byte i / 8).  Autoclear bit 0 says the
 * extension is consistent; the in-use flag of an entry says the bits in the
 * file are stale (the image is open writable, or was not closed cleanly).
 *
 * Changes are copy-on-write: a new directory (and new tables) is written
 * and flushed, then the header is switched over in one write of its
 * cluster, then the old clusters are freed; a crash leaves at worst leaked
 * clusters.
 */

#include <errno.h>
#include <string.h>

#include "drivers/qcow2/qcow2.h"
#include "graph/bitmap.h"
#include "graph/error.h"

#define BME_FLAG_IN_USE    (1u << 0)
#define BME_FLAG_AUTO      (1u << 1)
#define BME_TYPE_DIRTY     1
#define BME_MAX_BITMAPS    65535
#define BME_MAX_DIR_SIZE   (64u << 20)
#define BME_MAX_TABLE_SIZE 0x8000000u
#define BME_ENTRY_HDR      24
#define BME_OFFSET_MASK    0x00fffffffffffe00ull
#define BME_RESERVED_MASK  0xff000000000001feull

struct Qcow2BitmapEntry {
    char *name;
    uint64_t table_offset;
    uint32_t table_size;
    uint32_t flags;
    uint8_t granularity_bits;
};

static void entry_free(gpointer p)
{
    Qcow2BitmapEntry *e = p;

    g_free(e->name);
    g_free(e);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, v >> 32);
    put32(p + 4, (uint32_t)v);
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) / to * to;
}

/* Bitmap table entries a bitmap of this granularity needs for the image. */
static uint64_t table_entries(const Qcow2State *s, unsigned granularity_bits)
{
    uint64_t bits = (s->hdr.size + (1ull << granularity_bits) - 1) >> granularity_bits;

    return qcow2_size_to_clusters(s, (bits + 7) / 8);
}

static size_t entry_bytes(size_t name_len)
{
    return round_up(BME_ENTRY_HDR + name_len, 8);
}

static int invalid(const Qcow2State *s, GError **errp, const char *what)
{
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s: bitmaps extension: %s",
                s->what, what);
    return -EINVAL;
}

/* ---- loading ------------------------------------------------------------- */

static int check_entry(const Qcow2State *s, const Qcow2BitmapEntry *e, uint8_t type,
                       uint32_t extra, GError **errp)
{
    if (type != BME_TYPE_DIRTY || (e->flags & ~7u) || extra) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: bitmap '%s' has a type, flags or extra data this daemon does not know",
                    s->what, e->name);
        return -ENOTSUP;
    }
    if (e->granularity_bits < 9 || (1ull << e->granularity_bits) > BITMAP_MAX_GRANULARITY) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: bitmap '%s' has granularity 2^%u (supported: 512 to 64M)", s->what,
                    e->name, e->granularity_bits);
        return -ENOTSUP;
    }
    if (!e->table_offset || qcow2_offset_into_cluster(s, e->table_offset) ||
        e->table_size != table_entries(s, e->granularity_bits) ||
        e->table_size > BME_MAX_TABLE_SIZE ||
        e->table_offset + (uint64_t)e->table_size * 8 > s->file_size)
        return invalid(s, errp, "a bitmap table is misplaced or has the wrong size");
    return 0;
}

static int parse_directory(Qcow2State *s, const uint8_t *dir, uint64_t size, GError **errp)
{
    uint64_t off = 0;

    for (uint32_t i = 0; i < s->hdr.nb_bitmaps; i++) {
        if (size - off < BME_ENTRY_HDR)
            return invalid(s, errp, "the directory is truncated");
        const uint8_t *p = dir + off;
        uint32_t name_len = (uint32_t)p[18] << 8 | p[19], extra = get32(p + 20);
        uint64_t len = round_up((uint64_t)BME_ENTRY_HDR + extra + name_len, 8);
        if (!name_len || name_len > BITMAP_NAME_MAX || len > size - off)
            return invalid(s, errp, "a directory entry is malformed");
        Qcow2BitmapEntry *e = g_new0(Qcow2BitmapEntry, 1);
        g_ptr_array_add(s->disk_bitmaps, e);
        e->table_offset = get64(p);
        e->table_size = get32(p + 8);
        e->flags = get32(p + 12);
        e->granularity_bits = p[17];
        e->name = g_strndup((const char *)p + BME_ENTRY_HDR + extra, name_len);
        if (strlen(e->name) != name_len)
            return invalid(s, errp, "a bitmap name holds a NUL byte");
        int ret = check_entry(s, e, p[16], extra, errp);
        if (ret < 0)
            return ret;
        off += len;
    }
    if (off != size)
        return invalid(s, errp, "the directory size does not match its entries");
    return 0;
}

/* Reads the bits of entry e into bm. */
static int coroutine_fn load_bits(Qcow2State *s, const Qcow2BitmapEntry *e, DirtyBitmap *bm)
{
    g_autofree uint8_t *table = g_malloc((size_t)e->table_size * 8);
    g_autofree uint8_t *buf = g_malloc(s->cluster_size);
    uint64_t per_cluster = s->cluster_size * 8;
    int ret = qcow2_file_pread(s, e->table_offset, (uint64_t)e->table_size * 8, table);

    bitmap_clear(bm);
    for (uint32_t i = 0; ret == 0 && i < e->table_size; i++) {
        uint64_t entry = get64(table + 8 * i), off = entry & BME_OFFSET_MASK;
        uint64_t first = i * per_cluster;
        uint64_t n = MIN(per_cluster, bm->n_bits - MIN(first, bm->n_bits));

        if ((entry & BME_RESERVED_MASK) || qcow2_offset_into_cluster(s, off) ||
            off + s->cluster_size > s->file_size)
            return -EINVAL;
        if (!off) {
            bitmap_fill_bits(bm, first, n, entry & 1);
            continue;
        }
        ret = qcow2_file_pread(s, off, s->cluster_size, buf);
        if (ret == 0)
            bitmap_from_bytes(bm, first, n, buf);
    }
    return ret;
}

/* The entry's bitmap on the node: the one there (activation) or a new one. */
static DirtyBitmap *node_bitmap_for(Qcow2State *s, const Qcow2BitmapEntry *e, GError **errp)
{
    DirtyBitmap *bm = bitmap_find(s->node, e->name);

    if (bm && (!bm->persistent || bm->granularity != 1u << e->granularity_bits)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "%s: node '%s' already has a bitmap '%s'",
                    s->what, s->node->name, e->name);
        return NULL;
    }
    if (!bm)
        bm = bitmap_create(s->node, e->name, 1u << e->granularity_bits, errp);
    if (bm)
        bm->persistent = true;
    return bm;
}

/* Persistent bitmaps the node kept (inactivation) that the image no longer has. */
static void drop_vanished(Qcow2State *s)
{
    for (GList *l = node_bitmaps(s->node), *next; l; l = next) {
        DirtyBitmap *bm = l->data;
        bool on_disk = false;

        next = l->next;
        for (guint i = 0; i < s->disk_bitmaps->len && !on_disk; i++)
            on_disk = g_str_equal(((Qcow2BitmapEntry *)s->disk_bitmaps->pdata[i])->name,
                                  bm->name);
        if (bm->persistent && !on_disk && !bm->busy)
            bitmap_release(bm);
    }
}

static int coroutine_fn read_directory(Qcow2State *s, GError **errp)
{
    const Qcow2Header *h = &s->hdr;

    if (!h->nb_bitmaps || h->nb_bitmaps > BME_MAX_BITMAPS || !h->bitmap_dir_size ||
        h->bitmap_dir_size > BME_MAX_DIR_SIZE || qcow2_offset_into_cluster(s, h->bitmap_dir_offset) ||
        !h->bitmap_dir_offset || h->bitmap_dir_offset + h->bitmap_dir_size > s->file_size)
        return invalid(s, errp, "the directory is misplaced or has a bad size");
    g_autofree uint8_t *dir = g_malloc(h->bitmap_dir_size);
    int ret = qcow2_file_pread(s, h->bitmap_dir_offset, h->bitmap_dir_size, dir);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot read the bitmap directory", s->what);
        return ret;
    }
    return parse_directory(s, dir, h->bitmap_dir_size, errp);
}

int coroutine_fn qcow2_bitmaps_load(Qcow2State *s, GError **errp)
{
    s->disk_bitmaps = g_ptr_array_new_with_free_func(entry_free);
    s->bitmaps_in_use = false;
    if (s->hdr.has_bitmaps && !(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
        g_message("%s: the bitmaps extension was left behind by a program that does not "
                  "maintain it; its bitmaps are ignored", s->what);
    int ret = 0;
    if (s->hdr.has_bitmaps && (s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS))
        ret = read_directory(s, errp);
    if (ret < 0)
        return ret;
    node_bitmaps_resize(s->node);
    drop_vanished(s);
    for (guint i = 0; i < s->disk_bitmaps->len; i++) {
        const Qcow2BitmapEntry *e = s->disk_bitmaps->pdata[i];
        DirtyBitmap *bm = node_bitmap_for(s, e, errp);
        if (!bm)
            return -EEXIST;
        bm->disabled = !(e->flags & BME_FLAG_AUTO);
        bm->inconsistent = e->flags & BME_FLAG_IN_USE;
        ret = bm->inconsistent ? 0 : load_bits(s, e, bm);
        if (ret < 0) {
            bg_set_error_errno(errp, ret, "%s: cannot load bitmap '%s'", s->what, e->name);
            return ret;
        }
    }
    if (s->disk_bitmaps->len)
        node_bitmaps_changed(s->node);
    return 0;
}

/* ---- writing ------------------------------------------------------------- */

static GByteArray *build_directory(GPtrArray *entries)
{
    GByteArray *dir = g_byte_array_new();

    for (guint i = 0; i < entries->len; i++) {
        const Qcow2BitmapEntry *e = entries->pdata[i];
        size_t name_len = strlen(e->name), len = entry_bytes(name_len);
        guint at = dir->len;

        g_byte_array_set_size(dir, at + (guint)len);
        uint8_t *p = dir->data + at;
        memset(p, 0, len);
        put64(p, e->table_offset);
        put32(p + 8, e->table_size);
        put32(p + 12, e->flags);
        p[16] = BME_TYPE_DIRTY;
        p[17] = e->granularity_bits;
        p[18] = (uint8_t)(name_len >> 8);
        p[19] = (uint8_t)name_len;
        memcpy(p + BME_ENTRY_HDR, e->name, name_len);
    }
    return dir;
}

/* Writes the header cluster with the new extension (none if dir_size is 0) and autoclear bit. */
static int coroutine_fn write_header(Qcow2State *s, uint32_t nb, uint64_t dir_off,
                                     uint64_t dir_size)
{
    g_autofree uint8_t *in = g_malloc(s->cluster_size);
    g_autofree uint8_t *out = g_malloc(s->cluster_size);
    uint8_t ext[24] = { 0 };
    uint64_t autoclear = nb ? s->hdr.autoclear_features | QCOW2_AUTOCLEAR_BITMAPS
                            : s->hdr.autoclear_features & ~(uint64_t)QCOW2_AUTOCLEAR_BITMAPS;

    put32(ext, nb);
    put64(ext + 8, dir_size);
    put64(ext + 16, dir_off);
    int ret = qcow2_file_pread(s, 0, s->cluster_size, in);
    if (ret == 0 && !qcow2_header_rebuild(s, in, out, QCOW2_EXT_BITMAPS, nb ? ext : NULL,
                                          sizeof(ext), s->hdr.backing_file))
        ret = -ENOSPC;
    if (ret < 0)
        return ret;
    put64(out + 88, autoclear);
    ret = qcow2_file_pwrite(s, 0, s->cluster_size, out);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret == 0) {
        s->hdr.autoclear_features = autoclear;
        s->hdr.has_bitmaps = nb > 0;
        s->hdr.nb_bitmaps = nb;
        s->hdr.bitmap_dir_offset = dir_off;
        s->hdr.bitmap_dir_size = dir_size;
    }
    return ret;
}

/*
 * Writes entries as the new directory, flushes everything it points at,
 * switches the header to it and frees the old directory.
 */
static int coroutine_fn replace_directory(Qcow2State *s, GPtrArray *entries)
{
    uint64_t old_off = s->hdr.bitmap_dir_offset, old_size = s->hdr.bitmap_dir_size;
    bool had = s->hdr.has_bitmaps && (s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS);
    g_autoptr(GByteArray) dir = build_directory(entries);
    int64_t off = 0;
    int ret = 0;

    if (dir->len) {
        off = qcow2_alloc_clusters(s, qcow2_size_to_clusters(s, dir->len));
        ret = off < 0 ? (int)off : qcow2_file_pwrite(s, (uint64_t)off, dir->len, dir->data);
    }
    if (ret == 0)
        ret = qcow2_write_caches(s);    /* refcounts and data on disk before the header */
    if (ret == 0)
        ret = write_header(s, entries->len, (uint64_t)off, dir->len);
    if (ret == 0 && had && old_size)
        ret = qcow2_free_clusters(s, old_off, round_up(old_size, s->cluster_size));
    if (ret == 0)
        ret = qcow2_write_caches(s);    /* so that a crash now leaks nothing */
    return ret;
}

int coroutine_fn qcow2_bitmaps_mark_in_use(Qcow2State *s)
{
    if (!s->writable || !s->disk_bitmaps || !s->disk_bitmaps->len || s->bitmaps_in_use)
        return 0;
    for (guint i = 0; i < s->disk_bitmaps->len; i++)
        ((Qcow2BitmapEntry *)s->disk_bitmaps->pdata[i])->flags |= BME_FLAG_IN_USE;
    int ret = replace_directory(s, s->disk_bitmaps);
    if (ret == 0)
        s->bitmaps_in_use = true;
    return ret;
}

static bool all_zero(const uint8_t *buf, size_t len)
{
    return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

/* Writes bm's bits and table into new clusters; fills e. */
static int coroutine_fn write_bitmap(Qcow2State *s, const DirtyBitmap *bm, Qcow2BitmapEntry *e)
{
    e->name = g_strdup(bm->name);
    e->granularity_bits = (uint8_t)__builtin_ctz(bm->granularity);
    e->flags = bm->disabled ? 0 : BME_FLAG_AUTO;
    e->table_size = (uint32_t)table_entries(s, e->granularity_bits);
    uint64_t table_bytes = round_up((uint64_t)e->table_size * 8, s->cluster_size);
    g_autofree uint8_t *table = g_malloc0(table_bytes);
    g_autofree uint8_t *buf = g_malloc(s->cluster_size);
    uint64_t per_cluster = s->cluster_size * 8;
    int ret = 0;

    for (uint32_t i = 0; ret == 0 && i < e->table_size; i++) {
        uint64_t first = i * per_cluster;
        memset(buf, 0, s->cluster_size);
        bitmap_to_bytes(bm, first, MIN(per_cluster, bm->n_bits - first), buf);
        if (all_zero(buf, s->cluster_size))
            continue;
        int64_t off = qcow2_alloc_clusters(s, 1);
        ret = off < 0 ? (int)off : qcow2_file_pwrite(s, (uint64_t)off, s->cluster_size, buf);
        put64(table + 8 * i, (uint64_t)MAX(off, 0));
    }
    int64_t toff = ret < 0 ? ret : qcow2_alloc_clusters(s, table_bytes / s->cluster_size);
    if (toff < 0)
        return (int)toff;
    e->table_offset = (uint64_t)toff;
    return qcow2_file_pwrite(s, e->table_offset, table_bytes, table);
}

/* Frees a bitmap's data clusters and table (its directory no longer names it). */
static int coroutine_fn free_bitmap(Qcow2State *s, const Qcow2BitmapEntry *e)
{
    g_autofree uint8_t *table = g_malloc((size_t)e->table_size * 8);
    int ret = qcow2_file_pread(s, e->table_offset, (uint64_t)e->table_size * 8, table);

    for (uint32_t i = 0; ret == 0 && i < e->table_size; i++) {
        uint64_t off = get64(table + 8 * i) & BME_OFFSET_MASK;
        if (off)
            ret = qcow2_free_clusters(s, off, s->cluster_size);
    }
    if (ret == 0)
        ret = qcow2_free_clusters(s, e->table_offset,
                                  round_up((uint64_t)e->table_size * 8, s->cluster_size));
    return ret;
}

static Qcow2BitmapEntry *disk_entry(Qcow2State *s, const char *name)
{
    for (guint i = 0; i < s->disk_bitmaps->len; i++) {
        Qcow2BitmapEntry *e = s->disk_bitmaps->pdata[i];
        if (g_str_equal(e->name, name))
            return e;
    }
    return NULL;
}

/* New entries for the node's persistent bitmaps; inconsistent ones keep their old entry. */
static int coroutine_fn write_bitmaps(Qcow2State *s, GPtrArray *entries, GHashTable *kept)
{
    for (GList *l = node_bitmaps(s->node); l; l = l->next) {
        const DirtyBitmap *bm = l->data;
        Qcow2BitmapEntry *old = bm->persistent ? disk_entry(s, bm->name) : NULL;
        Qcow2BitmapEntry *e;

        if (!bm->persistent || (bm->inconsistent && !old))
            continue;
        e = g_new0(Qcow2BitmapEntry, 1);
        g_ptr_array_add(entries, e);
        if (bm->inconsistent) {
            *e = *old;
            e->name = g_strdup(old->name);
            g_hash_table_add(kept, old);
            continue;
        }
        int ret = write_bitmap(s, bm, e);
        if (ret < 0)
            return ret;
    }
    return 0;
}

int coroutine_fn qcow2_bitmaps_store(Qcow2State *s)
{
    bool any = false;

    if (!s->writable || !s->disk_bitmaps)
        return 0;
    for (GList *l = node_bitmaps(s->node); l && !any; l = l->next)
        any = ((DirtyBitmap *)l->data)->persistent;
    if (!any && !s->disk_bitmaps->len)
        return 0;
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(entry_free);
    g_autoptr(GHashTable) kept = g_hash_table_new(NULL, NULL);
    int ret = write_bitmaps(s, entries, kept);
    if (ret == 0)
        ret = replace_directory(s, entries);
    for (guint i = 0; ret == 0 && i < s->disk_bitmaps->len; i++) {
        if (!g_hash_table_contains(kept, s->disk_bitmaps->pdata[i]))
            ret = free_bitmap(s, s->disk_bitmaps->pdata[i]);
    }
    if (ret < 0) {
        g_warning("%s: could not store the persistent bitmaps: %s", s->what, g_strerror(-ret));
        return ret;
    }
    g_ptr_array_unref(s->disk_bitmaps);
    s->disk_bitmaps = g_steal_pointer(&entries);
    s->bitmaps_in_use = false;
    return 0;
}

void qcow2_bitmaps_free(Qcow2State *s)
{
    g_clear_pointer(&s->disk_bitmaps, g_ptr_array_unref);
}

bool qcow2_can_store_bitmap(BlockNode *node, const char *name, uint32_t granularity,
                            GError **errp)
{
    Qcow2State *s = node->opaque;
    unsigned n = 0;

    if (s->hdr.version < 3) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Cannot add persistent bitmap '%s': %s is version 2 (compat=0.10); "
                    "bitmaps need version 3", name, s->what);
        return false;
    }
    if (!node_takes_writes(node)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Cannot add persistent bitmap '%s': node '%s' is read-only", name,
                    node->name);
        return false;
    }
    for (GList *l = node_bitmaps(node); l; l = l->next)
        n += ((DirtyBitmap *)l->data)->persistent;
    if (n >= BME_MAX_BITMAPS) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Cannot add persistent bitmap '%s': %s has %u already", name, s->what, n);
        return false;
    }
    return true;
}
