/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Active commit: commits the active layer (the node guests use) into its
 * base while guests keep writing it, as QEMU's mirror-based commit does in
 * its background mode.  A write observer on the top marks every range a
 * guest writes (after the write, so a copy that read the old data is made
 * again); the job copies what the chain above the base holds, then what is
 * marked, reaches `ready` when nothing is left, and keeps copying new writes.
 * Complete(): the top is drained, what is still marked is copied, the base
 * flushed, and every user of the top (parent nodes, exports) moves to the
 * base (graph_co_replace_node); requests held back by the drain go to the
 * base.  A soft Cancel once ready ends the job without the pivot: the top
 * stays in use, the base holds a consistent copy.
 */

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/graph-internal.h"
#include "jobs/commit.h"

#define ACTIVE_GRANULARITY (64 * 1024)

static void active_written(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    CommitJob *s = (CommitJob *)((char *)o - offsetof(CommitJob, observer));

    job_dirty_set(&s->dirty, offset, bytes);
    if (s->waiting) {
        s->waiting = false;
        job_enter(&s->common);
    }
}

/* Marks what the chain above the base holds: the first pass copies it. */
static int coroutine_fn active_mark_allocated(CommitJob *s)
{
    uint64_t len = s->top->size, offset = 0;

    while (offset < len && !job_is_cancelled(&s->common)) {
        uint64_t n;
        int r = node_co_block_status_above(s->top_link, s->base, offset, len - offset, &n);

        if (r < 0)
            return r;
        if (r & BLOCK_STATUS_ALLOCATED)
            job_dirty_set(&s->dirty, offset, n);
        offset += n;
        job_pause_point(&s->common);
    }
    return 0;
}

/* Copies [offset, +bytes) from the top into the base, as the chain above the base holds it. */
static int coroutine_fn active_copy(CommitJob *s, uint64_t offset, uint64_t bytes,
                                    bool *is_read)
{
    uint64_t end = offset + bytes;

    for (uint64_t n = 0; offset < end; offset += n) {
        int r = node_co_block_status_above(s->top_link, s->base, offset, end - offset, &n);

        *is_read = true;
        if (r < 0)
            return r;
        if (!(r & BLOCK_STATUS_ALLOCATED))
            continue;           /* reads come from the base: it holds that already */
        if (r & BLOCK_STATUS_ZERO) {
            *is_read = false;
            r = node_co_pwrite_zeroes(s->base_link, offset, n, 0);
        } else {
            r = node_co_pread(s->top_link, offset, n, s->buf, 0);
            *is_read = r < 0;
            if (r == 0)
                r = node_co_pwrite(s->base_link, offset, n, s->buf, 0);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* Copies the next marked run; 1 when nothing is marked. */
static int coroutine_fn active_step(CommitJob *s, int *error)
{
    Job *job = &s->common;
    uint64_t offset, bytes;
    bool is_read;
    int r;

    if (!job_dirty_next(&s->dirty, s->cursor, COMMIT_CHUNK, &offset, &bytes))
        return 1;
    job_dirty_clear(&s->dirty, offset, bytes);      /* a write from now on marks it again */
    r = active_copy(s, offset, bytes, &is_read);
    if (r < 0) {
        JobErrorAction action = job_error_action(job, is_read, r);

        if (action == JOB_ERROR_ACTION_STOP) {
            job_dirty_set(&s->dirty, offset, bytes);
            job_pause_point(job);   /* Resume retries */
            return 0;
        }
        if (!*error)
            *error = r;
        if (action == JOB_ERROR_ACTION_REPORT)
            return r;
    }
    s->cursor = offset + bytes;
    job_progress_done(job, bytes, bytes);
    job_progress_set_remaining(job, job_dirty_bytes(&s->dirty));
    return 0;
}

/*
 * Nothing is marked and Complete() came: drains the top; if a write landed
 * meanwhile, lets it go and copies again (QEMU's mirror does the same).
 * 1: the top stays drained for the pivot, the base flushed.
 */
static int coroutine_fn active_try_finish(CommitJob *s)
{
    int r;

    node_co_drain_begin(s->top);
    if (s->dirty.count > 0) {
        node_drain_end(s->top);
        return 0;
    }
    r = node_co_flush(s->base_link);
    if (r < 0) {
        node_drain_end(s->top);
        return r;
    }
    s->in_drain = true;
    return 1;
}

static bool active_stop_now(const Job *job)
{
    /* A soft Cancel once ready ends the job (successfully, without the pivot). */
    return job_is_cancelled(job) || (job_cancel_requested(job) && job_is_ready(job));
}

static int coroutine_fn active_loop(CommitJob *s)
{
    Job *job = &s->common;
    int error = 0, r;

    while (!active_stop_now(job)) {
        r = active_step(s, &error);
        if (r < 0)
            return r;
        if (r == 0)
            continue;
        if (error)
            return error;   /* ignored errors: the job fails without the pivot */
        if (!job_is_ready(job)) {
            r = node_co_flush(s->base_link);
            if (r < 0)
                return r;
            job_transition_to_ready(job);
            continue;
        }
        if (s->should_complete) {
            r = active_try_finish(s);
            if (r != 0)
                return r < 0 ? r : 0;
            continue;
        }
        s->waiting = true;
        job_yield(job);     /* until a write, Complete, Cancel or Pause */
        s->waiting = false;
    }
    if (!job_is_cancelled(job))
        return node_co_flush(s->base_link);
    return 0;
}

int coroutine_fn commit_active_run(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    int r = commit_grow_base(s, errp);

    if (r < 0)
        return r;
    s->buf = g_malloc(COMMIT_CHUNK);
    job_dirty_init(&s->dirty, s->top->size, ACTIVE_GRANULARITY);
    s->observer.written = active_written;
    node_add_write_observer(s->top, &s->observer);
    s->observing = true;
    r = active_mark_allocated(s);
    job_progress_set_remaining(job, job_dirty_bytes(&s->dirty));
    if (r == 0)
        r = active_loop(s);
    if (r < 0)
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Job '%s': commit of node '%s' into node '%s' failed: %s", job->id,
                    s->top->name, s->base->name, g_strerror(-r));
    return r;
}

void commit_active_complete(Job *job)
{
    CommitJob *s = (CommitJob *)job;

    s->should_complete = true;
    job_enter(job);
}

static bool keep_own_links(const BlockChild *c, void *opaque)
{
    const Job *job = opaque;

    return c->user_kind == BLOCK_USER_JOB && g_str_equal(c->user_name, job->id);
}

static void coroutine_fn active_stop(CommitJob *s)
{
    if (s->observing)
        node_remove_write_observer(s->top, &s->observer);
    s->observing = false;
    if (s->in_drain)
        node_drain_end(s->top);
    s->in_drain = false;
}

int coroutine_fn commit_active_prepare(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    g_autoptr(GError) err = NULL;
    int r;

    if (job_cancel_requested(job))
        return 0;           /* cancelled once ready: no pivot */
    /* The job writes the base no more; the users of the top take it over. */
    job_drop_node(job, s->base_link);
    s->base_link = NULL;
    r = graph_co_replace_node(s->top, s->base, keep_own_links, job, errp);
    active_stop(s);
    if (r < 0)
        return r;
    s->pivoted = true;
    /*
     * Nobody reads the old top any more: its chain lets the base change
     * under it (graph/permission.c) once the job's own read goes, so the
     * links into the base can stop sharing writes.
     */
    graph_co_lock();        /* a read-only switch below may yield */
    if (!perm_update_link(s->top_link, 0, BLOCK_PERM_ALL, &err))
        g_warning("Job '%s': %s", job->id, err->message);
    graph_unlock();
    job_unfreeze_links(job);
    return 0;
}

void coroutine_fn commit_active_clean(CommitJob *s)
{
    active_stop(s);
    job_dirty_destroy(&s->dirty);
}
