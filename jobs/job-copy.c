/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jobs/job-copy.h"

#include <errno.h>

#include "graph/io.h"

#define JOB_COPY_MAX_IN_FLIGHT 4
#define JOB_COPY_GUEST_SHARE   3    /* with guests about, wait 3x a copy's time after it */

struct JobCopyTask {
    JobCopy *jc;
    uint64_t offset, bytes;
    int status;
    void *buf;
    uint64_t copied;
    uint64_t start_us;
    uint64_t others;            /* others' requests on the watched node when it began */
    int ret;
    bool is_read;
};

typedef struct CopyRange {
    uint64_t offset, bytes;
    int status;
} CopyRange;

int coroutine_fn job_copy_data(BlockChild *src, BlockChild *dst, uint64_t offset, uint64_t bytes,
                               void *buf, bool *is_read)
{
    int r = node_co_copy_range(src, offset, dst, offset, bytes);

    *is_read = false;
    if (r == 0)
        return 0;
    r = node_co_pread(src, offset, bytes, buf, 0);
    *is_read = r < 0;
    if (r == 0)
        r = node_co_pwrite(dst, offset, bytes, buf, 0);
    return r;
}

/* Requests sent to the watched node by its users other than jobs. */
static uint64_t others_requests(const JobCopy *jc)
{
    uint64_t n = 0;

    if (!jc->watch)
        return 0;
    for (guint i = 0; i < jc->watch->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(jc->watch->parents, i);

        if (c->user_kind != BLOCK_USER_JOB)
            n += c->requests;
    }
    return n;
}

static void coroutine_fn task_entry(void *opaque)
{
    JobCopyTask *t = opaque;
    JobCopy *jc = t->jc;

    t->copied = 0;
    t->is_read = true;
    t->ret = jc->ops->copy(jc, t->offset, t->bytes, t->status, t->buf, &t->copied,
                           &t->is_read);
    jc->in_flight--;
    g_queue_push_tail(&jc->done, t);
    if (jc->waiting) {
        jc->waiting = false;
        coroutine_wake(jc->co);
    }
}

static void task_start(JobCopy *jc, uint64_t offset, uint64_t bytes, int status)
{
    JobCopyTask *t = g_queue_pop_head(&jc->idle);

    g_assert(t);
    t->offset = offset;
    t->bytes = bytes;
    t->status = status;
    t->start_us = (uint64_t)g_get_monotonic_time();
    t->others = others_requests(jc);
    jc->in_flight++;
    coroutine_start(task_entry, t);
}

/* Waits until a copy in flight ends (the job stays busy: verbs act at the next step). */
static void coroutine_fn copy_wait(JobCopy *jc)
{
    g_assert(jc->in_flight > 0);
    jc->co = coroutine_self();
    jc->waiting = true;
    coroutine_yield();
}

/* A copy ended: the on-error policy, guests first, progress and the speed limit. */
static void coroutine_fn copy_account(JobCopy *jc, JobCopyTask *t)
{
    Job *job = jc->job;
    uint64_t took = (uint64_t)g_get_monotonic_time() - t->start_us;

    g_queue_push_tail(&jc->idle, t);
    if (t->ret < 0) {
        JobErrorAction action = job_error_action(job, t->is_read, t->ret);

        if (action == JOB_ERROR_ACTION_STOP) {
            CopyRange r = { t->offset, t->bytes, t->status };

            g_array_append_val(jc->retry, r);   /* Resume copies it again */
            return;
        }
        if (!jc->error)
            jc->error = t->ret;
        if (action == JOB_ERROR_ACTION_REPORT) {
            jc->failed = true;
            return;
        }
    }
    jc->guests = others_requests(jc) != t->others;
    job_progress_done(job, t->bytes, t->copied);
    if (jc->guests && jc->in_flight == 0)
        job_sleep_ns(job, took * JOB_COPY_GUEST_SHARE * 1000);
}

/* Asks what the range at jc->offset needs; false: the job stops here or paused. */
static bool coroutine_fn copy_status(JobCopy *jc)
{
    uint64_t n = 0;
    int r = jc->ops->status(jc, jc->offset, jc->len - jc->offset, &n);

    if (r >= 0) {
        jc->ext_end = jc->offset + MAX(n, 1);
        jc->ext_status = r;
        return true;
    }
    JobErrorAction action = job_error_action(jc->job, true, r);

    if (action == JOB_ERROR_ACTION_STOP)
        return false;                   /* asked again after Resume */
    if (!jc->error)
        jc->error = r;
    if (action == JOB_ERROR_ACTION_REPORT) {
        jc->failed = true;
        return false;
    }
    /* ignore: pass over a chunk */
    n = MIN(JOB_COPY_CHUNK, jc->len - jc->offset);
    jc->offset += n;
    job_progress_done(jc->job, n, 0);
    return false;
}

/* Starts the next copy or passes over a range; false: nothing left to start. */
static bool coroutine_fn copy_next(JobCopy *jc)
{
    if (jc->retry->len > 0) {
        CopyRange r = g_array_index(jc->retry, CopyRange, jc->retry->len - 1);

        g_array_set_size(jc->retry, jc->retry->len - 1);
        task_start(jc, r.offset, r.bytes, r.status);
        return true;
    }
    if (jc->offset >= jc->len)
        return false;
    if (jc->offset >= jc->ext_end && !copy_status(jc))
        return true;
    uint64_t n = MIN(jc->ext_end, jc->len) - jc->offset;

    if (!(jc->ext_status & BLOCK_STATUS_ALLOCATED)) {
        jc->offset += n;                /* nothing to copy: passed over as a whole */
        job_progress_done(jc->job, n, 0);
        return true;
    }
    n = MIN(n, JOB_COPY_CHUNK);
    task_start(jc, jc->offset, n, jc->ext_status);
    jc->offset += n;
    return true;
}

static unsigned copy_limit(const JobCopy *jc)
{
    return jc->job->speed || jc->guests ? 1 : JOB_COPY_MAX_IN_FLIGHT;
}

static bool copy_stopping(const JobCopy *jc)
{
    return jc->failed || job_is_cancelled(jc->job);
}

/* One step of the loop; false when the copy is over. */
static bool coroutine_fn copy_step(JobCopy *jc)
{
    JobCopyTask *t;

    if (copy_stopping(jc))
        return false;
    if (jc->job->pause_count > 0 && jc->in_flight > 0) {
        copy_wait(jc);                  /* nothing in flight while paused */
    } else if ((t = g_queue_pop_head(&jc->done))) {
        copy_account(jc, t);
    } else if (jc->job->pause_count > 0) {
        job_pause_point(jc->job);
    } else if (jc->in_flight >= copy_limit(jc)) {
        copy_wait(jc);
    } else if (!copy_next(jc)) {
        if (jc->in_flight == 0)
            return false;
        copy_wait(jc);
    }
    return true;
}

int coroutine_fn job_copy_run(JobCopy *jc)
{
    jc->tasks = g_new0(JobCopyTask, JOB_COPY_MAX_IN_FLIGHT);
    jc->retry = g_array_new(false, false, sizeof(CopyRange));
    for (unsigned i = 0; i < JOB_COPY_MAX_IN_FLIGHT; i++) {
        jc->tasks[i] = (JobCopyTask){ .jc = jc, .buf = g_malloc(JOB_COPY_CHUNK) };
        g_queue_push_tail(&jc->idle, &jc->tasks[i]);
    }
    job_progress_set_remaining(jc->job, jc->len);
    while (copy_step(jc))
        ;
    while (jc->in_flight > 0)
        copy_wait(jc);
    for (unsigned i = 0; i < JOB_COPY_MAX_IN_FLIGHT; i++)
        g_free(jc->tasks[i].buf);
    g_clear_pointer(&jc->tasks, g_free);
    g_clear_pointer(&jc->retry, g_array_unref);
    g_queue_clear(&jc->idle);
    g_queue_clear(&jc->done);
    return jc->error;
}
