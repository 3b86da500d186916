/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stream: copies what the chain below node-name holds above the base into
 * node-name, then makes the base its backing node (QEMU's block-stream,
 * 6.0 meaning of base-node and bottom).  Only ranges allocated above the
 * base are copied (jobs/job-copy.c, several chunks at once); each copy
 * holds a range lock on the top node, so a guest write to the same range
 * waits and is never undone by the copy.
 */

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "jobs/job-chain.h"
#include "jobs/job-copy.h"
#include "jobs/job-types.h"

typedef struct StreamJob {
    Job common;
    BlockNode *top;
    BlockNode *base;            /* NULL: the whole chain */
    BlockChild *link;           /* the job's link to top */
    char *backing_file;         /* written into top's header; NULL: base's filename */
    bool range_locking;
    bool top_reopened;          /* the top was read-only: writable for the job, then back */
    JobCopy copy;
} StreamJob;

static const char *const stream_attrs[] = { "node-name", "base-node", "bottom", "backing-file", NULL };

/* base-node, bottom (the last node streamed: base is the next non-filter below) or neither. */
static bool stream_find_base(StreamJob *s, const JobSpec *spec, GError **errp)
{
    g_autoptr(GError) none = NULL;
    BlockNode *base = job_spec_node(spec, "base-node", false, errp);
    BlockNode *bottom;

    if (!base && job_spec_get(spec, "base-node"))
        return false;
    bottom = job_spec_node(spec, "bottom", false, errp);
    if (!bottom && job_spec_get(spec, "bottom"))
        return false;
    if (base && bottom) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Job '%s': 'base-node' and 'bottom' cannot both be given", spec->id);
        return false;
    }
    BlockNode *below = base ? base : bottom;
    if (below && !job_chain_is_below(s->top, below)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Job '%s': node '%s' is not below node '%s' in its backing chain",
                    spec->id, below->name, s->top->name);
        return false;
    }
    if (bottom && job_node_is_filter(bottom)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Job '%s': bottom node '%s' is a filter", spec->id, bottom->name);
        return false;
    }
    s->base = bottom ? job_chain_skip_filters(job_chain_next(bottom)) : job_chain_skip_filters(base);
    return true;
}

static int coroutine_fn stream_setup(Job *job, const JobSpec *spec, GError **errp)
{
    StreamJob *s = (StreamJob *)job;
    const uint64_t basic = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;

    s->top = job_spec_node(spec, "node-name", true, errp);
    if (!s->top || !stream_find_base(s, spec, errp))
        return -EINVAL;
    s->backing_file = g_strdup(job_spec_get(spec, "backing-file"));
    /* A read-only top is reopened read-write for the job (QEMU's stream_start). */
    if (s->top->read_only && s->top->backing) {
        if (graph_co_set_read_only_locked(s->top, false, errp) < 0)
            return -EPERM;
        s->top_reopened = true;
    }
    /* Others may read and write the top; nobody else changes the nodes streamed. */
    s->link = job_add_node(job, s->top, basic, basic | BLOCK_PERM_WRITE, errp);
    if (!s->link)
        return -EPERM;
    for (BlockNode *n = job_chain_next(s->top); n && n != s->base; n = job_chain_next(n))
        if (!job_add_node(job, n, 0, basic, errp))
            return -EPERM;
    if (!job_freeze_chain(job, s->top, s->base, errp))
        return -EBUSY;
    return 0;
}

/* What the top does not hold itself and the chain above the base does is copied. */
static int coroutine_fn stream_status(JobCopy *jc, uint64_t offset, uint64_t bytes,
                                      uint64_t *pnum)
{
    StreamJob *s = (StreamJob *)jc->job;
    uint64_t map, above = 0;
    BlockNode *file;
    int r = node_co_block_status(s->link, offset, bytes, pnum, &map, &file);

    if (r < 0 || (r & BLOCK_STATUS_ALLOCATED))
        return r < 0 ? r : 0;       /* the top holds it already */
    r = node_co_block_status_above(s->link, s->base, offset, *pnum, &above);
    *pnum = MIN(*pnum, above);
    return r;
}

static int coroutine_fn stream_piece(StreamJob *s, uint64_t offset, uint64_t bytes, int status,
                                     void *buf, bool *is_read)
{
    int r;

    if (status & BLOCK_STATUS_ZERO) {
        *is_read = false;
        return node_co_pwrite_zeroes(s->link, offset, bytes, 0);
    }
    r = node_co_pread(s->link, offset, bytes, buf, 0);
    if (r < 0)
        return r;
    *is_read = false;
    return node_co_pwrite(s->link, offset, bytes, buf, 0);
}

/*
 * Under a range lock on the top, asks again what the range needs (a guest
 * write may have come first) and copies it up.
 */
static int coroutine_fn stream_copy(JobCopy *jc, uint64_t offset, uint64_t bytes, int status,
                                    void *buf, uint64_t *copied, bool *is_read)
{
    StreamJob *s = (StreamJob *)jc->job;
    uint64_t end = offset + bytes, n;
    WriteTrack lock;
    int r = 0;

    node_co_range_lock(s->link, &lock, offset, bytes);
    for (; r >= 0 && offset < end; offset += n) {
        *is_read = true;
        r = stream_status(jc, offset, end - offset, &n);
        if (r > 0 && (r & BLOCK_STATUS_ALLOCATED)) {
            r = stream_piece(s, offset, n, r, buf, is_read);
            *copied += r == 0 ? n : 0;
        }
    }
    node_range_unlock(s->link, &lock);
    return r < 0 ? r : 0;
}

static const JobCopyOps stream_copy_ops = {
    .status = stream_status,
    .copy = stream_copy,
};

static int coroutine_fn stream_run(Job *job, GError **errp)
{
    StreamJob *s = (StreamJob *)job;
    int error;

    if (!s->top->backing)
        return 0;           /* nothing below */
    node_co_range_lock_start(s->top);
    s->range_locking = true;
    s->copy = (JobCopy){ .job = job, .ops = &stream_copy_ops, .watch = s->top,
                         .len = s->top->size };
    error = job_copy_run(&s->copy);
    if (error) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Job '%s': stream into node '%s' failed: %s",
                    job->id, s->top->name, g_strerror(-error));
    }
    return error;
}

static int coroutine_fn stream_prepare(Job *job, GError **errp)
{
    StreamJob *s = (StreamJob *)job;
    const char *name = s->backing_file ? s->backing_file : s->base ? s->base->filename : NULL;

    if (!s->top->backing)
        return 0;
    job_unfreeze_links(job);
    return job_co_set_backing(s->top, s->base, name, errp);
}

static void coroutine_fn stream_clean(Job *job)
{
    StreamJob *s = (StreamJob *)job;

    if (s->range_locking)
        node_range_lock_stop(s->top);
    s->range_locking = false;
    if (s->top_reopened) {
        g_autoptr(GError) err = NULL;

        if (graph_co_set_read_only(s->top, true, &err) < 0)
            g_warning("Job '%s': %s", job->id, err->message);
    }
    s->top_reopened = false;
}

static void stream_free(Job *job)
{
    StreamJob *s = (StreamJob *)job;

    g_free(s->backing_file);
}

const JobDriver stream_job_driver = {
    .type = "stream",
    .instance_size = sizeof(StreamJob),
    .attrs = stream_attrs,
    .co_setup = stream_setup,
    .co_run = stream_run,
    .co_prepare = stream_prepare,
    .co_clean = stream_clean,
    .free = stream_free,
};
