/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Repairing refcounts of a dirty image (lazy refcounts were on when the
 * writer stopped without closing the image).
 *
 * The refcount of every cluster is recomputed from what references it —
 * the header, the L1 table, the refcount table and blocks, L2 tables and
 * the data and compressed clusters they map — and every refcount that
 * differs is set to the computed value.  Clusters allocated while refcounts
 * were lazy get theirs, leaked clusters are freed.  Refcount blocks are
 * never lazy here (they are written before the table points at them), so
 * a referenced cluster without one means real corruption, and images with
 * internal snapshots are left to `qemu-img check -r all`.
 */

#include <errno.h>
#include <string.h>

#include "graph/error.h"
#include "drivers/qcow2/qcow2.h"

typedef struct Qcow2Counts {
    Qcow2State *s;
    uint32_t *n;
    uint64_t len;           /* clusters counted */
    const char *problem;
    uint64_t problem_offset;
} Qcow2Counts;

static void count_range(Qcow2Counts *c, uint64_t offset, uint64_t bytes)
{
    if (!bytes || c->problem)
        return;
    uint64_t first = offset >> c->s->cluster_bits;
    uint64_t last = (offset + bytes - 1) >> c->s->cluster_bits;
    if (last >= c->len) {
        c->problem = "a reference past the end of the file";
        c->problem_offset = offset;
        return;
    }
    for (uint64_t i = first; i <= last; i++)
        c->n[i]++;
}

static int coroutine_fn count_l2_table(Qcow2Counts *c, uint64_t l2_off, uint64_t *table)
{
    Qcow2State *s = c->s;
    int ret = qcow2_file_pread(s, l2_off, s->cluster_size, table);
    if (ret < 0)
        return ret;
    for (uint64_t i = 0; i < s->l2_entries; i++) {
        uint64_t e = GUINT64_FROM_BE(table[i]);
        switch (qcow2_l2_entry_type(s, e)) {
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            count_range(c, e & QCOW2_L2E_OFFSET_MASK, s->cluster_size);
            break;
        case QCOW2_CLUSTER_COMPRESSED: {
            uint64_t off, len;
            qcow2_parse_compressed(s, e, &off, &len);
            count_range(c, off, len);
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

static int coroutine_fn count_references(Qcow2Counts *c)
{
    Qcow2State *s = c->s;
    count_range(c, 0, s->cluster_size);
    count_range(c, s->l1_table_offset, (uint64_t)s->l1_size * 8);
    count_range(c, s->refcount_table_offset, s->refcount_table_size * 8);
    for (uint64_t i = 0; i < s->refcount_table_used; i++) {
        uint64_t block = s->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
        if (block)
            count_range(c, block, s->cluster_size);
    }
    g_autofree uint64_t *table = g_malloc(s->cluster_size);
    for (uint32_t i = 0; i < s->l1_size && !c->problem; i++) {
        uint64_t l2 = s->l1_table[i] & QCOW2_L1E_OFFSET_MASK;
        if (!l2)
            continue;
        count_range(c, l2, s->cluster_size);
        int ret = count_l2_table(c, l2, table);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* Sets every refcount that differs from the count; returns how many changed. */
static int64_t coroutine_fn fix_refcounts(Qcow2Counts *c)
{
    Qcow2State *s = c->s;
    int64_t changed = 0;
    for (uint64_t i = 0; i < c->len; i++) {
        uint64_t rc;
        int ret = qcow2_get_refcount(s, i, &rc);
        if (ret < 0)
            return ret;
        if (rc == c->n[i])
            continue;
        if (!qcow2_refblock_exists(s, i)) {
            c->problem = "a used cluster without a refcount block";
            c->problem_offset = i << s->cluster_bits;
            return 0;
        }
        ret = qcow2_update_refcount(s, i << s->cluster_bits, s->cluster_size,
                                    (int64_t)c->n[i] - (int64_t)rc);
        if (ret < 0)
            return ret;
        changed++;
    }
    return changed;
}

int coroutine_fn qcow2_repair_refcounts(Qcow2State *s, GError **errp)
{
    if (s->hdr.nb_snapshots || s->hdr.has_bitmaps) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: the image is dirty and has %s; repair it with "
                    "'qemu-img check -r all' or open it read-only", s->what,
                    s->hdr.nb_snapshots ? "internal snapshots" : "persistent bitmaps");
        return -ENOTSUP;
    }
    Qcow2Counts c = { .s = s, .len = qcow2_size_to_clusters(s, s->file_size) };
    c.n = g_try_new0(uint32_t, MAX(c.len, 1));
    if (!c.n) {
        bg_set_error_errno(errp, -ENOMEM, "%s: cannot repair refcounts", s->what);
        return -ENOMEM;
    }
    int ret = count_references(&c);
    int64_t changed = 0;
    if (ret == 0 && !c.problem) {
        changed = fix_refcounts(&c);
        ret = changed < 0 ? changed : 0;
    }
    g_free(c.n);
    if (c.problem) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "%s: cannot repair the dirty image: %s (0x%" PRIx64 "); try "
                    "'qemu-img check -r all'", s->what, c.problem, c.problem_offset);
        return -EIO;
    }
    if (ret == 0)
        ret = qcow2_write_caches(s);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot repair refcounts", s->what);
        return ret;
    }
    if (changed)
        g_message("%s: repaired %" PRId64 " refcounts of the dirty image", s->what, changed);
    s->free_cluster_index = 1;
    return 0;
}
