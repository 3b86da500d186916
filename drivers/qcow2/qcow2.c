/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 format driver: open / close, options, flush, resize, the overlap
 * check, and the driver and option tables.  The format is QEMU's
 * (docs/interop/qcow2.txt); images stay byte-compatible with qemu-img.
 * See qcow2.h for the concurrency and write-ordering scheme.
 */

#include <errno.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/io.h"
#include "drivers/qcow2/qcow2.h"

#define QCOW2_DEFAULT_L2_CACHE_MAX (32u * 1024 * 1024)
#define QCOW2_MIN_REFCOUNT_CACHE_CLUSTERS 4

/* ---- file I/O ---- */

int coroutine_fn qcow2_file_pread(Qcow2State *s, uint64_t off, uint64_t len, void *buf)
{
    return node_co_pread(s->node->file, off, len, buf, 0);
}

/*
 * The request path does not write past the end of a node: grow the file
 * first, in steps of an eighth of its size (at least 1 MiB, at most
 * 64 MiB; sparse, so cheap) to keep the truncate calls few while an image
 * fills.  Each is a worker round trip that every other write allocating
 * at the end waits behind (grow_lock): in 1 MiB steps, a mirror or backup
 * into a fresh 1 GiB image made 1024 of them.
 */
int coroutine_fn qcow2_file_grow(Qcow2State *s, uint64_t end)
{
    BlockNode *file = s->node->file->node;
    if (end <= file->size)
        return 0;
    co_mutex_lock(&s->grow_lock);   /* concurrent growers must not shrink it back */
    int ret = 0;
    if (end > file->size) {
        uint64_t step = MAX(s->cluster_size, MAX(1u << 20, MIN(file->size / 8, 64u << 20)));
        uint64_t new_size = (end + step - 1) / step * step;
        ret = node_co_truncate(s->node->file, new_size, NULL);
        if (ret < 0)
            ret = node_co_truncate(s->node->file, end, NULL);
    }
    co_mutex_unlock(&s->grow_lock);
    return ret;
}

static void note_write_end(Qcow2State *s, uint64_t end)
{
    if (end > s->file_size)
        s->file_size = end;
}

int coroutine_fn qcow2_file_pwrite(Qcow2State *s, uint64_t off, uint64_t len, const void *buf)
{
    int ret = qcow2_file_grow(s, off + len);
    if (ret == 0)
        ret = node_co_pwrite(s->node->file, off, len, buf, 0);
    if (ret == 0)
        note_write_end(s, off + len);
    return ret;
}

int coroutine_fn qcow2_write_table_entry(Qcow2State *s, const uint64_t *table, uint64_t n_entries,
                                         uint64_t table_offset, uint64_t idx, unsigned ol_kind)
{
    uint64_t sector = qcow2_sector_size(s);
    uint64_t per = sector / 8;
    uint64_t first = idx & ~(per - 1);
    g_autofree uint64_t *buf = g_malloc(sector);
    for (uint64_t i = 0; i < per; i++)
        buf[i] = GUINT64_TO_BE(first + i < n_entries ? table[first + i] : 0);
    uint64_t off = table_offset + first * 8;
    int ret = qcow2_check_overlap(s, off, sector, ol_kind);
    if (ret < 0)
        return ret;
    return qcow2_file_pwrite(s, off, sector, buf);
}

int coroutine_fn qcow2_file_preadv(Qcow2State *s, uint64_t off, uint64_t len, IOVector *qiov)
{
    return node_co_preadv(s->node->file, off, len, qiov, 0);
}

int coroutine_fn qcow2_file_pwritev(Qcow2State *s, uint64_t off, uint64_t len, IOVector *qiov)
{
    int ret = qcow2_file_grow(s, off + len);
    if (ret == 0)
        ret = node_co_pwritev(s->node->file, off, len, qiov, 0);
    if (ret == 0)
        note_write_end(s, off + len);
    return ret;
}

int coroutine_fn qcow2_file_copy_range_to(Qcow2State *s, uint64_t off, uint64_t len,
                                          BlockNode *src, uint64_t src_off)
{
    int ret = qcow2_file_grow(s, off + len);
    if (ret == 0)
        ret = node_co_copy_range_to(src, src_off, s->node->file, off, len);
    if (ret == 0)
        note_write_end(s, off + len);
    return ret;
}

int coroutine_fn qcow2_file_flush(Qcow2State *s)
{
    return node_co_flush(s->node->file);
}

/* ---- overlap check ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static const char *overlap_find(Qcow2State *s, uint64_t off, uint64_t len, unsigned ignore)
{
    if (!(ignore & QCOW2_OL_HEADER) && ranges_overlap(off, len, 0, s->cluster_size))
        return "the header";
    if (!(ignore & QCOW2_OL_L1) && s->l1_size &&
        ranges_overlap(off, len, s->l1_table_offset, (uint64_t)s->l1_size * 8))
        return "the L1 table";
    if (!(ignore & QCOW2_OL_REFTABLE) &&
        ranges_overlap(off, len, s->refcount_table_offset, s->refcount_table_size * 8))
        return "the refcount table";
    if (s->hdr.nb_snapshots && ranges_overlap(off, len, s->hdr.snapshots_offset, s->cluster_size))
        return "the snapshot table";
    if (s->overlap_check < QCOW2_OVERLAP_CACHED)
        return NULL;
    for (uint64_t i = 0; !(ignore & QCOW2_OL_REFBLOCK) && i < s->refcount_table_used; i++) {
        uint64_t b = s->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
        if (b && ranges_overlap(off, len, b, s->cluster_size))
            return "a refcount block";
    }
    for (uint64_t i = 0; !(ignore & QCOW2_OL_L2) && i < s->l1_size; i++) {
        uint64_t t = s->l1_table[i] & QCOW2_L1E_OFFSET_MASK;
        if (t && ranges_overlap(off, len, t, s->cluster_size))
            return "an L2 table";
    }
    return NULL;
}

int coroutine_fn qcow2_check_overlap(Qcow2State *s, uint64_t off, uint64_t len, unsigned ignore)
{
    if (s->overlap_check == QCOW2_OVERLAP_NONE || !s->refcount_table)
        return 0;
    const char *what = overlap_find(s, off, len, ignore);
    if (!what)
        return 0;
    qcow2_signal_corruption(s, "a write to 0x%" PRIx64 " (%" PRIu64 " bytes) would overwrite %s",
                            off, len, what);
    return -EIO;
}

/* ---- options ---- */

static const char *const overlap_values[] = {
    [QCOW2_OVERLAP_NONE] = "none", [QCOW2_OVERLAP_CONSTANT] = "constant",
    [QCOW2_OVERLAP_CACHED] = "cached", [QCOW2_OVERLAP_ALL] = "all", NULL,
};

typedef struct Qcow2Options {
    uint64_t l2_cache_size;
    uint64_t l2_entry_size;
    uint64_t refcount_cache_size;
    uint64_t cache_clean_interval;
    bool lazy_refcounts;
    bool pass_discard_request;
    bool pass_discard_other;
    bool discard_no_unref;
    Qcow2OverlapCheck overlap_check;
} Qcow2Options;

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

/*
 * The refcount blocks a file twice the size of the fully allocated image
 * (data and L2 tables) needs: a larger refcount cache could never fill.
 */
static uint64_t max_refcount_cache(const Qcow2State *s, uint64_t max_l2)
{
    uint64_t clusters = 2 * (qcow2_size_to_clusters(s, s->hdr.size) + max_l2 / s->cluster_size);
    uint64_t blocks = (clusters + s->refblock_entries - 1) / s->refblock_entries;
    return MAX(blocks, QCOW2_MIN_REFCOUNT_CACHE_CLUSTERS) * s->cluster_size;
}

static bool read_options(Qcow2State *s, const OptionSet *opts, Qcow2Options *o, GError **errp)
{
    uint64_t max_l2 = qcow2_size_to_clusters(s, s->hdr.size) * 8;
    max_l2 = (max_l2 + s->cluster_size - 1) & ~(s->cluster_size - 1);
    /*
     * A cache's slots are allocated at open, 40 bytes each: sizes beyond
     * what the image can use are capped (as QEMU caps the L2 cache), or a
     * bus caller asking for a terabyte would abort the daemon.
     */
    o->l2_cache_size = option_set_is_set(opts, "l2-cache-size") ?
        MIN(option_set_get_uint(opts, "l2-cache-size"), max_l2) :
        MIN(max_l2, QCOW2_DEFAULT_L2_CACHE_MAX);
    o->l2_entry_size = option_set_is_set(opts, "l2-cache-entry-size") ?
        option_set_get_uint(opts, "l2-cache-entry-size") : s->cluster_size;
    o->refcount_cache_size = option_set_is_set(opts, "refcount-cache-size") ?
        MIN(option_set_get_uint(opts, "refcount-cache-size"), max_refcount_cache(s, max_l2)) :
        QCOW2_MIN_REFCOUNT_CACHE_CLUSTERS * s->cluster_size;
    o->cache_clean_interval = option_set_get_uint(opts, "cache-clean-interval");
    o->lazy_refcounts = option_set_is_set(opts, "lazy-refcounts") ?
        option_set_get_bool(opts, "lazy-refcounts") :
        !!(s->hdr.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    o->pass_discard_request = option_set_is_set(opts, "pass-discard-request") ?
        option_set_get_bool(opts, "pass-discard-request") : s->node->discard_unmap;
    o->pass_discard_other = option_set_get_bool(opts, "pass-discard-other");
    o->discard_no_unref = option_set_get_bool(opts, "discard-no-unref");
    o->overlap_check = option_set_get_enum(opts, "overlap-check");
    if (!is_pow2(o->l2_entry_size) || o->l2_entry_size < 512 || o->l2_entry_size > s->cluster_size) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: l2-cache-entry-size %" PRIu64 " must be a power of two between 512"
                    " and the cluster size %" PRIu64, s->what, o->l2_entry_size, s->cluster_size);
        return false;
    }
    if (o->l2_cache_size / o->l2_entry_size > INT32_MAX ||
        o->refcount_cache_size / s->cluster_size > INT32_MAX) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: l2-cache-size or refcount-cache-size is too large", s->what);
        return false;
    }
    if (o->lazy_refcounts && s->hdr.version < 3) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: lazy-refcounts requires a version 3 image (compat=1.1)", s->what);
        return false;
    }
    return true;
}

static void apply_options(Qcow2State *s, const Qcow2Options *o)
{
    s->lazy_refcounts = o->lazy_refcounts;
    s->pass_discard_request = o->pass_discard_request;
    s->pass_discard_other = o->pass_discard_other;
    s->discard_no_unref = o->discard_no_unref;
    s->overlap_check = o->overlap_check;
    s->cache_clean_interval = o->cache_clean_interval;
}

static void make_caches(Qcow2State *s, const Qcow2Options *o)
{
    s->l2_slice_size = o->l2_entry_size;
    s->l2_cache = qcow2_cache_new(s, o->l2_cache_size / o->l2_entry_size, o->l2_entry_size,
                                  QCOW2_OL_L2);
    s->refcount_cache = qcow2_cache_new(s, o->refcount_cache_size / s->cluster_size,
                                        s->cluster_size, QCOW2_OL_REFBLOCK);
}

/* ---- cache cleaning timer ---- */

static int clean_timer_cb(sd_event_source *src, uint64_t usec, void *opaque)
{
    Qcow2State *s = opaque;
    if (!s->lock.locked) {
        qcow2_cache_clean_unused(s->l2_cache);
        qcow2_cache_clean_unused(s->refcount_cache);
    }
    sd_event_source_set_time_relative(src, s->cache_clean_interval * 1000000);
    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    return 0;
}

static void clean_timer_update(Qcow2State *s)
{
    sd_event_source *src = s->clean_timer;
    if (src) {
        sd_event_source_disable_unref(src);
        s->clean_timer = NULL;
    }
    if (!s->cache_clean_interval)
        return;
    if (sd_event_add_time_relative(aio_loop(), &src, CLOCK_MONOTONIC,
                                   s->cache_clean_interval * 1000000, 0,
                                   clean_timer_cb, s) < 0)
        return;
    s->clean_timer = src;
}

/* ---- open / close ---- */

/* Reads the first 4 KiB, and the rest of the first cluster only if the header needs it. */
static int coroutine_fn read_header(Qcow2State *s, GError **errp)
{
    uint64_t len = MIN(s->file_size, 4096);
    if (len < QCOW2_V2_HEADER_LEN) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: file is too short (%" PRIu64 " bytes) for a qcow2 header", s->what, len);
        return -EINVAL;
    }
    g_autofree uint8_t *buf = g_malloc(len);
    int ret = qcow2_file_pread(s, 0, len, buf);
    size_t need = ret < 0 ? 0 : MIN(qcow2_header_bytes_needed(buf, len), s->file_size);
    if (ret == 0 && need > len) {
        buf = g_realloc(buf, need);
        ret = qcow2_file_pread(s, len, need - len, buf + len);
        len = need;
    }
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot read the header", s->what);
        return ret;
    }
    return qcow2_header_parse(buf, len, s->file_size, s->what, &s->hdr, errp) ? 0 : -EINVAL;
}

static void set_geometry(Qcow2State *s)
{
    s->cluster_bits = s->hdr.cluster_bits;
    s->cluster_size = 1ull << s->cluster_bits;
    s->l2_bits = s->cluster_bits - 3;
    s->l2_entries = 1ull << s->l2_bits;
    s->refcount_order = s->hdr.refcount_order;
    s->refcount_bits = 1u << s->refcount_order;
    s->refblock_bits = s->cluster_bits + 3 - s->refcount_order;
    s->refblock_entries = 1ull << s->refblock_bits;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1ull << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (1ull << s->csize_shift) - 1;
}

static bool check_metadata_layout(Qcow2State *s, GError **errp)
{
    const char *hit = NULL;
    if (s->l1_size && ranges_overlap(s->l1_table_offset, (uint64_t)s->l1_size * 8,
                                     s->refcount_table_offset, s->refcount_table_size * 8))
        hit = "the L1 table overlaps the refcount table";
    for (uint64_t i = 0; !hit && i < s->refcount_table_used; i++) {
        uint64_t b = s->refcount_table[i] & QCOW2_REFT_OFFSET_MASK;
        if (b && overlap_find(s, b, s->cluster_size, QCOW2_OL_REFBLOCK))
            hit = "a refcount block overlaps other metadata";
    }
    if (hit)
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s: %s", s->what, hit);
    return !hit;
}

/* Read-write open: refuse what we cannot keep consistent, clear autoclear bits. */
static int coroutine_fn open_writable(Qcow2State *s, GError **errp)
{
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "%s: the image is marked corrupt; it can only be opened read-only "
                    "(repair it with 'qemu-img check -r all')", s->what);
        return -EACCES;
    }
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        /* Lazy refcounts were not written back: rebuild them, then mark clean. */
        int ret = qcow2_repair_refcounts(s, errp);
        if (ret < 0)
            return ret;
        s->dirty_on_disk = true;
        ret = qcow2_mark_clean(s);
        if (ret < 0) {
            bg_set_error_errno(errp, ret, "%s: cannot clear the dirty bit", s->what);
            return ret;
        }
    }
    /* Autoclear bits of features we do not maintain go; the bitmaps bit stays. */
    uint64_t keep = s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS;
    if (s->hdr.autoclear_features != keep) {
        s->hdr.autoclear_features = keep;
        int ret = qcow2_header_write_features(s);
        if (ret == 0)
            ret = qcow2_file_flush(s);
        if (ret < 0) {
            bg_set_error_errno(errp, ret, "%s: cannot update the header", s->what);
            return ret;
        }
    }
    return 0;
}

static void qcow2_free_state(Qcow2State *s)
{
    if (s->clean_timer)
        sd_event_source_disable_unref(s->clean_timer);
    s->clean_timer = NULL;
    qcow2_cache_free(s->l2_cache);
    qcow2_cache_free(s->refcount_cache);
    s->l2_cache = s->refcount_cache = NULL;
    g_clear_pointer(&s->l1_table, g_free);
    g_clear_pointer(&s->refcount_table, g_free);
    g_clear_pointer(&s->allocs, g_hash_table_unref);
    qcow2_bitmaps_free(s);
    qcow2_header_clear(&s->hdr);
    g_clear_pointer(&s->what, g_free);
}

static int coroutine_fn qcow2_do_open(Qcow2State *s, const OptionSet *opts, GError **errp)
{
    int ret = read_header(s, errp);
    if (ret < 0)
        return ret;
    set_geometry(s);
    Qcow2Options o;
    if (!read_options(s, opts, &o, errp))
        return -EINVAL;
    apply_options(s, &o);
    make_caches(s, &o);
    ret = qcow2_refcount_init(s, errp);
    if (ret == 0)
        ret = qcow2_l1_init(s, errp);
    if (ret < 0)
        return ret;
    if (!check_metadata_layout(s, errp))
        return -EINVAL;
    s->free_cluster_index = 1;
    if (s->writable)
        ret = open_writable(s, errp);
    return ret;
}

static int coroutine_fn qcow2_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    Qcow2State *s = node->opaque;
    BlockNode *file = node->file->node;
    s->node = node;
    s->what = g_strdup_printf("qcow2 image '%s'", file->filename ? file->filename : file->name);
    s->file_size = file->size;
    s->writable = node->writable;
    s->allocs = g_hash_table_new(g_int64_hash, g_int64_equal);
    co_mutex_init(&s->lock);
    co_mutex_init(&s->grow_lock);
    int ret = qcow2_do_open(s, opts, errp);
    if (ret < 0) {
        qcow2_free_state(s);
        return ret;
    }
    node->size = s->hdr.size;
    ret = qcow2_bitmaps_load(s, errp);
    if (ret == 0 && (ret = qcow2_bitmaps_mark_in_use(s)) < 0)
        bg_set_error_errno(errp, ret, "%s: cannot mark the bitmaps in use", s->what);
    if (ret < 0) {
        qcow2_free_state(s);
        return ret;
    }
    g_free(node->backing_filename);
    g_free(node->backing_format);
    node->backing_filename = g_strdup(s->hdr.backing_file);
    node->backing_format = g_strdup(s->hdr.backing_format);
    clean_timer_update(s);
    return 0;
}

static int coroutine_fn qcow2_co_flush(BlockNode *node)
{
    Qcow2State *s = node->opaque;
    co_mutex_lock(&s->lock);
    int ret = qcow2_write_caches(s);
    co_mutex_unlock(&s->lock);
    return ret;
}

static void coroutine_fn qcow2_close(BlockNode *node)
{
    Qcow2State *s = node->opaque;
    if (s->writable && s->l2_cache) {
        co_mutex_lock(&s->lock);
        (void)qcow2_bitmaps_store(s);   /* warns itself; the bitmaps stay in use on disk */
        if (qcow2_write_caches(s) < 0 || qcow2_mark_clean(s) < 0)
            g_warning("%s: could not write back metadata at close", s->what);
        co_mutex_unlock(&s->lock);
    }
    qcow2_free_state(s);
}

static int coroutine_fn qcow2_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    Qcow2State *s = node->opaque;
    if (size < node->size) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: shrinking a qcow2 image is not supported", s->what);
        return -ENOTSUP;
    }
    if (size % 512) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: the new size %" PRIu64 " is not a multiple of 512", s->what, size);
        return -EINVAL;
    }
    if (size == node->size)
        return 0;
    int ret = s->corrupt ? -EIO : qcow2_prepare_write(s);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot grow to %" PRIu64 " bytes", s->what, size);
        return ret;
    }
    co_mutex_lock(&s->lock);
    ret = qcow2_grow_l1(s, qcow2_l1_entries_for(s->cluster_bits, size));
    if (ret == 0) {
        uint64_t be = GUINT64_TO_BE(size);
        ret = qcow2_header_write(s, 24, &be, 8);
    }
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret == 0) {
        s->hdr.size = size;
        node_set_size(node, size);
    }
    co_mutex_unlock(&s->lock);
    if (ret < 0)
        bg_set_error_errno(errp, ret, "%s: cannot grow to %" PRIu64 " bytes", s->what, size);
    return ret;
}

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    if (len >= 8 && buf[0] == 'Q' && buf[1] == 'F' && buf[2] == 'I' && buf[3] == 0xfb)
        return 100;
    return 0;
}

/* ---- reopen ---- */

int coroutine_fn qcow2_prepare_write(Qcow2State *s)
{
    if (!s->autoclear_pending)
        return 0;
    co_mutex_lock(&s->lock);
    int ret = 0;
    if (s->autoclear_pending) {
        s->hdr.autoclear_features &= QCOW2_AUTOCLEAR_BITMAPS;
        ret = qcow2_header_write_features(s);
        if (ret == 0)
            ret = qcow2_file_flush(s);
        if (ret == 0)
            ret = qcow2_bitmaps_mark_in_use(s);
        if (ret == 0)
            s->autoclear_pending = false;
    }
    co_mutex_unlock(&s->lock);
    return ret;
}

/* A read-only -> read-write reopen: what open_writable refuses, without I/O. */
static int check_becoming_writable(Qcow2State *s, GError **errp)
{
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "%s: the image is marked corrupt; it can only be opened read-only", s->what);
        return -EACCES;
    }
    if (s->hdr.incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: the image is dirty; add it read-write to repair its refcounts", s->what);
        return -ENOTSUP;
    }
    return 0;
}

/*
 * The core has staged the new writability in node->writable; the file
 * child still has its old permissions, so a node going read-only can write
 * everything back here.
 */
static int coroutine_fn qcow2_reopen_prepare(BlockNode *node, const OptionSet *new_opts,
                                             void **ret_state, GError **errp)
{
    Qcow2State *s = node->opaque;
    Qcow2Options *o = g_new0(Qcow2Options, 1);
    if (!read_options(s, new_opts, o, errp) ||
        (node->writable && !s->writable && check_becoming_writable(s, errp) < 0)) {
        g_free(o);
        return -EINVAL;
    }
    /* New caches start empty: write the old ones back now, while we may do I/O. */
    co_mutex_lock(&s->lock);
    int ret = s->writable && !node->writable ? qcow2_bitmaps_store(s) : 0;
    if (ret == 0 && s->writable)
        ret = qcow2_write_caches(s);
    if (ret == 0 && ((s->lazy_refcounts && !o->lazy_refcounts) || !node->writable))
        ret = qcow2_mark_clean(s);
    co_mutex_unlock(&s->lock);
    if (ret < 0) {
        bg_set_error_errno(errp, ret, "%s: cannot write back metadata", s->what);
        g_free(o);
        return ret;
    }
    *ret_state = o;
    return 0;
}

static void qcow2_reopen_commit(BlockNode *node, void *state)
{
    Qcow2State *s = node->opaque;
    Qcow2Options *o = state;
    apply_options(s, o);
    if (node->writable && !s->writable && s->hdr.autoclear_features)
        s->autoclear_pending = true;
    s->writable = node->writable;
    if (!qcow2_cache_has_dirty(s->l2_cache) && !qcow2_cache_has_dirty(s->refcount_cache)) {
        qcow2_cache_free(s->l2_cache);
        qcow2_cache_free(s->refcount_cache);
        make_caches(s, o);
    }
    clean_timer_update(s);
    g_free(o);
}

static void qcow2_reopen_abort(BlockNode *node, void *state)
{
    g_free(state);
}

/* ---- hand-over to another host ---- */

static int coroutine_fn qcow2_co_inactivate(BlockNode *node)
{
    Qcow2State *s = node->opaque;
    if (!s->writable)
        return 0;
    co_mutex_lock(&s->lock);
    int ret = qcow2_bitmaps_store(s);
    if (ret == 0)
        ret = qcow2_write_caches(s);
    if (ret == 0)
        ret = qcow2_mark_clean(s);
    co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * Another host may have changed everything while the node was inactive:
 * drop header, L1, L2 and refcounts (inactivation wrote them back) and open
 * the image again with the same options (QEMU's qcow2_co_invalidate_cache).
 */
static int coroutine_fn qcow2_co_activate(BlockNode *node, GError **errp)
{
    Qcow2State *s = node->opaque;
    qcow2_free_state(s);
    memset(s, 0, sizeof(*s));
    return qcow2_open(node, node->options, errp);
}

/* ---- tables ---- */

static const OptionSpec qcow2_options[] = {
    { .name = "l2-cache-size", .type = OPTION_SIZE, .mutable_on_reopen = true,
      .description = "Maximum L2 table cache size (default: enough to map the whole image, at most 32M)" },
    { .name = "l2-cache-entry-size", .type = OPTION_SIZE, .mutable_on_reopen = true,
      .description = "Size of an L2 cache entry, a power of two from 512 to the cluster size (default: the cluster size)" },
    { .name = "refcount-cache-size", .type = OPTION_SIZE, .mutable_on_reopen = true,
      .description = "Maximum refcount block cache size (default: 4 clusters)" },
    { .name = "cache-clean-interval", .type = OPTION_UINT, .default_value = "600",
      .mutable_on_reopen = true,
      .description = "Seconds after which unused cache entries are dropped (0: never)" },
    { .name = "lazy-refcounts", .type = OPTION_BOOL, .mutable_on_reopen = true,
      .description = "Postpone refcount updates, keeping the image marked dirty (default: from the image header)" },
    { .name = "pass-discard-request", .type = OPTION_BOOL, .mutable_on_reopen = true,
      .description = "Pass guest discard requests to the image file (default: on with discard=unmap)" },
    { .name = "pass-discard-other", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true,
      .description = "Discard in the image file clusters freed for other reasons" },
    { .name = "discard-no-unref", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true,
      .description = "Discarded clusters read as zeroes but keep their host cluster (no fragmentation)" },
    { .name = "overlap-check", .type = OPTION_ENUM, .default_value = "cached",
      .mutable_on_reopen = true, .enum_values = overlap_values,
      .description = "Which metadata writes are checked against before they happen" },
    OPTION_TABLE_END,
};

static const char *const qcow2_child_roles[] = { "file", "backing", NULL };
static const char *const qcow2_required_roles[] = { "file", NULL };
const BlockDriver block_driver_qcow2 = {
    .name = "qcow2",
    .runs_in_iothread = true,
    .kind = BLOCK_DRIVER_FORMAT,
    .state_size = sizeof(Qcow2State),
    .options = qcow2_options,
    .child_roles = qcow2_child_roles,
    .required_child_roles = qcow2_required_roles,
    .supports_backing = true,
    .probe = qcow2_probe,
    .co_open = qcow2_open,
    .close = qcow2_close,
    .co_preadv = qcow2_co_preadv,
    .co_pwritev = qcow2_co_pwritev,
    .co_pwrite_zeroes = qcow2_co_pwrite_zeroes,
    .co_pdiscard = qcow2_co_pdiscard,
    .co_copy_range_from = qcow2_co_copy_range_from,
    .co_copy_range_to = qcow2_co_copy_range_to,
    .co_flush = qcow2_co_flush,
    .co_truncate = qcow2_co_truncate,
    .co_block_status = qcow2_co_block_status,
    .co_change_backing_file = qcow2_co_change_backing_file,
    .can_store_bitmap = qcow2_can_store_bitmap,
    .co_inactivate = qcow2_co_inactivate,
    .co_activate = qcow2_co_activate,
    .reopen_prepare = qcow2_reopen_prepare,
    .reopen_commit = qcow2_reopen_commit,
    .reopen_abort = qcow2_reopen_abort,
    .create_options = qcow2_create_options,
    .create_check = qcow2_create_check,
    .co_create = qcow2_co_create,
};
