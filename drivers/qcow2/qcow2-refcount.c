/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 refcounts: the refcount table (kept in memory), refcount blocks
 * (through the refcount cache), cluster allocation, and growing the table.
 * Everything here runs under s->lock.
 *
 * Ordering: a new refcount block is written before the table entry that
 * points at it; a new refcount table is written before the header points at
 * it, and the old one is freed only afterwards.
 */

#include <errno.h>
#include <string.h>

#include "graph/error.h"
#include "drivers/qcow2/qcow2.h"

static uint64_t rb_get(const Qcow2State *s, const void *block, uint64_t i)
{
    const uint8_t *p = block;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        uint64_t bit = i << s->refcount_order;
        return (p[bit / 8] >> (bit % 8)) & ((1u << s->refcount_bits) - 1);
    }
    case 3: return p[i];
    case 4: return (uint64_t)p[2 * i] << 8 | p[2 * i + 1];
    case 5: return GUINT32_FROM_BE(((const uint32_t *)block)[i]);
    default: return GUINT64_FROM_BE(((const uint64_t *)block)[i]);
    }
}

static void rb_set(const Qcow2State *s, void *block, uint64_t i, uint64_t v)
{
    uint8_t *p = block;
    switch (s->refcount_order) {
    case 0: case 1: case 2: {
        uint64_t bit = i << s->refcount_order;
        uint8_t mask = ((1u << s->refcount_bits) - 1) << (bit % 8);
        p[bit / 8] = (p[bit / 8] & ~mask) | ((v << (bit % 8)) & mask);
        break;
    }
    case 3: p[i] = v; break;
    case 4: p[2 * i] = v >> 8; p[2 * i + 1] = v; break;
    case 5: ((uint32_t *)block)[i] = GUINT32_TO_BE(v); break;
    default: ((uint64_t *)block)[i] = GUINT64_TO_BE(v); break;
    }
}

static uint64_t refcount_max(const Qcow2State *s)
{
    return s->refcount_bits == 64 ? UINT64_MAX : (1ull << s->refcount_bits) - 1;
}

/* Host offset of the refcount block for table index idx, 0 if none. */
static uint64_t refblock_offset(const Qcow2State *s, uint64_t idx)
{
    return idx < s->refcount_table_size ? s->refcount_table[idx] & QCOW2_REFT_OFFSET_MASK : 0;
}

bool qcow2_refblock_exists(const Qcow2State *s, uint64_t cluster_index)
{
    return refblock_offset(s, cluster_index >> s->refblock_bits) != 0;
}

int coroutine_fn qcow2_refcount_init(Qcow2State *s, GError **errp)
{
    uint64_t bytes = (uint64_t)s->hdr.refcount_table_clusters << s->cluster_bits;
    s->refcount_table_offset = s->hdr.refcount_table_offset;
    s->refcount_table_size = bytes / 8;
    s->refcount_table = g_malloc(bytes);
    int ret = qcow2_file_pread(s, s->refcount_table_offset, bytes, s->refcount_table);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot read the refcount table", s->what);
        return ret;
    }
    for (uint64_t i = 0; i < s->refcount_table_size; i++) {
        uint64_t e = GUINT64_FROM_BE(s->refcount_table[i]);
        s->refcount_table[i] = e;
        uint64_t off = e & QCOW2_REFT_OFFSET_MASK;
        if (!e)
            continue;
        s->refcount_table_used = i + 1;
        if (qcow2_offset_into_cluster(s, e) || off == 0 ||
            off > s->file_size || s->file_size - off < s->cluster_size) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "%s: refcount block %" PRIu64 " at 0x%" PRIx64
                        " is misaligned or past the end of the file", s->what, i, e);
            return -EINVAL;
        }
    }
    if (!refblock_offset(s, 0)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: the first refcount block is missing", s->what);
        return -EINVAL;
    }
    return 0;
}

int coroutine_fn qcow2_get_refcount(Qcow2State *s, uint64_t cluster_index, uint64_t *ret)
{
    uint64_t off = refblock_offset(s, cluster_index >> s->refblock_bits);
    if (!off) {
        *ret = 0;
        return 0;
    }
    void *block;
    int r = qcow2_cache_get(s->refcount_cache, off, &block);
    if (r < 0)
        return r;
    *ret = rb_get(s, block, cluster_index & (s->refblock_entries - 1));
    qcow2_cache_put(s->refcount_cache, &block);
    return 0;
}

/* Writes one refcount table entry through (the sector containing it). */
static int coroutine_fn write_reftable_entry(Qcow2State *s, uint64_t idx)
{
    return qcow2_write_table_entry(s, s->refcount_table, s->refcount_table_size,
                                   s->refcount_table_offset, idx, QCOW2_OL_REFTABLE);
}

int coroutine_fn qcow2_update_refcount(Qcow2State *s, uint64_t offset, uint64_t len,
                                       int64_t delta)
{
    if (!len)
        return 0;
    uint64_t first = offset >> s->cluster_bits;
    uint64_t last = (offset + len - 1) >> s->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        uint64_t boff = refblock_offset(s, c >> s->refblock_bits);
        if (!boff) {
            qcow2_signal_corruption(s, "cluster 0x%" PRIx64 " has no refcount block",
                                    c << s->cluster_bits);
            return -EIO;
        }
        void *block;
        int ret = qcow2_cache_get(s->refcount_cache, boff, &block);
        if (ret < 0)
            return ret;
        uint64_t i = c & (s->refblock_entries - 1);
        uint64_t v = rb_get(s, block, i);
        if ((delta < 0 && v < (uint64_t)-delta) ||
            (delta > 0 && refcount_max(s) - v < (uint64_t)delta)) {
            qcow2_cache_put(s->refcount_cache, &block);
            if (delta < 0)
                qcow2_signal_corruption(s, "refcount of cluster 0x%" PRIx64 " drops below 0",
                                        c << s->cluster_bits);
            return delta < 0 ? -EIO : -ERANGE;
        }
        v += delta;
        rb_set(s, block, i, v);
        qcow2_cache_mark_dirty(s->refcount_cache, block);
        qcow2_cache_put(s->refcount_cache, &block);
        if (v == 0 && c < s->free_cluster_index)
            s->free_cluster_index = c;
    }
    return 0;
}

/*
 * Finds n free clusters in a row from the free-cluster hint, a refcount
 * block at a time.  Clusters with no refcount block count as free.
 */
static int coroutine_fn find_free_run(Qcow2State *s, uint64_t n, uint64_t *ret_start)
{
    uint64_t start = MAX(s->free_cluster_index, 1);
    uint64_t c = start;
    while (c - start < n) {
        uint64_t idx = c >> s->refblock_bits;
        uint64_t block_end = (idx + 1) << s->refblock_bits;
        uint64_t boff = refblock_offset(s, idx);
        if (!boff) {
            c = block_end;
            continue;
        }
        void *block;
        int ret = qcow2_cache_get(s->refcount_cache, boff, &block);
        if (ret < 0)
            return ret;
        for (; c < block_end && c - start < n; c++) {
            if (rb_get(s, block, c & (s->refblock_entries - 1)))
                start = c + 1;
        }
        qcow2_cache_put(s->refcount_cache, &block);
    }
    *ret_start = start;
    return 0;
}

static int coroutine_fn grow_reftable(Qcow2State *s, uint64_t needed_idx);

/*
 * Creates the missing refcount block idx at the first cluster of the range
 * it describes (which is free, having no block) and links it.
 */
static int coroutine_fn create_refblock(Qcow2State *s, uint64_t idx)
{
    if (idx >= s->refcount_table_size)
        return grow_reftable(s, idx);
    uint64_t off = (idx << s->refblock_bits) << s->cluster_bits;
    void *block;
    int ret = qcow2_cache_get_empty(s->refcount_cache, off, &block);
    if (ret < 0)
        return ret;
    rb_set(s, block, 0, 1);
    qcow2_cache_mark_dirty(s->refcount_cache, block);
    qcow2_cache_put(s->refcount_cache, &block);
    ret = qcow2_cache_write(s->refcount_cache);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret < 0)
        return ret;
    s->refcount_table[idx] = off;
    ret = write_reftable_entry(s, idx);
    if (ret < 0)
        s->refcount_table[idx] = 0;
    else
        s->refcount_table_used = MAX(s->refcount_table_used, idx + 1);
    return ret;
}

int64_t coroutine_fn qcow2_alloc_clusters(Qcow2State *s, uint64_t n)
{
    /*
     * Each round creates at least one missing refcount block; a run longer
     * than the free space between blocks placed at their range starts could
     * chase them forever, so give up after a bound.
     */
    for (unsigned round = 0;; round++) {
        if (round > 1024) {
            g_warning("%s: cannot find %" PRIu64 " contiguous free clusters", s->what, n);
            return -ENOSPC;
        }
        uint64_t start;
        int ret = find_free_run(s, n, &start);
        if (ret < 0)
            return ret;
        bool changed = false;
        for (uint64_t idx = start >> s->refblock_bits;
             idx <= (start + n - 1) >> s->refblock_bits; idx++) {
            if (!refblock_offset(s, idx)) {
                ret = create_refblock(s, idx);
                if (ret < 0)
                    return ret;
                changed = true;
                break;
            }
        }
        if (changed)
            continue;   /* the new metadata may sit in the run: search again */
        uint64_t off = start << s->cluster_bits;
        if ((start + n) >> (56 - s->cluster_bits))
            return -EFBIG;
        ret = qcow2_update_refcount(s, off, n << s->cluster_bits, 1);
        if (ret < 0)
            return ret;
        s->free_cluster_index = start + n;
        return off;
    }
}

int coroutine_fn qcow2_free_clusters(Qcow2State *s, uint64_t offset, uint64_t len)
{
    int ret = qcow2_update_refcount(s, offset, len, -1);
    if (ret < 0)
        return ret;
    uint64_t start = qcow2_start_of_cluster(s, offset);
    uint64_t end = qcow2_start_of_cluster(s, offset + len - 1) + s->cluster_size;
    qcow2_cache_discard(s->l2_cache, start, end - start);
    return 0;
}

/* ---- growing the refcount table ---- */

typedef struct GrowPlan {
    uint64_t table_entries;
    uint64_t table_clusters;
    uint64_t start;             /* first cluster of the new area */
    GArray *blocks;             /* uint64_t table indices of new blocks */
} GrowPlan;

static void plan_missing_blocks(Qcow2State *s, GrowPlan *p, uint64_t m)
{
    g_array_set_size(p->blocks, 0);
    for (uint64_t idx = p->start >> s->refblock_bits;
         idx <= (p->start + m - 1) >> s->refblock_bits; idx++) {
        if (!refblock_offset(s, idx))
            g_array_append_val(p->blocks, idx);
    }
}

static int coroutine_fn plan_grow(Qcow2State *s, uint64_t needed_idx, GrowPlan *p)
{
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t want = MAX(needed_idx + 1, s->refcount_table_size * 2);
    for (;;) {
        p->table_entries = (want + per_cluster - 1) / per_cluster * per_cluster;
        p->table_clusters = p->table_entries / per_cluster;
        if (p->table_entries * 8 > QCOW2_MAX_REFTABLE_BYTES)
            return -EFBIG;
        uint64_t k = 0;
        for (;;) {
            int ret = find_free_run(s, p->table_clusters + k, &p->start);
            if (ret < 0)
                return ret;
            plan_missing_blocks(s, p, p->table_clusters + k);
            if (p->blocks->len <= k)
                break;
            k = p->blocks->len;
        }
        uint64_t last = p->blocks->len ?
            g_array_index(p->blocks, uint64_t, p->blocks->len - 1) : 0;
        if (last < p->table_entries)
            return 0;
        want = last + 1;
    }
}

/* Sets the refcount of every cluster in the new area to 1. */
static int coroutine_fn grow_set_refcounts(Qcow2State *s, GrowPlan *p, uint8_t *blocks)
{
    uint64_t m = p->table_clusters + p->blocks->len;
    for (uint64_t c = p->start; c < p->start + m; c++) {
        uint64_t idx = c >> s->refblock_bits;
        guint j;
        for (j = 0; j < p->blocks->len; j++) {
            if (g_array_index(p->blocks, uint64_t, j) == idx)
                break;
        }
        if (j < p->blocks->len) {
            rb_set(s, blocks + j * s->cluster_size, c & (s->refblock_entries - 1), 1);
            continue;
        }
        int ret = qcow2_update_refcount(s, c << s->cluster_bits, s->cluster_size, 1);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int coroutine_fn grow_write(Qcow2State *s, GrowPlan *p, uint8_t *blocks,
                                   uint64_t *table)
{
    uint64_t table_off = p->start << s->cluster_bits;
    uint64_t blocks_off = table_off + (p->table_clusters << s->cluster_bits);
    int ret = 0;
    if (p->blocks->len)
        ret = qcow2_file_pwrite(s, blocks_off, p->blocks->len << s->cluster_bits, blocks);
    if (ret == 0)
        ret = qcow2_cache_write(s->refcount_cache);
    if (ret == 0)
        ret = qcow2_file_pwrite(s, table_off, p->table_entries * 8, table);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret < 0)
        return ret;
    uint8_t hdr[12];
    uint64_t be_off = GUINT64_TO_BE(table_off);
    uint32_t be_cl = GUINT32_TO_BE((uint32_t)p->table_clusters);
    memcpy(hdr, &be_off, 8);
    memcpy(hdr + 8, &be_cl, 4);
    ret = qcow2_header_write(s, 48, hdr, sizeof(hdr));
    if (ret == 0)
        ret = qcow2_file_flush(s);
    return ret;
}

static int coroutine_fn grow_reftable(Qcow2State *s, uint64_t needed_idx)
{
    GrowPlan p = { .blocks = g_array_new(FALSE, FALSE, sizeof(uint64_t)) };
    int ret = plan_grow(s, needed_idx, &p);
    if (ret < 0) {
        g_array_free(p.blocks, TRUE);
        return ret;
    }
    g_autofree uint8_t *blocks = g_malloc0(MAX(1u, p.blocks->len) << s->cluster_bits);
    g_autofree uint64_t *table = g_malloc0(p.table_entries * 8);
    g_autofree uint64_t *host_table = g_malloc0(p.table_entries * 8);
    memcpy(host_table, s->refcount_table, s->refcount_table_size * 8);
    uint64_t blocks_off = (p.start + p.table_clusters) << s->cluster_bits;
    for (guint j = 0; j < p.blocks->len; j++)
        host_table[g_array_index(p.blocks, uint64_t, j)] = blocks_off + ((uint64_t)j << s->cluster_bits);
    for (uint64_t i = 0; i < p.table_entries; i++)
        table[i] = GUINT64_TO_BE(host_table[i]);

    ret = grow_set_refcounts(s, &p, blocks);
    if (ret == 0)
        ret = grow_write(s, &p, blocks, table);
    if (ret == 0) {
        uint64_t old_off = s->refcount_table_offset;
        uint64_t old_len = s->refcount_table_size * 8;
        g_free(s->refcount_table);
        s->refcount_table = g_steal_pointer(&host_table);
        s->refcount_table_size = p.table_entries;
        for (guint j = 0; j < p.blocks->len; j++)
            s->refcount_table_used = MAX(s->refcount_table_used,
                                         g_array_index(p.blocks, uint64_t, j) + 1);
        s->refcount_table_offset = p.start << s->cluster_bits;
        s->hdr.refcount_table_offset = s->refcount_table_offset;
        s->hdr.refcount_table_clusters = p.table_clusters;
        s->free_cluster_index = MAX(s->free_cluster_index, p.start + p.table_clusters + p.blocks->len);
        ret = qcow2_free_clusters(s, old_off, old_len);
    }
    g_array_free(p.blocks, TRUE);
    return ret;
}

int coroutine_fn qcow2_write_caches(Qcow2State *s)
{
    int ret = qcow2_cache_write(s->refcount_cache);
    if (ret == 0 && qcow2_cache_has_dirty(s->l2_cache)) {
        ret = qcow2_file_flush(s);
        if (ret == 0)
            ret = qcow2_cache_write(s->l2_cache);
    }
    if (ret == 0)
        ret = qcow2_file_flush(s);
    return ret;
}
