/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mirror engine: dirty bitmap, copies in flight, ready, the drain for the pivot. */

#include <errno.h>
#include <string.h>

#include "graph/error.h"
#include "jobs/job-copy.h"
#include "jobs/mirror-core.h"

#define MIRROR_YIELD_US 10000   /* a turn of the loop for others at least this often */
#define MIRROR_BUF_ALIGN 4096

typedef struct MirrorOp {
    MirrorCore *m;
    uint64_t offset, bytes;     /* granule-aligned (the end: or the source's end) */
    bool active;                /* a guest write copied synchronously */
    bool claimed;               /* guest writes over the range wait for the op */
    Coroutine *co;              /* active: the writer's coroutine */
} MirrorOp;

static MirrorCore *core_of(WriteObserver *o)
{
    return (MirrorCore *)((char *)o - offsetof(MirrorCore, observer));
}

static uint64_t align_down(const MirrorCore *m, uint64_t x)
{
    return x / m->granularity * m->granularity;
}

static uint64_t align_up(const MirrorCore *m, uint64_t x)
{
    return align_down(m, x + m->granularity - 1);
}

void mirror_core_init(MirrorCore *m, Job *job)
{
    *m = (MirrorCore){
        .job = job, .granularity = MIRROR_DEFAULT_GRANULARITY,
        .buf_size = MIRROR_DEFAULT_BUF_SIZE,
        .on_source_error = JOB_ON_ERROR_REPORT, .on_target_error = JOB_ON_ERROR_REPORT,
    };
    g_queue_init(&m->ops);
    g_queue_init(&m->bufs);
    co_queue_init(&m->op_done);
}

/* ---- ops in flight ------------------------------------------------------------------ */

/* An op other than self on a granule [offset, +bytes) touches (claimed_only: that claimed it). */
static MirrorOp *op_overlapping(const MirrorCore *m, const MirrorOp *self, uint64_t offset,
                                uint64_t bytes, bool claimed_only)
{
    uint64_t start = align_down(m, offset), end = align_up(m, offset + bytes);

    for (GList *l = m->ops.head; l; l = l->next) {
        MirrorOp *op = l->data;

        if (op != self && (op->claimed || !claimed_only) && op->offset < end &&
            start < op->offset + op->bytes)
            return op;
    }
    return NULL;
}

static void op_end(MirrorCore *m, MirrorOp *op)
{
    g_queue_remove(&m->ops, op);
    co_queue_wake_all(&m->op_done);
}

static void wake_job(MirrorCore *m)
{
    if (m->waiting) {
        m->waiting = false;
        job_enter(m->job);
    }
}

/* An I/O error: the policy of its side (source: reads, target: writes) decides. */
static void mirror_error(MirrorCore *m, bool is_read, int r)
{
    JobOnError policy = is_read ? m->on_source_error : m->on_target_error;

    if (job_error_action_with(m->job, policy, is_read, r) == JOB_ERROR_ACTION_REPORT &&
        m->ret == 0) {
        m->ret = r;
        m->ret_is_read = is_read;
    }
    wake_job(m);
}

/* Buffers of max_io bytes, aligned for O_DIRECT nodes; at most one per op. */
static void *buf_get(MirrorCore *m)
{
    GList *l = g_queue_pop_head_link(&m->bufs);
    void *buf;

    if (!l)
        return g_aligned_alloc(1, m->max_io, MIRROR_BUF_ALIGN);
    buf = l->data;
    g_list_free_1(l);
    return buf;
}

static void buf_put(MirrorCore *m, void *buf)
{
    g_queue_push_head(&m->bufs, buf);
}

/* ---- the copy of one range ---------------------------------------------------------- */

static int coroutine_fn copy_zero(MirrorCore *m, uint64_t offset, uint64_t bytes)
{
    uint64_t n;
    int st = node_co_block_status_above(m->target, NULL, offset, bytes, &n);

    if (st >= 0 && (st & BLOCK_STATUS_ZERO) && n >= bytes)
        return 0;       /* the target reads zeroes there already (a fresh image) */
    return node_co_pwrite_zeroes(m->target, offset, bytes, BLOCK_REQ_MAY_UNMAP);
}

/* Copies op's range as reads of the source see it: data, or zeroes written as such. */
static int coroutine_fn copy_range(MirrorCore *m, MirrorOp *op, uint8_t *buf, bool *is_read)
{
    uint64_t end = op->offset + op->bytes, n;

    for (uint64_t pos = op->offset; pos < end; pos += n) {
        int st = node_co_block_status_above(m->source, m->base, pos, end - pos, &n);
        int r;

        *is_read = true;
        if (st < 0) {
            st = BLOCK_STATUS_DATA;     /* the read tells what is wrong */
            n = end - pos;
        }
        if (st == 0)
            continue;                   /* commit: the base holds it already */
        if ((st & BLOCK_STATUS_ZERO) && !(st & BLOCK_STATUS_DATA)) {
            *is_read = false;
            r = copy_zero(m, pos, n);
        } else {
            r = job_copy_data(m->source, m->target, pos, n, buf + (pos - op->offset), is_read);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * A background copy claims its range (guest writes over it wait from then
 * on) only while it holds source and target as requests in flight
 * (node_co_hold_begin): a drain of either then waits for the copy and lets
 * its requests pass, so no guest write waits for a copy that waits out a
 * drain, which a drain of the source would wait for in turn (a ReopenNodes
 * of [target, source]).  Until then guest writes pass the op; it waits for
 * those in flight over its range, so that it reads what they wrote and its
 * write to the target lands after theirs.
 */
static void coroutine_fn op_claim(MirrorCore *m, MirrorOp *op, ReqHold *source,
                                  ReqHold *target)
{
    for (;;) {
        while (op_overlapping(m, op, op->offset, op->bytes, false))
            co_queue_wait(&m->op_done);
        node_co_hold_begin(m->source, source);
        node_co_hold_begin(m->target, target);
        if (!op_overlapping(m, op, op->offset, op->bytes, false))
            break;
        node_hold_end(target);      /* a guest write came meanwhile: it goes first */
        node_hold_end(source);
    }
    op->claimed = true;
}

static void coroutine_fn op_run(void *opaque)
{
    MirrorOp *op = opaque;
    MirrorCore *m = op->m;
    ReqHold source, target;
    void *buf;
    bool is_read = true;
    int r;

    op_claim(m, op, &source, &target);
    buf = buf_get(m);
    r = copy_range(m, op, buf, &is_read);
    node_hold_end(&target);
    node_hold_end(&source);
    buf_put(m, buf);
    m->in_flight--;
    m->bytes_in_flight -= op->bytes;
    if (r < 0) {
        bitmap_set_range(m->dirty, op->offset, op->bytes);
        mirror_error(m, is_read, r);
    } else {
        job_progress_update(m->job, op->bytes);
    }
    op_end(m, op);
    g_free(op);
}

/* ---- guest writes ------------------------------------------------------------------- */

static void observe_written(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    MirrorCore *m = core_of(o);

    bitmap_set_range(m->dirty, offset, bytes);
    wake_job(m);
}

static bool copies_writes(const MirrorCore *m)
{
    return m->write_blocking && m->synced && m->ret == 0 && !job_is_cancelled(m->job);
}

/* write-blocking: the range is claimed before the source is written, so copies land in order. */
static int coroutine_fn observe_before(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    MirrorCore *m = core_of(o);
    MirrorOp *op;

    if (!copies_writes(m) || bytes == 0)
        return 0;
    op = g_new(MirrorOp, 1);
    *op = (MirrorOp){ .m = m, .offset = align_down(m, offset), .active = true,
                      .claimed = true, .co = coroutine_self() };
    op->bytes = align_up(m, offset + bytes) - op->offset;
    while (op_overlapping(m, op, op->offset, op->bytes, true))
        co_queue_wait(&m->op_done);
    g_queue_push_tail(&m->ops, op);
    return 0;
}

static MirrorOp *active_op_of_self(MirrorCore *m, uint64_t offset)
{
    for (GList *l = m->ops.head; l; l = l->next) {
        MirrorOp *op = l->data;

        if (op->active && op->co == coroutine_self() && op->offset == align_down(m, offset))
            return op;
    }
    return NULL;
}

/*
 * Writes w's range to the target as the guest wrote it to the source (QEMU's
 * do_sync_target_write): a partly written granule that is dirty anyway is
 * left to the background copy; the whole granules written are clean after.
 */
static void coroutine_fn copy_write(MirrorCore *m, const WriteEvent *w)
{
    uint64_t offset = w->offset, end = w->offset + w->bytes, skip = 0;
    int r;

    if (offset % m->granularity && bitmap_get(m->dirty, offset))
        offset = MIN(align_up(m, offset), end);
    if (end % m->granularity && end > offset && bitmap_get(m->dirty, end - 1))
        end = MAX(align_down(m, end), offset);
    if (end <= offset)
        return;
    skip = offset - w->offset;
    if (align_up(m, offset) < align_down(m, end))
        bitmap_reset_range(m->dirty, align_up(m, offset), align_down(m, end) - align_up(m, offset));
    if (w->kind == WRITE_KIND_ZEROES) {
        r = node_co_pwrite_zeroes(m->target, offset, end - offset, w->flags & BLOCK_REQ_MAY_UNMAP);
    } else {
        IOVector part;

        iov_init(&part, w->qiov->niov);
        iov_concat_slice(&part, w->qiov, skip, end - offset);
        r = node_co_pwritev(m->target, offset, end - offset, &part, 0);
        iov_destroy(&part);
    }
    if (r < 0) {
        bitmap_set_range(m->dirty, align_down(m, offset), align_up(m, end) - align_down(m, offset));
        mirror_error(m, false, r);
    }
}

static void coroutine_fn observe_written_blocking(WriteObserver *o, const WriteEvent *w)
{
    MirrorCore *m = core_of(o);
    MirrorOp *op = w->bytes ? active_op_of_self(m, w->offset) : NULL;

    if (!op || w->ret < 0 || w->kind == WRITE_KIND_DISCARD || !copies_writes(m)) {
        observe_written(o, w->offset, w->bytes);
    } else {
        copy_write(m, w);
    }
    if (op) {
        op_end(m, op);
        g_free(op);
    }
}

/* ---- the job's loop ----------------------------------------------------------------- */

static void coroutine_fn wait_all(MirrorCore *m)
{
    while (m->in_flight > 0)
        co_queue_wait(&m->op_done);
}

/* The first dirty granule at or after the cursor, wrapping round; false: none. */
static bool next_dirty(const MirrorCore *m, uint64_t *ret)
{
    uint64_t size = m->source->node->size, len;

    if (m->dirty->n_set == 0)
        return false;
    for (uint64_t off = m->cursor < size ? m->cursor : 0, pass = 0; pass < 2; off = 0, pass++) {
        for (; off < size; off += len) {
            if (bitmap_extent(m->dirty, off, size - off, &len)) {
                *ret = align_down(m, off);
                return true;
            }
        }
    }
    return false;
}

/*
 * Starts a copy of the next dirty run (at most max_io bytes and what the
 * buffer has room for, up to the first range another op works on).
 * Returns the bytes it copies, 0 if it had to wait first.
 */
static uint64_t coroutine_fn mirror_iteration(MirrorCore *m)
{
    uint64_t offset, len, room;
    MirrorOp *op;

    if (!next_dirty(m, &offset))
        return 0;
    if (op_overlapping(m, NULL, offset, 1, false)) {
        co_queue_wait(&m->op_done);     /* that one first; then look again */
        return 0;
    }
    room = MAX(align_down(m, MIN(m->max_io, m->buf_size - m->bytes_in_flight)), m->granularity);
    bitmap_extent(m->dirty, offset, room, &len);
    for (GList *l = m->ops.head; l; l = l->next) {
        MirrorOp *o = l->data;

        if (o->offset > offset && o->offset < offset + len)
            len = o->offset - offset;
    }
    bitmap_reset_range(m->dirty, offset, len);   /* a write from now on marks it again */
    op = g_new(MirrorOp, 1);
    *op = (MirrorOp){ .m = m, .offset = offset, .bytes = len };
    g_queue_push_tail(&m->ops, op);
    m->in_flight++;
    m->bytes_in_flight += len;
    m->cursor = offset + len;
    coroutine_start(op_run, op);
    return len;
}

static void coroutine_fn drain_begin(MirrorCore *m)
{
    if (m->replaced && m->replaced != m->source->node)
        node_co_drain_begin(m->replaced);       /* its requests wait above the source */
    node_co_drain_begin(m->source->node);
    m->drained = true;
}

static void drain_end(MirrorCore *m)
{
    if (!m->drained)
        return;
    m->drained = false;
    node_drain_end(m->source->node);
    if (m->replaced && m->replaced != m->source->node)
        node_drain_end(m->replaced);
}

/*
 * Nothing dirty, nothing in flight, and Complete() or a soft Cancel came:
 * drains; if a write landed meanwhile, lets it go and copies again.
 * True: converged, still drained, the target flushed.
 */
static bool coroutine_fn mirror_try_finish(MirrorCore *m)
{
    int r;

    drain_begin(m);
    if (m->dirty->n_set > 0) {
        drain_end(m);
        return false;
    }
    r = node_co_flush(m->target);
    if (r < 0) {
        drain_end(m);
        mirror_error(m, false, r);
        return false;
    }
    return true;
}

static void coroutine_fn mirror_pause_point(MirrorCore *m)
{
    if (m->job->pause_count > 0)
        wait_all(m);    /* a paused job copies nothing (QEMU's mirror_pause) */
    job_pause_point(m->job);
}

/* Nothing dirty, nothing in flight: ready, or the end, or an idle wait.  True: the end. */
static bool coroutine_fn mirror_converged(MirrorCore *m)
{
    Job *job = m->job;

    if (!job_is_ready(job)) {
        int r = node_co_flush(m->target);

        if (r < 0) {
            mirror_error(m, false, r);
            return false;
        }
        job_transition_to_ready(job);
    }
    if (m->should_complete || job_cancel_requested(job))
        return mirror_try_finish(m);
    m->waiting = true;
    job_yield(job);     /* until a write, Complete, Cancel or Pause */
    m->waiting = false;
    return false;
}

static int coroutine_fn mirror_loop(MirrorCore *m)
{
    Job *job = m->job;
    uint64_t last_yield = (uint64_t)g_get_monotonic_time();

    for (;;) {
        uint64_t dirty, copied, now;

        if (m->ret < 0)
            return m->ret;
        mirror_pause_point(m);
        if (job_is_cancelled(job))
            return 0;
        dirty = bitmap_dirty_bytes(m->dirty);
        job_progress_set_remaining(job, m->bytes_in_flight + dirty);
        if (m->in_flight >= MIRROR_MAX_IN_FLIGHT ||
            m->bytes_in_flight + m->granularity > m->buf_size || (dirty == 0 && m->in_flight)) {
            co_queue_wait(&m->op_done);
            continue;
        }
        if (dirty == 0) {
            if (mirror_converged(m))
                return 0;
            continue;
        }
        copied = mirror_iteration(m);
        now = (uint64_t)g_get_monotonic_time();
        if (job->speed && copied)
            job_sleep_ns(job, job_ratelimit_delay_ns(job, copied));
        else if (now - last_yield >= MIRROR_YIELD_US)
            job_sleep_ns(job, 0);
        if (now - last_yield >= MIRROR_YIELD_US || job->speed)
            last_yield = now;
    }
}

/* What the first pass copies. */
static int coroutine_fn mirror_dirty_init(MirrorCore *m)
{
    uint64_t size = m->source->node->size, n;

    if (m->init == MIRROR_INIT_ALL)
        bitmap_set_range(m->dirty, 0, size);
    if (m->init != MIRROR_INIT_ALLOCATED)
        return 0;
    for (uint64_t offset = 0; offset < size && !job_is_cancelled(m->job); offset += n) {
        int r = node_co_block_status_above(m->source, m->init_base, offset, size - offset, &n);

        if (r < 0)
            return r;
        if (r & BLOCK_STATUS_ALLOCATED)
            bitmap_set_range(m->dirty, offset, n);
        job_pause_point(m->job);
    }
    return 0;
}

static void mirror_start_observing(MirrorCore *m)
{
    m->observer.written = observe_written;
    if (m->write_blocking) {
        m->observer.before_write = observe_before;
        m->observer.co_written = observe_written_blocking;
    }
    node_add_write_observer(m->source->node, &m->observer);
    m->observing = true;
}

int coroutine_fn mirror_core_run(MirrorCore *m, GError **errp)
{
    Job *job = m->job;
    int r;

    m->dirty = bitmap_create_detached(m->source->node, (uint32_t)m->granularity);
    m->max_io = MIN(align_up(m, MAX(m->buf_size / MIRROR_MAX_IN_FLIGHT, MIRROR_MAX_IO)),
                    m->buf_size);
    mirror_start_observing(m);
    m->ret_is_read = true;      /* the first pass's errors are block status reads */
    r = mirror_dirty_init(m);
    job_progress_set_remaining(job, bitmap_dirty_bytes(m->dirty));
    if (r == 0) {
        m->synced = true;
        r = mirror_loop(m);
    }
    m->synced = false;      /* from now on writes are only marked */
    wait_all(m);
    if (r < 0)
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Job '%s': %s of node '%s' to node '%s' failed: %s error: %s", job->id,
                    job->drv->type, m->source->node->name, m->target->node->name,
                    m->ret_is_read ? "read" : "write", g_strerror(-r));
    return r;
}

void mirror_core_complete(MirrorCore *m)
{
    m->should_complete = true;
    job_enter(m->job);
}

bool mirror_keep_job_links(const BlockChild *c, void *job)
{
    return c->user_kind == BLOCK_USER_JOB && g_str_equal(c->user_name, ((Job *)job)->id);
}

void coroutine_fn mirror_core_stop(MirrorCore *m)
{
    if (m->observing) {
        bool was_drained = m->drained;

        if (!was_drained)
            drain_begin(m);     /* no write is inside the observer any more */
        node_remove_write_observer(m->source->node, &m->observer);
        m->observing = false;
        if (!was_drained)
            drain_end(m);
    }
    drain_end(m);
    g_clear_pointer(&m->dirty, bitmap_free);
    while (!g_queue_is_empty(&m->bufs))
        g_aligned_free(g_queue_pop_head(&m->bufs));
}
