/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The life of a job: creation, the verbs, and the end (QEMU's job.c
 * order: completed -> waiting -> pending -> finalize: prepare, then abort
 * or nothing, then clean -> concluded -> null).  Everything runs on the
 * loop; the end runs in the job's own coroutine, or in one started by
 * Finalize / Cancel of a pending job.
 */

#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "jobs/job-internal.h"

static GQueue job_queue = G_QUEUE_INIT;
static const JobListener *job_listener;

void job_set_listener(const JobListener *listener)
{
    job_listener = listener;
}

Job *job_lookup(const char *id)
{
    for (GList *l = job_queue.head; l; l = l->next)
        if (strcmp(((Job *)l->data)->id, id) == 0)
            return l->data;
    return NULL;
}

GList *job_list(void)
{
    return job_queue.head;
}

/* A notification from run() on an iothread, for the listener on the main loop. */
typedef struct JobPosted {
    Job *job;
    char *property;     /* changed, or NULL: an I/O error */
    char *operation;
    char *action;
} JobPosted;

static void job_deliver(Job *job, const char *property, const char *operation,
                        const char *action)
{
    if (!job_listener)
        return;
    if (property && job_listener->changed && job->status != JOB_STATUS_NULL)
        job_listener->changed(job, property);
    if (!property && job_listener->io_error)
        job_listener->io_error(job, operation, action);
}

static void job_deliver_posted(void *opaque)
{
    JobPosted *p = opaque;

    job_deliver(p->job, p->property, p->operation, p->action);
    job_unref(p->job);
    g_free(p->property);
    g_free(p->operation);
    g_free(p->action);
    g_free(p);
}

/* The listener is the main loop's: from an iothread, in the order posted. */
static void job_post(Job *job, const char *property, const char *operation,
                     const char *action)
{
    JobPosted *p;

    if (aio_loop_is_main(aio_loop_self())) {
        job_deliver(job, property, operation, action);
        return;
    }
    p = g_new(JobPosted, 1);
    *p = (JobPosted){ job, g_strdup(property), g_strdup(operation), g_strdup(action) };
    job_ref(job);
    aio_loop_call(aio_loop_main(), job_deliver_posted, p);
}

void job_notify(Job *job, const char *property)
{
    job_post(job, property, NULL, NULL);
}

void job_emit_io_error(Job *job, const char *operation, const char *action)
{
    job_post(job, NULL, operation, action);
}

static void job_state_transition(Job *job, JobStatus to)
{
    g_assert(job_transition_allowed(job->status, to));
    job->status = to;
    job_notify(job, "Status");
}

static bool job_apply_verb(Job *job, JobVerb verb, GError **errp)
{
    if (job_verb_allowed(verb, job->status))
        return true;
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                "Job '%s' in state '%s' cannot accept command verb '%s'", job->id,
                job_status_name(job->status), job_verb_name(verb));
    return false;
}

void job_ref(Job *job)
{
    job->refcnt++;
}

void job_unref(Job *job)
{
    if (--job->refcnt > 0)
        return;
    g_assert(job->links->len == 0 && job->frozen->len == 0);
    if (job->drv->free)
        job->drv->free(job);
    g_ptr_array_unref(job->links);
    g_ptr_array_unref(job->frozen);
    g_array_unref(job->moves);
    g_free(job->xml);
    g_free(job->error);
    g_free(job->id);
    g_free(job);
}

bool job_is_ready(const Job *job)
{
    return job->status == JOB_STATUS_READY || job->status == JOB_STATUS_STANDBY;
}

bool job_is_completed(const Job *job)
{
    return job->status >= JOB_STATUS_WAITING;
}

/* ---- the end ------------------------------------------------------------------ */

static void job_do_dismiss(Job *job)
{
    job_state_transition(job, JOB_STATUS_NULL);
    if (job_listener && job_listener->removed)
        job_listener->removed(job);
    g_queue_remove(&job_queue, job);
    job_unref(job);
}

static void job_update_rc(Job *job)
{
    if (!job->ret && job_is_cancelled(job))
        job->ret = -ECANCELED;
    if (!job->ret)
        return;
    if (!job->error)
        job->error = g_strdup(job->ret == -ECANCELED ? "Job was cancelled" :
                              g_strerror(-job->ret));
    if (job->status != JOB_STATUS_ABORTING) {
        job_state_transition(job, JOB_STATUS_ABORTING);
        job_notify(job, "Error");
    }
}

static void coroutine_fn job_finalize_single(Job *job)
{
    job_update_rc(job);
    if (job->ret && job->drv->co_abort)
        job->drv->co_abort(job);
    if (job->drv->co_clean)
        job->drv->co_clean(job);
    job_unfreeze_links(job);
    job_release_nodes(job);
    if (job_listener && job_listener->completed)
        job_listener->completed(job, job->ret == 0, job->ret ? job->error : "");
    job_state_transition(job, JOB_STATUS_CONCLUDED);
    co_queue_wake_all(&job->finished);
    if (job->auto_dismiss)
        job_do_dismiss(job);
}

static void coroutine_fn job_do_finalize(Job *job)
{
    if (job->ret == 0 && job->drv->co_prepare) {
        g_autoptr(GError) err = NULL;

        job->ret = job->drv->co_prepare(job, &err);
        if (job->ret < 0 && err && !job->error)
            job->error = g_strdup(err->message);
    }
    job_finalize_single(job);
}

/* The coroutine body after run() returned (QEMU's job_completed). */
static void coroutine_fn job_completed(Job *job)
{
    job_update_rc(job);
    if (job->ret) {
        job_finalize_single(job);
        return;
    }
    job_state_transition(job, JOB_STATUS_WAITING);
    job_state_transition(job, JOB_STATUS_PENDING);
    if (job->auto_finalize)
        job_do_finalize(job);
}

/* The end, on the main loop: the graph change and the listener are its. */
static void coroutine_fn job_co_complete(void *opaque)
{
    Job *job = opaque;

    job_completed(job);
    job_unref(job);
}

static void job_complete_posted(void *opaque)
{
    coroutine_start(job_co_complete, opaque);
}

static void coroutine_fn job_co_entry(void *opaque)
{
    Job *job = opaque;
    g_autoptr(GError) err = NULL;

    job_pause_point(job);
    job->ret = job->drv->co_run(job, &err);
    if (job->ret < 0 && err && !job->error)
        job->error = g_strdup(err->message);
    job->deferred = true;
    job->co = NULL;
    job_notify_progress(job, true);
    if (job->loop)
        aio_loop_call(aio_loop_main(), job_complete_posted, job);
    else
        job_co_complete(job);
}

/* On the job's loop: its coroutine belongs to the loop that creates it. */
static void job_spawn(void *opaque)
{
    Job *job = opaque;

    job->co = coroutine_create(job_co_entry, job);
    coroutine_wake(job->co);
}

/* ---- creation -------------------------------------------------------------------- */

static bool job_id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0]) || strlen(id) > JOB_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p))
            return false;
    return true;
}

static bool job_check_id(const char *id, GError **errp)
{
    if (!job_id_wellformed(id)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Invalid job id '%s' (a letter, then letters, digits, '-', '.', '_'; "
                    "at most %d)", id, JOB_ID_MAX);
        return false;
    }
    if (job_lookup(id)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "Job id '%s' is already in use", id);
        return false;
    }
    return true;
}

static Job *job_new(const JobDriver *drv, const JobSpec *spec, const char *xml, uint32_t uid)
{
    Job *job = g_malloc0(drv->instance_size);

    job->drv = drv;
    job->id = g_strdup(spec->id);
    job->xml = g_strdup(xml);
    job->on_error = spec->on_error;
    job->auto_finalize = spec->auto_finalize;
    job->auto_dismiss = spec->auto_dismiss;
    job->speed = spec->speed;
    job->started_by_uid = uid;
    job->start_time_us = (uint64_t)g_get_real_time();
    job->refcnt = 1;
    job->pause_count = 1;
    job->links = g_ptr_array_new();
    job->frozen = g_ptr_array_new();
    job->moves = g_array_new(false, false, sizeof(JobMove));
    co_queue_init(&job->finished);
    job->status = JOB_STATUS_UNDEFINED;
    job_state_transition(job, JOB_STATUS_CREATED);
    return job;
}

void coroutine_fn job_co_discard(Job *job)
{
    if (job->drv->co_clean)
        job->drv->co_clean(job);
    job_co_unmove_nodes(job);
    job_unfreeze_links(job);
    job_release_nodes(job);
    job_unref(job);
}

static Job *coroutine_fn job_co_setup_with(const JobDriver *drv, const JobSpec *spec,
                                           const char *xml, uint32_t uid, GError **errp)
{
    Job *job;

    if (!job_check_id(spec->id, errp))
        return NULL;
    job = job_new(drv, spec, xml, uid);
    graph_co_lock();            /* the graph holds still while the job takes its nodes */
    int r = drv->co_setup(job, spec, errp);
    if (r >= 0 && !job_co_move_nodes(job, errp))
        r = -EINVAL;
    graph_unlock();
    if (r < 0) {
        job_co_discard(job);
        return NULL;
    }
    return job;
}

Job *coroutine_fn job_co_setup(const JobSpec *spec, const char *xml, uint32_t uid,
                               GError **errp)
{
    const JobDriver *drv = job_driver_find(spec->type);

    if (!drv) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Unknown job type '%s'",
                    spec->type);
        return NULL;
    }
    return job_co_setup_with(drv, spec, xml, uid, errp);
}

bool job_begin(Job *job, GError **errp)
{
    /* Another job may have taken the id while the setup yielded. */
    if (!job_check_id(job->id, errp))
        return false;
    return !job->drv->begin || job->drv->begin(job, errp);
}

void job_undo_begin(Job *job)
{
    if (job->drv->undo_begin)
        job->drv->undo_begin(job);
}

void job_start(Job *job)
{
    g_queue_push_tail(&job_queue, job);
    if (job_listener && job_listener->added)
        job_listener->added(job);
    /* Start (QEMU's job_start): the coroutine runs from the next loop iteration. */
    job_ref(job);
    job->pause_count--;
    job->busy = true;
    job->rate_mark_us = job->notify_mark_us = (uint64_t)g_get_monotonic_time();
    job_state_transition(job, JOB_STATUS_RUNNING);
    if (job->loop)
        aio_loop_call(job->loop, job_spawn, job);
    else
        job_spawn(job);
}

/* Begins and starts a job that was set up, or discards it. */
static Job *coroutine_fn job_co_launch(Job *job, GError **errp)
{
    if (!job)
        return NULL;
    if (!job_begin(job, errp)) {
        job_co_discard(job);
        return NULL;
    }
    job_start(job);
    return job;
}

Job *coroutine_fn job_co_create(const JobDriver *drv, const JobSpec *spec, const char *xml,
                                uint32_t uid, GError **errp)
{
    return job_co_launch(job_co_setup_with(drv, spec, xml, uid, errp), errp);
}

Job *coroutine_fn job_co_start(const JobSpec *spec, const char *xml, uint32_t uid,
                               GError **errp)
{
    return job_co_launch(job_co_setup(spec, xml, uid, errp), errp);
}

/* ---- verbs -------------------------------------------------------------------------- */

bool job_user_pause(Job *job, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_PAUSE, errp))
        return false;
    if (job->user_paused) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE, "Job '%s' is already paused",
                    job->id);
        return false;
    }
    job->user_paused = true;
    job->pause_count++;
    job_enter(job);             /* to its next pause point */
    return true;
}

bool job_user_resume(Job *job, GError **errp)
{
    if (!job->user_paused || job->pause_count == 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                    "Job '%s' cannot be resumed: it was not paused", job->id);
        return false;
    }
    if (!job_apply_verb(job, JOB_VERB_RESUME, errp))
        return false;
    job->user_paused = false;
    job_clear_stop_error(job);
    if (--job->pause_count == 0)
        job_enter(job);
    return true;
}

static void coroutine_fn job_co_abort_pending(void *opaque)
{
    Job *job = opaque;

    job_finalize_single(job);
    job_unref(job);
}

static void job_cancel(Job *job, bool force)
{
    if (job->user_paused) {
        job->user_paused = false;
        job->pause_count--;
        job_clear_stop_error(job);
    }
    job->cancelled = true;
    /* A ready job cancelled softly ends without its pivot, successfully (QEMU). */
    job->force_cancel |= force || !job_is_ready(job);
    if (job->status == JOB_STATUS_PENDING) {
        job_ref(job);
        coroutine_start(job_co_abort_pending, job);
    } else {
        job_enter(job);
    }
}

bool job_user_cancel(Job *job, bool force, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_CANCEL, errp))
        return false;
    job_cancel(job, force);
    return true;
}

bool job_user_complete(Job *job, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_COMPLETE, errp))
        return false;
    if (job->pause_count || job->cancelled || !job->drv->complete) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                    "The job '%s' cannot be completed now", job->id);
        return false;
    }
    job->drv->complete(job);
    return true;
}

bool job_set_speed(Job *job, uint64_t speed, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_SET_SPEED, errp))
        return false;
    job->speed = speed;
    job->slice_bytes = 0;
    job_notify(job, "Speed");
    if (job->sleeping)
        job_enter(job);
    return true;
}

bool job_dismiss(Job *job, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_DISMISS, errp))
        return false;
    job_do_dismiss(job);
    return true;
}

bool coroutine_fn job_co_finalize(Job *job, GError **errp)
{
    if (!job_apply_verb(job, JOB_VERB_FINALIZE, errp))
        return false;
    job_ref(job);
    job_do_finalize(job);
    job_unref(job);
    return true;
}

void coroutine_fn job_co_cancel_all(void)
{
    Job *job;

    while ((job = g_queue_peek_head(&job_queue))) {
        job_ref(job);
        if (!job_is_completed(job) || job->status == JOB_STATUS_PENDING)
            job_cancel(job, true);
        while (job->status < JOB_STATUS_CONCLUDED)
            co_queue_wait(&job->finished);
        if (job->status == JOB_STATUS_CONCLUDED)
            job_do_dismiss(job);
        job_unref(job);
    }
}

char *job_to_xml(const Job *job)
{
    return g_strdup(job->xml);
}
