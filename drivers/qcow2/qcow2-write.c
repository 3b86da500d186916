/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 writes, write-zeroes and discard.
 *
 * A write to a cluster that is mapped with refcount 1 (COPIED) goes straight
 * to the host cluster.  Anything else (unallocated, zero, compressed,
 * shared with a snapshot) allocates: under s->lock a Qcow2Alloc is
 * registered for the guest cluster and a host cluster reserved (its
 * refcount set in the refcount cache); without the lock the guest data and
 * the copy-on-write head and tail (from the backing file, the old cluster
 * or zeroes) are written there; under the lock again the L2 entry is set,
 * which orders the refcount block before the L2 table on disk.
 */

#include <errno.h>
#include <string.h>

#include "graph/io.h"
#include "drivers/qcow2/qcow2.h"

typedef struct Qcow2Write {
    Qcow2State *s;
    uint64_t guest;             /* cluster-aligned guest offset of the first cluster */
    uint64_t k;                 /* clusters: > 1 only for unallocated / plain zero runs */
    uint64_t old_entry;         /* of the first cluster (all k share its type) */
    uint64_t host;              /* reserved host clusters, contiguous */
    bool reused;                /* host is the old (preallocated zero) cluster */
    bool host_zero;             /* host lies past everything written: reads as zeroes */
    Qcow2Alloc *allocs;         /* k entries */
} Qcow2Write;

/* Where a write's data comes from, at the guest offset being written. */
typedef struct Qcow2Data {
    IOVector *qiov;             /* the caller's buffers, from qoff; NULL: copied from src */
    size_t qoff;
    BlockNode *src;             /* copy offload (qcow2_co_copy_range_to) */
    uint64_t src_offset;
} Qcow2Data;

/* Writes the next n bytes of d to host. */
static int coroutine_fn put_data(Qcow2State *s, uint64_t host, uint64_t n, const Qcow2Data *d)
{
    if (!d->qiov)
        return qcow2_file_copy_range_to(s, host, n, d->src, d->src_offset);
    IOVector part;
    iov_init(&part, d->qiov->niov);
    iov_concat_slice(&part, d->qiov, d->qoff, n);
    int ret = qcow2_file_pwritev(s, host, n, &part);
    iov_destroy(&part);
    return ret;
}

static bool needs_alloc(const Qcow2State *s, uint64_t e)
{
    switch (qcow2_l2_entry_type(s, e)) {
    case QCOW2_CLUSTER_NORMAL:
        return !(e & QCOW2_OFLAG_COPIED);
    default:
        return true;
    }
}

/* Fills buf (one cluster) with what guest cluster `guest` read before this write. */
static int coroutine_fn cow_source(Qcow2Write *w, uint64_t guest, uint8_t *buf)
{
    Qcow2State *s = w->s;
    switch (qcow2_l2_entry_type(s, w->old_entry)) {
    case QCOW2_CLUSTER_UNALLOCATED: {
        IOVector v;
        iov_init_buf(&v, buf, s->cluster_size);
        return qcow2_read_backing(s, guest, s->cluster_size, &v, 0);
    }
    case QCOW2_CLUSTER_COMPRESSED:
        return qcow2_read_compressed(s, w->old_entry, buf);
    case QCOW2_CLUSTER_NORMAL:
        return qcow2_file_pread(s, w->old_entry & QCOW2_L2E_OFFSET_MASK, s->cluster_size, buf);
    default:
        memset(buf, 0, s->cluster_size);
        return 0;
    }
}

/* True if what the cluster read before is all zeroes. */
static bool cow_is_zero(const Qcow2Write *w)
{
    const Qcow2State *s = w->s;
    switch (qcow2_l2_entry_type(s, w->old_entry)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return !s->node->backing || w->guest >= s->node->backing->node->size;
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        return true;
    default:
        return false;
    }
}

/* Copy-on-write head and tail of a multi-cluster run around the guest data. */
static int coroutine_fn write_run_with_cow(Qcow2Write *w, uint64_t in_cluster, uint64_t n,
                                           IOVector *qiov, size_t qoff)
{
    Qcow2State *s = w->s;
    uint64_t end = in_cluster + n, tail = end & (s->cluster_size - 1);
    g_autofree uint8_t *head_buf = in_cluster ? g_malloc(s->cluster_size) : NULL;
    g_autofree uint8_t *tail_buf = tail ? g_malloc(s->cluster_size) : NULL;
    int ret = head_buf ? cow_source(w, w->guest, head_buf) : 0;
    if (ret == 0 && tail_buf)
        ret = cow_source(w, w->guest + ((w->k - 1) << s->cluster_bits), tail_buf);
    if (ret < 0)
        return ret;
    IOVector v;
    iov_init(&v, qiov->niov + 2);
    if (head_buf)
        iov_add(&v, head_buf, in_cluster);
    iov_concat_slice(&v, qiov, qoff, n);
    if (tail_buf)
        iov_add(&v, tail_buf + tail, s->cluster_size - tail);
    ret = qcow2_file_pwritev(s, w->host, w->k << s->cluster_bits, &v);
    iov_destroy(&v);
    return ret;
}

/*
 * Writes guest data [in_cluster, in_cluster+n) (relative to w->guest) plus
 * the COW head and tail.  Clusters past everything ever written in the file
 * already read as zeroes, so a zero head and tail need not be written there.
 */
static int coroutine_fn write_new_cluster(Qcow2Write *w, uint64_t in_cluster, uint64_t n,
                                          const Qcow2Data *d)
{
    Qcow2State *s = w->s;
    uint64_t span = w->k << s->cluster_bits;
    int ret = qcow2_check_overlap(s, w->host, span, 0);
    if (ret < 0)
        return ret;
    bool data_only = n == span || (w->host_zero && cow_is_zero(w));
    if (data_only) {
        if (n < span) {
            ret = qcow2_file_grow(s, w->host + span);
            if (ret < 0)
                return ret;
        }
        return put_data(s, w->host + in_cluster, n, d);
    }
    g_assert(d->qiov);          /* a copy offload takes whole clusters (write_step) */
    if (w->k > 1)
        return write_run_with_cow(w, in_cluster, n, d->qiov, d->qoff);
    g_autofree uint8_t *buf = g_malloc(s->cluster_size);
    ret = cow_source(w, w->guest, buf);
    if (ret < 0)
        return ret;
    iov_to_buf(d->qiov, d->qoff, buf + in_cluster, n);
    return qcow2_file_pwrite(s, w->host, s->cluster_size, buf);
}

/* Under s->lock: reserves host clusters for the w->k guest clusters at w->guest. */
static int coroutine_fn begin_alloc(Qcow2Write *w)
{
    Qcow2State *s = w->s;
    Qcow2ClusterType t = qcow2_l2_entry_type(s, w->old_entry);
    if (s->lazy_refcounts) {
        int ret = qcow2_mark_dirty(s);
        if (ret < 0)
            return ret;
    }
    if (t == QCOW2_CLUSTER_ZERO_ALLOC && (w->old_entry & QCOW2_OFLAG_COPIED)) {
        w->host = w->old_entry & QCOW2_L2E_OFFSET_MASK;
        w->reused = true;
    } else {
        int64_t off = qcow2_alloc_clusters(s, w->k);
        if (off < 0)
            return off;
        w->host = off;
        w->host_zero = (uint64_t)off >= s->file_size;
    }
    w->allocs = g_new0(Qcow2Alloc, w->k);
    for (uint64_t i = 0; i < w->k; i++) {
        w->allocs[i].guest_cluster = (w->guest >> s->cluster_bits) + i;
        co_queue_init(&w->allocs[i].waiters);
        g_hash_table_insert(s->allocs, &w->allocs[i].guest_cluster, &w->allocs[i]);
    }
    return 0;
}

/* Under s->lock: links the new cluster, frees the old target, wakes waiters. */
static int coroutine_fn finish_alloc(Qcow2Write *w, int io_ret)
{
    Qcow2State *s = w->s;
    int ret = io_ret;
    uint64_t linked = 0;
    while (ret == 0 && linked < w->k) {
        ret = qcow2_set_l2_entry(s, w->guest + (linked << s->cluster_bits),
                                 (w->host + (linked << s->cluster_bits)) | QCOW2_OFLAG_COPIED,
                                 NULL);
        if (ret == 0)
            linked++;
    }
    if (ret == 0 && !w->reused && qcow2_l2_entry_type(s, w->old_entry) != QCOW2_CLUSTER_UNALLOCATED
        && qcow2_l2_entry_type(s, w->old_entry) != QCOW2_CLUSTER_ZERO_PLAIN) {
        ret = qcow2_write_caches(s);
        if (ret == 0)
            ret = qcow2_free_l2_entry_target(s, w->old_entry);
    }
    if (linked < w->k && !w->reused)   /* never linked: nothing points to them */
        (void)qcow2_free_clusters(s, w->host + (linked << s->cluster_bits),
                                  (w->k - linked) << s->cluster_bits);
    for (uint64_t i = 0; i < w->k; i++) {
        g_hash_table_remove(s->allocs, &w->allocs[i].guest_cluster);
        co_queue_wake_all(&w->allocs[i].waiters);
    }
    g_clear_pointer(&w->allocs, g_free);
    return ret;
}

/* Writes [offset, offset+n) into k clusters that need allocation. */
static int coroutine_fn write_alloc(Qcow2State *s, uint64_t offset, uint64_t n, uint64_t k,
                                    uint64_t e, const Qcow2Data *d)
{
    Qcow2Write w = { .s = s, .guest = qcow2_start_of_cluster(s, offset), .k = k,
                     .old_entry = e };
    int ret = begin_alloc(&w);
    co_mutex_unlock(&s->lock);
    if (ret < 0)
        return ret;
    ret = write_new_cluster(&w, qcow2_offset_into_cluster(s, offset), n, d);
    co_mutex_lock(&s->lock);
    ret = finish_alloc(&w, ret);
    co_mutex_unlock(&s->lock);
    return ret;
}

#define QCOW2_MAX_ALLOC_RUN 512

/*
 * How many clusters one allocation covers: a run of unallocated or plain
 * zero clusters (nothing to reuse or free) goes in one piece, up to the
 * first cluster that another request is allocating; anything else one
 * cluster at a time.  Trims *n to the run.
 */
static uint64_t alloc_run(Qcow2State *s, uint64_t offset, uint64_t *n, uint64_t e)
{
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    Qcow2ClusterType t = qcow2_l2_entry_type(s, e);
    uint64_t k = 1;
    if (t == QCOW2_CLUSTER_UNALLOCATED || t == QCOW2_CLUSTER_ZERO_PLAIN) {
        uint64_t first = offset >> s->cluster_bits;
        /*
         * New refcount blocks sit at the start of the range they describe,
         * so a run must fit between two of them: stay well below a range.
         */
        uint64_t limit = MAX(1, MIN(QCOW2_MAX_ALLOC_RUN, s->refblock_entries / 4));
        uint64_t want = MIN((in_cluster + *n + s->cluster_size - 1) >> s->cluster_bits, limit);
        while (k < want) {
            uint64_t c = first + k;
            if (g_hash_table_contains(s->allocs, &c))
                break;
            k++;
        }
    }
    *n = MIN(*n, (k << s->cluster_bits) - in_cluster);
    return k;
}

/* One step of a write: returns bytes written (> 0) or a negative errno. */
static int64_t coroutine_fn write_step(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                       const Qcow2Data *d)
{
    uint64_t e, n;
    co_mutex_lock(&s->lock);
    while (qcow2_wait_alloc(s, offset >> s->cluster_bits)) {
    }
    int ret = qcow2_get_mapping(s, offset, bytes, &e, &n);
    if (ret < 0) {
        co_mutex_unlock(&s->lock);
        return ret;
    }
    if (needs_alloc(s, e)) {
        uint64_t k = alloc_run(s, offset, &n, e);
        /* Copy-on-write needs the data in a buffer: a copy offload takes whole clusters. */
        if (!d->qiov && (qcow2_offset_into_cluster(s, offset) || n < (k << s->cluster_bits))) {
            co_mutex_unlock(&s->lock);
            return -ENOTSUP;
        }
        ret = write_alloc(s, offset, n, k, e, d);
        return ret < 0 ? ret : (int64_t)n;
    }
    co_mutex_unlock(&s->lock);
    uint64_t host = (e & QCOW2_L2E_OFFSET_MASK) + qcow2_offset_into_cluster(s, offset);
    ret = qcow2_check_overlap(s, host, n, 0);
    if (ret == 0)
        ret = put_data(s, host, n, d);
    return ret < 0 ? ret : (int64_t)n;
}

static int coroutine_fn flush_metadata(Qcow2State *s)
{
    co_mutex_lock(&s->lock);
    int ret = qcow2_write_caches(s);
    co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn write_data(Qcow2State *s, uint64_t offset, uint64_t bytes, Qcow2Data *d)
{
    if (s->corrupt)
        return -EIO;
    int ret = qcow2_prepare_write(s);
    if (ret < 0)
        return ret;
    while (bytes) {
        int64_t n = write_step(s, offset, bytes, d);
        if (n < 0)
            return n;
        offset += n;
        bytes -= n;
        d->qoff += n;
        d->src_offset += n;
    }
    return 0;
}

int coroutine_fn qcow2_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                  IOVector *qiov, BlockReqFlags flags)
{
    Qcow2State *s = node->opaque;
    Qcow2Data d = { .qiov = qiov };
    int ret = write_data(s, offset, bytes, &d);
    return ret == 0 && (flags & BLOCK_REQ_FUA) ? flush_metadata(s) : ret;
}

int coroutine_fn qcow2_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                        uint64_t offset, uint64_t bytes)
{
    Qcow2Data d = { .src = src, .src_offset = src_offset };
    return write_data(node->opaque, offset, bytes, &d);
}

/* Writes explicit zeroes over [offset, offset+bytes) through the normal write path. */
static int coroutine_fn write_zero_buffer(Qcow2State *s, uint64_t offset, uint64_t bytes)
{
    size_t chunk = MIN(bytes, MAX(s->cluster_size, 1u << 20));
    g_autofree void *zeroes = g_malloc0(chunk);
    while (bytes) {
        uint64_t n = MIN(bytes, chunk);
        IOVector v;
        iov_init_buf(&v, zeroes, n);
        int ret = qcow2_co_pwritev(s->node, offset, n, &v, 0);
        if (ret < 0)
            return ret;
        offset += n;
        bytes -= n;
    }
    return 0;
}

/* True if the partial-cluster range already reads as zeroes without a backing file. */
static bool coroutine_fn reads_as_zero(Qcow2State *s, uint64_t offset, uint64_t bytes)
{
    uint64_t e, n;
    co_mutex_lock(&s->lock);
    int ret = qcow2_get_mapping(s, offset, bytes, &e, &n);
    co_mutex_unlock(&s->lock);
    if (ret < 0 || n < bytes)
        return false;
    Qcow2ClusterType t = qcow2_l2_entry_type(s, e);
    return t == QCOW2_CLUSTER_ZERO_PLAIN || t == QCOW2_CLUSTER_ZERO_ALLOC ||
           (t == QCOW2_CLUSTER_UNALLOCATED &&
            (!s->node->backing || offset >= s->node->backing->node->size));
}

static int coroutine_fn zero_partial(Qcow2State *s, uint64_t offset, uint64_t bytes)
{
    if (!bytes || reads_as_zero(s, offset, bytes))
        return 0;
    return write_zero_buffer(s, offset, bytes);
}

int coroutine_fn qcow2_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        BlockReqFlags flags)
{
    Qcow2State *s = node->opaque;
    if (s->corrupt)
        return -EIO;
    int ret = qcow2_prepare_write(s);
    if (ret < 0)
        return ret;
    uint64_t head_end = MIN(offset + bytes, (offset + s->cluster_size - 1) & ~(s->cluster_size - 1));
    uint64_t tail_start = MAX(head_end, qcow2_start_of_cluster(s, offset + bytes));
    /* The image end counts as a cluster end. */
    if (offset + bytes == node->size)
        tail_start = offset + bytes;
    ret = zero_partial(s, offset, head_end - offset);
    if (ret == 0 && tail_start > head_end) {
        co_mutex_lock(&s->lock);
        ret = qcow2_zero_clusters(s, head_end, tail_start - head_end,
                                  flags & BLOCK_REQ_MAY_UNMAP);
        co_mutex_unlock(&s->lock);
        if (ret == -ENOTSUP) {
            if (flags & BLOCK_REQ_NO_FALLBACK)
                return ret;
            ret = write_zero_buffer(s, head_end, tail_start - head_end);
        }
    }
    if (ret == 0)
        ret = zero_partial(s, tail_start, offset + bytes - tail_start);
    if (ret == 0 && (flags & BLOCK_REQ_FUA))
        ret = flush_metadata(s);
    return ret;
}

int coroutine_fn qcow2_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    Qcow2State *s = node->opaque;
    if (s->corrupt)
        return -EIO;
    int ret = qcow2_prepare_write(s);
    if (ret < 0)
        return ret;
    uint64_t start = (offset + s->cluster_size - 1) & ~(s->cluster_size - 1);
    uint64_t end = qcow2_start_of_cluster(s, offset + bytes);
    if (offset + bytes == node->size)
        end = offset + bytes;
    if (end <= start)
        return 0;   /* discard is advisory: partial clusters stay */
    co_mutex_lock(&s->lock);
    ret = qcow2_discard_clusters(s, start, end - start);
    co_mutex_unlock(&s->lock);
    return ret;
}
