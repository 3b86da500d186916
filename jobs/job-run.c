/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a running job calls: pause points, sleeps, the speed limit,
 * progress, the on-error policy, and its links to nodes.
 */

#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/iothread.h"
#include "jobs/job-internal.h"

#define JOB_SLICE_US        100000      /* speed limit slices (QEMU: 100 ms) */
#define JOB_NOTIFY_US       100000      /* progress signals at most 10 per second */
#define JOB_RATE_WINDOW_US  1000000     /* Rate is measured over about a second */

bool job_is_cancelled(const Job *job)
{
    return job->cancelled && job->force_cancel;
}

bool job_cancel_requested(const Job *job)
{
    return job->cancelled;
}

/* ---- running and waiting ---------------------------------------------------------- */

static int job_timer_cb(sd_event_source *s, uint64_t usec, void *opaque)
{
    job_enter(opaque);
    return 0;
}

static void job_timer_stop(Job *job)
{
    job->timer = sd_event_source_disable_unref(job->timer);
    job->sleeping = false;
}

void job_enter(Job *job)
{
    if (!job->co || job->busy || job->deferred)
        return;
    job_timer_stop(job);
    job->busy = true;
    coroutine_wake(job->co);
}

/* Yields until job_enter; with a timer after sleep_us (0: the next turn of the loop; UINT64_MAX: none). */
static void coroutine_fn job_do_yield(Job *job, uint64_t sleep_us)
{
    if (sleep_us == 0) {
        coroutine_wake(job->co);        /* one turn of the loop: no timer to arm */
    } else if (sleep_us != UINT64_MAX) {
        /* Accuracy 1 µs: sd-event's default (0) would let a step wait 250 ms. */
        if (sd_event_add_time_relative(aio_loop(), &job->timer, CLOCK_MONOTONIC, sleep_us, 1,
                                       job_timer_cb, job) >= 0)
            job->sleeping = true;
        else
            coroutine_wake(job->co);    /* no timer: come back at once */
    }
    job->busy = false;
    coroutine_yield();
    job->busy = true;
}

void coroutine_fn job_pause_point(Job *job)
{
    while (job->pause_count > 0 && !job->cancelled) {
        JobStatus status = job->status;

        job->status = status == JOB_STATUS_READY ? JOB_STATUS_STANDBY : JOB_STATUS_PAUSED;
        job_notify(job, "Status");
        job_notify_progress(job, true);
        job_do_yield(job, UINT64_MAX);
        job->status = status;
        job_notify(job, "Status");
    }
}

void coroutine_fn job_sleep_ns(Job *job, uint64_t ns)
{
    if (job->cancelled)
        return;
    if (job->pause_count == 0)
        job_do_yield(job, ns / 1000);
    job_pause_point(job);
}

void coroutine_fn job_yield(Job *job)
{
    if (job->cancelled)
        return;
    if (job->pause_count == 0)
        job_do_yield(job, UINT64_MAX);
    job_pause_point(job);
}

/* ---- progress and speed ------------------------------------------------------------ */

uint64_t job_expected_end_us(const Job *job)
{
    if (job->rate == 0 || job->progress_current >= job->progress_total)
        return 0;
    return (uint64_t)g_get_real_time() +
           (job->progress_total - job->progress_current) * 1000000 / job->rate;
}

void job_notify_progress(Job *job, bool force)
{
    uint64_t now = (uint64_t)g_get_monotonic_time();

    if (!force && now - job->notify_mark_us < JOB_NOTIFY_US)
        return;
    job->notify_mark_us = now;
    job_notify(job, "CurrentProgress");
    job_notify(job, "TotalProgress");
    job_notify(job, "Rate");
    job_notify(job, "ExpectedEndTime");
}

void job_progress_set_remaining(Job *job, uint64_t remaining)
{
    job->progress_total = job->progress_current + remaining;
}

static void job_measure_rate(Job *job, uint64_t now)
{
    if (now - job->rate_mark_us < JOB_RATE_WINDOW_US)
        return;
    job->rate = (job->progress_current - job->rate_mark_bytes) * 1000000 /
                (now - job->rate_mark_us);
    job->rate_mark_us = now;
    job->rate_mark_bytes = job->progress_current;
}

/* How long to wait before the next step so that the job keeps to its speed. */
static uint64_t job_rate_delay_us(Job *job, uint64_t bytes, uint64_t now)
{
    uint64_t quota;

    if (job->speed == 0)
        return 0;
    if (now - job->slice_start_us >= JOB_SLICE_US) {
        job->slice_start_us = now;
        job->slice_bytes = 0;
    }
    job->slice_bytes += bytes;
    quota = MAX(job->speed * JOB_SLICE_US / 1000000, 1);
    if (job->slice_bytes < quota)
        return 0;
    /* A step larger than a slice's quota spans several slices. */
    uint64_t end = job->slice_start_us + JOB_SLICE_US * (job->slice_bytes / quota);
    job->slice_start_us = end;
    job->slice_bytes = 0;
    return end > now ? end - now : 0;
}

void job_progress_update(Job *job, uint64_t bytes)
{
    job->progress_current += bytes;
    if (job->progress_current > job->progress_total)
        job->progress_total = job->progress_current;
    job_measure_rate(job, (uint64_t)g_get_monotonic_time());
    job_notify_progress(job, false);
}

uint64_t job_ratelimit_delay_ns(Job *job, uint64_t copied)
{
    return job_rate_delay_us(job, copied, (uint64_t)g_get_monotonic_time()) * 1000;
}

void coroutine_fn job_progress_done(Job *job, uint64_t bytes, uint64_t copied)
{
    job_progress_update(job, bytes);
    /* Also a pause point, and a turn of the loop for everyone else. */
    job_sleep_ns(job, job_ratelimit_delay_ns(job, copied));
}

void job_transition_to_ready(Job *job)
{
    g_assert(job_transition_allowed(job->status, JOB_STATUS_READY));
    job->status = JOB_STATUS_READY;
    job_notify(job, "Status");
    job_notify_progress(job, true);
}

/* ---- errors ------------------------------------------------------------------------- */

static const char *const job_error_action_names[] = {
    [JOB_ERROR_ACTION_REPORT] = "report",
    [JOB_ERROR_ACTION_IGNORE] = "ignore",
    [JOB_ERROR_ACTION_STOP] = "stop",
};

static JobErrorAction job_policy(JobOnError on_error, int error)
{
    switch (on_error) {
    case JOB_ON_ERROR_IGNORE:
        return JOB_ERROR_ACTION_IGNORE;
    case JOB_ON_ERROR_STOP:
        return JOB_ERROR_ACTION_STOP;
    case JOB_ON_ERROR_ENOSPC:
        return error == -ENOSPC ? JOB_ERROR_ACTION_STOP : JOB_ERROR_ACTION_REPORT;
    case JOB_ON_ERROR_REPORT:
        break;
    }
    return JOB_ERROR_ACTION_REPORT;
}

JobErrorAction job_error_action(Job *job, bool is_read, int error)
{
    return job_error_action_with(job, job->on_error, is_read, error);
}

JobErrorAction job_error_action_with(Job *job, JobOnError policy, bool is_read, int error)
{
    JobErrorAction action = job_policy(policy, error);
    const char *op = is_read ? "read" : "write";

    job_emit_io_error(job, op, job_error_action_names[action]);
    if (action == JOB_ERROR_ACTION_STOP) {
        g_free(job->error);
        job->error = g_strdup_printf("Job '%s' stopped: %s error: %s", job->id, op,
                                     g_strerror(-error));
        job->stopped_on_error = true;
        job_notify(job, "Error");
        if (!job->user_paused) {
            job->user_paused = true;
            job->pause_count++;
        }
    }
    return action;
}

void job_clear_stop_error(Job *job)
{
    if (!job->stopped_on_error)
        return;
    job->stopped_on_error = false;
    g_clear_pointer(&job->error, g_free);
    job_notify(job, "Error");
}

/* ---- nodes -------------------------------------------------------------------------- */

/* A node another job already works on: jobs may not overlap. */
static bool job_check_node_free(Job *job, BlockNode *node, GError **errp)
{
    for (guint i = 0; i < node->parents->len; i++) {
        BlockChild *c = g_ptr_array_index(node->parents, i);

        if (c->user_kind == BLOCK_USER_JOB && strcmp(c->user_name, job->id) != 0) {
            g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                        "Node '%s' is busy: job '%s' works on it", node->name, c->user_name);
            return false;
        }
    }
    return true;
}

static BlockNode *job_first_node(Job *job)
{
    return ((BlockChild *)g_ptr_array_index(job->links, 0))->node;
}

static bool job_find_move(Job *job, BlockNode *node)
{
    for (guint i = 0; i < job->moves->len; i++) {
        if (g_array_index(job->moves, JobMove, i).node == node)
            return true;
    }
    return false;
}

/*
 * The job's nodes share one loop, where run() runs (job.h): the first
 * node's.  A later node of another loop comes into it with its subtree
 * when nothing ties it to its own (node_loop_can_move: as QEMU moves a
 * mirror target into the source's AioContext), once the setup succeeded;
 * else the job is refused, naming what ties it.
 */
static bool job_check_node_loop(Job *job, BlockNode *node, GError **errp)
{
    BlockNode *first;
    g_autofree char *here = NULL, *there = NULL;
    g_autoptr(GError) tie = NULL;

    if (job->links->len == 0) {
        job->loop = node->loop;
        return true;
    }
    if (node->loop == job->loop || job_find_move(job, node))
        return true;
    if (node_loop_can_move(node, node_loop(job_first_node(job)), job->id, &tie)) {
        JobMove m = { .node = node, .from = node->loop };

        g_array_append_val(job->moves, m);
        return true;
    }
    first = job_first_node(job);
    here = node_loop_describe(node);
    there = node_loop_describe(first);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Job '%s': node '%s' runs in %s but node '%s' in %s, and a job's nodes "
                "must be in one loop: %s", job->id, node->name, here, first->name, there,
                tie->message);
    return false;
}

bool coroutine_fn job_co_move_nodes(Job *job, GError **errp)
{
    AioLoop *to = job->loop ? job->loop : aio_loop_main();

    for (guint i = 0; i < job->moves->len; i++) {
        JobMove *m = &g_array_index(job->moves, JobMove, i);

        if (!node_co_move_loop(m->node, to, job->id, errp))
            return false;
        m->moved = true;
    }
    return true;
}

void coroutine_fn job_co_unmove_nodes(Job *job)
{
    for (guint i = job->moves->len; i-- > 0;) {
        JobMove *m = &g_array_index(job->moves, JobMove, i);
        g_autoptr(GError) err = NULL;

        if (m->moved && !node_co_move_loop(m->node, m->from ? m->from : aio_loop_main(),
                                           job->id, &err))
            g_warning("Job '%s': %s", job->id, err->message);
    }
    g_array_set_size(job->moves, 0);
}

BlockChild *job_add_node(Job *job, BlockNode *node, uint64_t perm, uint64_t shared,
                         GError **errp)
{
    BlockChild *c;

    if (!job_check_node_free(job, node, errp) || !job_check_node_loop(job, node, errp))
        return NULL;
    c = node_attach_user(node, BLOCK_USER_JOB, job->id, "job", perm, shared, errp);
    if (c)
        g_ptr_array_add(job->links, c);
    return c;
}

bool job_freeze_link(Job *job, BlockChild *c, GError **errp)
{
    if (c->frozen) {
        g_set_error(errp, BG_ERROR, BG_ERROR_FROZEN,
                    "Cannot freeze the '%s' link of node '%s': job '%s' relies on it",
                    c->role, c->parent ? c->parent->name : c->user_name,
                    c->frozen_by ? c->frozen_by : "?");
        return false;
    }
    c->frozen++;
    c->frozen_by = job->id;
    g_ptr_array_add(job->frozen, c);
    return true;
}

bool job_share_writes_below(Job *job, BlockChild *c, GError **errp)
{
    g_assert(c->frozen && c->parent);
    c->job_shared = BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE;
    return perm_refresh_node(c->parent, errp);
}

void job_unfreeze_links(Job *job)
{
    for (guint i = 0; i < job->frozen->len; i++) {
        BlockChild *c = g_ptr_array_index(job->frozen, i);
        g_autoptr(GError) err = NULL;

        c->frozen--;
        c->frozen_by = NULL;
        if (c->job_shared) {
            c->job_shared = 0;
            if (c->parent && !perm_refresh_node(c->parent, &err))
                g_warning("Job '%s': %s", job->id, err->message);
        }
    }
    g_ptr_array_set_size(job->frozen, 0);
}

void coroutine_fn job_drop_node(Job *job, BlockChild *c)
{
    if (g_ptr_array_remove(job->links, c)) {
        node_detach_user(c);
        job_notify(job, "Nodes");
    }
}

void coroutine_fn job_release_nodes(Job *job)
{
    while (job->links->len > 0) {
        BlockChild *c = g_ptr_array_steal_index(job->links, job->links->len - 1);

        node_detach_user(c);
        job_notify(job, "Nodes");
    }
}
