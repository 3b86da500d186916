/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 cluster mapping: the L1 table (in memory, written through), L2
 * slices (through the L2 cache), allocation and copy-on-write of L2 tables,
 * L1 growth, zero clusters and discard.  Everything here runs under s->lock.
 */

#include <errno.h>
#include <string.h>

#include "graph/error.h"
#include "graph/io.h"
#include "drivers/qcow2/qcow2.h"

Qcow2ClusterType qcow2_l2_entry_type(const Qcow2State *s, uint64_t e)
{
    if (e & QCOW2_OFLAG_COMPRESSED)
        return QCOW2_CLUSTER_COMPRESSED;
    if ((e & QCOW2_OFLAG_ZERO) && s->hdr.version >= 3)
        return (e & QCOW2_L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
    if (!(e & QCOW2_L2E_OFFSET_MASK))
        return QCOW2_CLUSTER_UNALLOCATED;
    return QCOW2_CLUSTER_NORMAL;
}

static uint64_t l1_alloc_bytes(const Qcow2State *s, uint64_t entries)
{
    uint64_t bytes = MAX(entries, 1) * 8;
    return (bytes + s->cluster_size - 1) & ~(s->cluster_size - 1);
}

int coroutine_fn qcow2_l1_init(Qcow2State *s, GError **errp)
{
    s->l1_size = s->hdr.l1_size;
    s->l1_table_offset = s->hdr.l1_table_offset;
    s->l1_table = g_new0(uint64_t, MAX(s->l1_size, 1));
    if (!s->l1_size)
        return 0;
    int ret = qcow2_file_pread(s, s->l1_table_offset, (uint64_t)s->l1_size * 8, s->l1_table);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot read the L1 table", s->what);
        return ret;
    }
    for (uint32_t i = 0; i < s->l1_size; i++) {
        uint64_t e = GUINT64_FROM_BE(s->l1_table[i]);
        uint64_t off = e & QCOW2_L1E_OFFSET_MASK;
        s->l1_table[i] = e;
        if (!off)
            continue;
        if (qcow2_offset_into_cluster(s, off) || off > s->file_size ||
            s->file_size - off < s->cluster_size) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "%s: L2 table %u at 0x%" PRIx64
                        " is misaligned or past the end of the file", s->what, i, off);
            return -EINVAL;
        }
        if (qcow2_check_overlap(s, off, s->cluster_size, QCOW2_OL_L2) < 0) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "%s: L2 table %u at 0x%" PRIx64 " overlaps other metadata",
                        s->what, i, off);
            return -EINVAL;
        }
    }
    return 0;
}

/* Writes one L1 entry through (the sector containing it). */
static int coroutine_fn write_l1_entry(Qcow2State *s, uint64_t idx)
{
    return qcow2_write_table_entry(s, s->l1_table, s->l1_size, s->l1_table_offset, idx,
                                   QCOW2_OL_L1);
}

static uint64_t l1_index(const Qcow2State *s, uint64_t offset)
{
    return offset >> (s->cluster_bits + s->l2_bits);
}

static uint64_t l2_index(const Qcow2State *s, uint64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_entries - 1);
}

/* Loads the slice of L2 table l2_off containing l2 index idx. */
static int coroutine_fn get_slice(Qcow2State *s, uint64_t l2_off, uint64_t idx,
                                  uint64_t **ret_slice, uint64_t *ret_i)
{
    uint64_t per_slice = s->l2_slice_size / 8;
    uint64_t slice_off = l2_off + (idx / per_slice) * s->l2_slice_size;
    *ret_i = idx % per_slice;
    return qcow2_cache_get(s->l2_cache, slice_off, (void **)ret_slice);
}

static int check_l2_entry(Qcow2State *s, uint64_t offset, uint64_t e)
{
    Qcow2ClusterType t = qcow2_l2_entry_type(s, e);
    uint64_t host = e & QCOW2_L2E_OFFSET_MASK;
    if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) &&
        qcow2_offset_into_cluster(s, host)) {
        g_warning("%s: L2 entry for guest offset 0x%" PRIx64
                  " has a misaligned host offset 0x%" PRIx64, s->what, offset, host);
        return -EIO;
    }
    return 0;
}

int coroutine_fn qcow2_get_mapping(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                   uint64_t *ret_entry, uint64_t *ret_count)
{
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    uint64_t per_slice = s->l2_slice_size / 8;
    uint64_t idx = l2_index(s, offset);
    uint64_t avail_clusters = per_slice - idx % per_slice;  /* up to the slice end */
    uint64_t l1i = l1_index(s, offset);
    uint64_t l2_off = l1i < s->l1_size ? s->l1_table[l1i] & QCOW2_L1E_OFFSET_MASK : 0;

    *ret_entry = 0;
    if (!l2_off) {
        *ret_count = MIN(bytes, (avail_clusters << s->cluster_bits) - in_cluster);
        return 0;
    }
    uint64_t *slice, i;
    int ret = get_slice(s, l2_off, idx, &slice, &i);
    if (ret < 0)
        return ret;
    uint64_t e = GUINT64_FROM_BE(slice[i]);
    Qcow2ClusterType t = qcow2_l2_entry_type(s, e);
    uint64_t n = 1;
    uint64_t need = (in_cluster + bytes + s->cluster_size - 1) >> s->cluster_bits;
    while (t != QCOW2_CLUSTER_COMPRESSED && n < need && n < avail_clusters) {
        uint64_t next = GUINT64_FROM_BE(slice[i + n]);
        if (qcow2_l2_entry_type(s, next) != t)
            break;
        if (t == QCOW2_CLUSTER_NORMAL &&
            ((next ^ e) & ~QCOW2_L2E_OFFSET_MASK ||
             (next & QCOW2_L2E_OFFSET_MASK) != (e & QCOW2_L2E_OFFSET_MASK) + (n << s->cluster_bits)))
            break;
        n++;
    }
    qcow2_cache_put(s->l2_cache, (void **)&slice);
    ret = check_l2_entry(s, offset, e);
    if (ret < 0)
        return ret;
    *ret_entry = e;
    *ret_count = MIN(bytes, (n << s->cluster_bits) - in_cluster);
    return 0;
}

/* Writes a new L2 table with contents buf at off and links it at L1 index l1i. */
static int coroutine_fn link_l2_table(Qcow2State *s, uint64_t l1i, int64_t off, const void *buf)
{
    qcow2_cache_discard(s->l2_cache, off, s->cluster_size);
    int ret = qcow2_check_overlap(s, off, s->cluster_size, 0);
    if (ret == 0)
        ret = qcow2_file_pwrite(s, off, s->cluster_size, buf);
    /* The table's refcount reaches the disk before the L1 entry. */
    if (ret == 0)
        ret = qcow2_cache_write(s->refcount_cache);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret < 0)
        return ret;
    uint64_t saved = s->l1_table[l1i];
    s->l1_table[l1i] = off | QCOW2_OFLAG_COPIED;
    ret = write_l1_entry(s, l1i);
    if (ret < 0)
        s->l1_table[l1i] = saved;
    return ret;
}

/*
 * Allocates a new L2 table for L1 index l1i (copying a shared one) and links
 * it; on error the new cluster is given back, as nothing points to it.
 */
static int coroutine_fn alloc_l2_table(Qcow2State *s, uint64_t l1i)
{
    uint64_t old = s->l1_table[l1i] & QCOW2_L1E_OFFSET_MASK;
    g_autofree void *buf = g_malloc0(s->cluster_size);
    int ret;
    if (old) {
        /* Write back cached slices of the old table so the copy is current. */
        ret = qcow2_write_caches(s);
        if (ret == 0)
            ret = qcow2_file_pread(s, old, s->cluster_size, buf);
        if (ret < 0)
            return ret;
    }
    int64_t off = qcow2_alloc_clusters(s, 1);
    if (off < 0)
        return off;
    ret = link_l2_table(s, l1i, off, buf);
    if (ret < 0) {
        (void)qcow2_free_clusters(s, off, s->cluster_size);
        return ret;
    }
    if (old) {
        qcow2_cache_discard(s->l2_cache, old, s->cluster_size);
        ret = qcow2_free_clusters(s, old, s->cluster_size);
    }
    return ret;
}

int coroutine_fn qcow2_set_l2_entry(Qcow2State *s, uint64_t offset, uint64_t entry,
                                    uint64_t *ret_old)
{
    uint64_t l1i = l1_index(s, offset);
    if (l1i >= s->l1_size)
        return -EIO;
    int ret;
    if (!(s->l1_table[l1i] & QCOW2_OFLAG_COPIED) ||
        !(s->l1_table[l1i] & QCOW2_L1E_OFFSET_MASK)) {
        ret = alloc_l2_table(s, l1i);
        if (ret < 0)
            return ret;
    }
    uint64_t *slice, i;
    ret = get_slice(s, s->l1_table[l1i] & QCOW2_L1E_OFFSET_MASK, l2_index(s, offset),
                    &slice, &i);
    if (ret < 0)
        return ret;
    if (ret_old)
        *ret_old = GUINT64_FROM_BE(slice[i]);
    slice[i] = GUINT64_TO_BE(entry);
    qcow2_cache_mark_dirty(s->l2_cache, slice);
    if (!s->lazy_refcounts)
        qcow2_cache_depends_on(s->l2_cache, s->refcount_cache);
    qcow2_cache_put(s->l2_cache, (void **)&slice);
    return 0;
}

/* Writes the new L1 table (host order in host, new_size entries) at off; points the header to it. */
static int coroutine_fn write_new_l1(Qcow2State *s, const uint64_t *host, uint64_t new_size,
                                     int64_t off, uint64_t bytes)
{
    g_autofree uint64_t *be = g_malloc0(bytes);
    for (uint64_t i = 0; i < new_size; i++)
        be[i] = GUINT64_TO_BE(host[i]);
    int ret = qcow2_write_caches(s);
    if (ret == 0)
        ret = qcow2_check_overlap(s, off, bytes, 0);
    if (ret == 0)
        ret = qcow2_file_pwrite(s, off, bytes, be);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret < 0)
        return ret;
    uint8_t hdr[12];
    uint32_t be_size = GUINT32_TO_BE((uint32_t)new_size);
    uint64_t be_off = GUINT64_TO_BE((uint64_t)off);
    memcpy(hdr, &be_size, 4);
    memcpy(hdr + 4, &be_off, 8);
    ret = qcow2_header_write(s, 36, hdr, sizeof(hdr));
    if (ret == 0)
        ret = qcow2_file_flush(s);
    return ret;
}

/* Moves the L1 table to new clusters with room for min_size entries; on error they are given back. */
int coroutine_fn qcow2_grow_l1(Qcow2State *s, uint64_t min_size)
{
    if (min_size <= s->l1_size)
        return 0;
    if (min_size * 8 > QCOW2_MAX_L1_BYTES)
        return -EFBIG;
    uint64_t new_size = MIN(MAX(min_size, (uint64_t)s->l1_size * 3 / 2),
                            (uint64_t)QCOW2_MAX_L1_BYTES / 8);
    uint64_t bytes = l1_alloc_bytes(s, new_size);
    int64_t off = qcow2_alloc_clusters(s, bytes >> s->cluster_bits);
    if (off < 0)
        return off;
    g_autofree uint64_t *host = g_malloc0(bytes);
    memcpy(host, s->l1_table, (uint64_t)s->l1_size * 8);
    int ret = write_new_l1(s, host, new_size, off, bytes);
    if (ret < 0) {
        (void)qcow2_free_clusters(s, off, bytes);
        return ret;
    }
    uint64_t old_off = s->l1_table_offset, old_bytes = (uint64_t)s->l1_size * 8;
    g_free(s->l1_table);
    s->l1_table = g_steal_pointer(&host);
    s->l1_size = s->hdr.l1_size = new_size;
    s->l1_table_offset = s->hdr.l1_table_offset = off;
    return old_bytes ? qcow2_free_clusters(s, old_off, l1_alloc_bytes(s, old_bytes / 8)) : 0;
}

int coroutine_fn qcow2_free_l2_entry_target(Qcow2State *s, uint64_t e)
{
    switch (qcow2_l2_entry_type(s, e)) {
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return qcow2_free_clusters(s, e & QCOW2_L2E_OFFSET_MASK, s->cluster_size);
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t off, len;
        qcow2_parse_compressed(s, e, &off, &len);
        return qcow2_free_clusters(s, off, len);
    }
    default:
        return 0;
    }
}

/* Replaces the entries of whole clusters; frees the old targets once unlinked on disk. */
static int coroutine_fn replace_entries(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                        uint64_t (*new_entry)(Qcow2State *, uint64_t),
                                        bool pass_discard)
{
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    for (uint64_t off = offset; off < offset + bytes; off += s->cluster_size) {
        uint64_t e, n;
        while (qcow2_wait_alloc(s, off >> s->cluster_bits)) {
        }
        int ret = qcow2_get_mapping(s, off, s->cluster_size, &e, &n);
        if (ret < 0)
            return ret;
        uint64_t ne = new_entry(s, e);
        if (ne == e)
            continue;
        if (l1_index(s, off) >= s->l1_size || !(s->l1_table[l1_index(s, off)] & QCOW2_L1E_OFFSET_MASK)) {
            if (ne == 0)
                continue;   /* nothing mapped there and nothing to record */
        }
        ret = qcow2_set_l2_entry(s, off, ne, &e);
        if (ret < 0)
            return ret;
        if ((e & QCOW2_L2E_OFFSET_MASK) != (ne & QCOW2_L2E_OFFSET_MASK) || (e & QCOW2_OFLAG_COMPRESSED))
            g_array_append_val(freed, e);
    }
    if (!freed->len)
        return 0;
    int ret = qcow2_write_caches(s);
    for (guint i = 0; ret == 0 && i < freed->len; i++) {
        uint64_t e = g_array_index(freed, uint64_t, i);
        ret = qcow2_free_l2_entry_target(s, e);
        uint64_t rc = 1;
        if (ret == 0 && pass_discard && qcow2_l2_entry_type(s, e) == QCOW2_CLUSTER_NORMAL &&
            qcow2_get_refcount(s, (e & QCOW2_L2E_OFFSET_MASK) >> s->cluster_bits, &rc) == 0 &&
            rc == 0)
            (void)node_co_pdiscard(s->node->file, e & QCOW2_L2E_OFFSET_MASK, s->cluster_size);
    }
    return ret;
}

static uint64_t zero_entry_keep(Qcow2State *s, uint64_t e)
{
    Qcow2ClusterType t = qcow2_l2_entry_type(s, e);
    if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) && (e & QCOW2_OFLAG_COPIED))
        return (e & (QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COPIED)) | QCOW2_OFLAG_ZERO;
    return QCOW2_OFLAG_ZERO;
}

static uint64_t zero_entry_unmap(Qcow2State *s, uint64_t e)
{
    return QCOW2_OFLAG_ZERO;
}

int coroutine_fn qcow2_zero_clusters(Qcow2State *s, uint64_t offset, uint64_t bytes, bool unmap)
{
    if (s->hdr.version < 3)
        return -ENOTSUP;
    return replace_entries(s, offset, bytes, unmap ? zero_entry_unmap : zero_entry_keep,
                           s->pass_discard_request);
}

static uint64_t discard_entry(Qcow2State *s, uint64_t e)
{
    if (s->discard_no_unref)
        return zero_entry_keep(s, e);
    /* v3 keeps the backing file's data hidden; v2 cannot express that. */
    if (s->hdr.version >= 3 && s->node->backing)
        return QCOW2_OFLAG_ZERO;
    return 0;
}

int coroutine_fn qcow2_discard_clusters(Qcow2State *s, uint64_t offset, uint64_t bytes)
{
    return replace_entries(s, offset, bytes, discard_entry, s->pass_discard_request);
}
