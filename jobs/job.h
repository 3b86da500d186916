/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Long-running operations on the graph (stream, commit): QEMU's job model.
 *
 * A job type is one JobDriver table of callbacks; the framework runs
 * run() in a coroutine on the loop, keeps the state machine and the verb
 * table exactly as QEMU's job.c (JobSTT, JobVerbTable), and takes care of
 * pausing, cancelling, speed limits, progress, error policies and the end:
 *
 *   created -> running [-> ready] -> waiting -> pending -> concluded -> null
 *                 \_ paused / standby      \_ aborting _/
 *
 * prepare() (the graph change) runs at finalize, then commit() or abort(),
 * then clean(); with auto-finalize off the job waits in `pending` for
 * Finalize, with auto-dismiss off in `concluded` for Dismiss.
 *
 * A job touches nodes through links of its own (job_add_node): it shows in
 * Node.Users as job <id>, takes and shares permissions like any user, and
 * does I/O through graph/io.h.  The links of a chain it relies on are
 * frozen (job_freeze_link) until it ends.
 *
 * Loops: a job's nodes share one loop (job_add_node refuses others), and
 * run() and the coroutines it starts run there, on an iothread for nodes
 * bound to one.  The rest (set-up, the state machine and verbs, prepare,
 * abort and clean, the listener) is the main loop's: run() hands over to
 * the main loop when it returns, and what it notifies on an iothread is
 * posted there (job_notify, job_emit_io_error).
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-event.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "graph/node.h"

typedef enum JobStatus {
    JOB_STATUS_UNDEFINED,
    JOB_STATUS_CREATED,
    JOB_STATUS_RUNNING,
    JOB_STATUS_PAUSED,
    JOB_STATUS_READY,
    JOB_STATUS_STANDBY,
    JOB_STATUS_WAITING,
    JOB_STATUS_PENDING,
    JOB_STATUS_ABORTING,
    JOB_STATUS_CONCLUDED,
    JOB_STATUS_NULL,
    JOB_STATUS__MAX,
} JobStatus;

typedef enum JobVerb {
    JOB_VERB_CANCEL,
    JOB_VERB_PAUSE,
    JOB_VERB_RESUME,
    JOB_VERB_SET_SPEED,
    JOB_VERB_COMPLETE,
    JOB_VERB_FINALIZE,
    JOB_VERB_DISMISS,
    JOB_VERB__MAX,
} JobVerb;

typedef enum JobOnError {
    JOB_ON_ERROR_REPORT,
    JOB_ON_ERROR_IGNORE,
    JOB_ON_ERROR_STOP,
    JOB_ON_ERROR_ENOSPC,
} JobOnError;

/* What the job does after an I/O error (job_error_action). */
typedef enum JobErrorAction {
    JOB_ERROR_ACTION_REPORT,     /* fail the job */
    JOB_ERROR_ACTION_IGNORE,     /* go on; the job still fails at the end */
    JOB_ERROR_ACTION_STOP,       /* the job paused; retry the step */
} JobErrorAction;

typedef struct Job Job;
typedef struct JobSpec JobSpec;

typedef struct JobDriver {
    const char *type;            /* "stream", "commit" */
    size_t instance_size;        /* >= sizeof(Job); Job is the first member */
    const char *const *attrs;    /* the type's own <job> attributes, NULL-terminated */

    /*
     * Checks spec against the graph and takes what the job needs: links
     * (job_add_node), frozen links.  Runs before the job is visible; on
     * failure the framework releases whatever was taken.
     */
    int coroutine_fn (*co_setup)(Job *job, const JobSpec *spec, GError **errp);
    /*
     * Optional: takes the job's point in time right before it starts,
     * without yielding (Manager.Transaction runs it among the other
     * actions); undo_begin, also without yielding, gives it back when the
     * transaction fails after it.
     */
    bool (*begin)(Job *job, GError **errp);
    void (*undo_begin)(Job *job);
    /* The work.  Calls job_pause_point / job_rate_limit between steps. */
    int coroutine_fn (*co_run)(Job *job, GError **errp);
    /* Complete() on a ready job: leave the ready loop and pivot. */
    void (*complete)(Job *job);
    /* Graph changes at finalize; failure makes the job fail. */
    int coroutine_fn (*co_prepare)(Job *job, GError **errp);
    void coroutine_fn (*co_abort)(Job *job);
    void coroutine_fn (*co_clean)(Job *job);
    /* The type's own attributes for GetXML. */
    void (*write_xml)(const Job *job, GString *out);
    void (*free)(Job *job);
} JobDriver;

/* A parsed <job> snippet (xml/job-parse.c). */
struct JobSpec {
    char *type;
    char *id;
    uint64_t speed;
    JobOnError on_error;
    bool auto_finalize;
    bool auto_dismiss;
    GHashTable *attrs;           /* the type's own attributes: name -> value */
};

void job_spec_free(JobSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(JobSpec, job_spec_free)
/* An attribute of the type, or NULL. */
const char *job_spec_get(const JobSpec *spec, const char *name);

struct Job {
    const JobDriver *drv;
    char *id;
    JobStatus status;
    JobOnError on_error;
    bool auto_finalize;
    bool auto_dismiss;
    uint32_t started_by_uid;
    uint64_t start_time_us;      /* realtime, µs since the epoch */

    /* Progress. */
    uint64_t progress_current;
    uint64_t progress_total;
    uint64_t rate;               /* bytes/s, measured */
    uint64_t rate_mark_us;       /* monotonic time of the last rate sample */
    uint64_t rate_mark_bytes;
    uint64_t notify_mark_us;     /* last progress PropertiesChanged */

    /* Speed limit: QEMU's slices of 100 ms. */
    uint64_t speed;
    uint64_t slice_start_us;
    uint64_t slice_bytes;

    char *error;                 /* the failure, or the error a stopped job shows */
    bool stopped_on_error;       /* error is a stop's: Resume clears it */
    int ret;
    char *xml;                   /* the <job> snippet it was started with */

    /* Execution. */
    AioLoop *loop;               /* of its nodes: where run() runs; NULL: the main loop */
    Coroutine *co;
    bool busy;                   /* running (not yielded in the framework) */
    bool sleeping;               /* in job_sleep_ns with a timer */
    sd_event_source *timer;
    unsigned pause_count;
    bool user_paused;
    bool cancelled;
    bool force_cancel;
    bool deferred;               /* run() returned: the end is under way */
    unsigned refcnt;

    GPtrArray *links;            /* BlockChild*: the job's users of nodes */
    GPtrArray *frozen;           /* BlockChild*: links frozen for the job */
    GArray *moves;               /* JobMove: nodes brought into loop for the job (job-run.c) */
    CoQueue finished;            /* waiters for the end of the finalize path */
};

typedef struct JobListener {
    void (*added)(Job *job);
    void (*removed)(Job *job);
    void (*changed)(Job *job, const char *property);
    void (*io_error)(Job *job, const char *operation, const char *action);
    void (*completed)(Job *job, bool success, const char *error);
} JobListener;

void job_set_listener(const JobListener *listener);

const char *job_status_name(JobStatus status);
const char *job_verb_name(JobVerb verb);
const char *job_on_error_name(JobOnError on_error);
bool job_on_error_parse(const char *text, JobOnError *ret);
/* QEMU's tables. */
bool job_transition_allowed(JobStatus from, JobStatus to);
bool job_verb_allowed(JobVerb verb, JobStatus status);

/* The job type called name, or NULL. */
const JobDriver *job_driver_find(const char *type);

Job *job_lookup(const char *id);
/* All jobs (Job*), oldest first; read-only. */
GList *job_list(void);

/*
 * Creates and starts the job spec describes, all or nothing: on failure no
 * job exists and no node was touched.
 */
Job *coroutine_fn job_co_start(const JobSpec *spec, const char *xml, uint32_t uid,
                               GError **errp);
/*
 * Manager.Transaction's steps: job_co_setup checks spec and takes the
 * nodes (it may yield; the job is not visible yet); job_begin takes its
 * point in time (no yield); job_start makes it visible and runs it.  A job
 * that does not start goes with job_co_discard (after job_undo_begin if
 * it began).
 */
Job *coroutine_fn job_co_setup(const JobSpec *spec, const char *xml, uint32_t uid,
                               GError **errp);
bool job_begin(Job *job, GError **errp);
void job_undo_begin(Job *job);
void job_start(Job *job);
void coroutine_fn job_co_discard(Job *job);
/* The same with a given driver (tests). */
Job *coroutine_fn job_co_create(const JobDriver *drv, const JobSpec *spec, const char *xml,
                                uint32_t uid, GError **errp);

/* The verbs.  Each fails with InvalidState naming the job, state and verb. */
bool job_user_pause(Job *job, GError **errp);
bool job_user_resume(Job *job, GError **errp);
bool job_user_cancel(Job *job, bool force, GError **errp);
bool job_user_complete(Job *job, GError **errp);
bool job_set_speed(Job *job, uint64_t speed, GError **errp);
bool job_dismiss(Job *job, GError **errp);
/* Finalize runs the graph changes: a coroutine. */
bool coroutine_fn job_co_finalize(Job *job, GError **errp);

/* The <job .../> the job was started with (GetXML). */
char *job_to_xml(const Job *job);

/* Cancels every job and waits for each to end (shutdown). */
void coroutine_fn job_co_cancel_all(void);

/* ---- for job types --------------------------------------------------------------- */

/* A link of the job to node, user "job <id>"; released when the job ends. */
BlockChild *job_add_node(Job *job, BlockNode *node, uint64_t perm, uint64_t shared,
                         GError **errp);
/* Freezes link c for the job (Reopen and RemoveNode refuse to change it). */
bool job_freeze_link(Job *job, BlockChild *c, GError **errp);
/*
 * On frozen link c: others may write and resize the nodes below it (commit
 * writes the base under the chain it copies; the data the parent sees
 * does not change).  Undone by job_unfreeze_links.
 */
bool job_share_writes_below(Job *job, BlockChild *c, GError **errp);
/* Releases every frozen link early (before the job changes them itself). */
void job_unfreeze_links(Job *job);
/* Detaches one link of the job early. */
void coroutine_fn job_drop_node(Job *job, BlockChild *c);
/* Detaches every link of the job (in clean, or at the end). */
void coroutine_fn job_release_nodes(Job *job);

/* Whether the job should stop its loop now and fail (a forced or not-ready cancel). */
bool job_is_cancelled(const Job *job);
/* Whether any Cancel came (a ready job ends its loop without pivot on a soft one). */
bool job_cancel_requested(const Job *job);
bool job_is_ready(const Job *job);
/* Expected end, µs since the epoch, 0 unknown. */
uint64_t job_expected_end_us(const Job *job);
/* Pauses here while the job is paused. */
void coroutine_fn job_pause_point(Job *job);
/* Sleeps ns (or until woken by a verb), then passes a pause point. */
void coroutine_fn job_sleep_ns(Job *job, uint64_t ns);
/* Yields until job_enter (a ready job waiting for Complete). */
void coroutine_fn job_yield(Job *job);
void job_enter(Job *job);
/*
 * Accounts bytes done, of which copied were really moved, and sleeps as the
 * speed limit asks for the copied ones (a pause point either way).
 */
void coroutine_fn job_progress_done(Job *job, uint64_t bytes, uint64_t copied);
/* Accounts bytes done without waiting (copies running beside the job's coroutine). */
void job_progress_update(Job *job, uint64_t bytes);
/* How long (ns) the speed limit wants the job to wait after copying copied bytes more. */
uint64_t job_ratelimit_delay_ns(Job *job, uint64_t copied);
void job_progress_set_remaining(Job *job, uint64_t remaining);
void job_transition_to_ready(Job *job);
/*
 * An I/O error (negative errno) in operation "read" or "write": applies the
 * on-error policy, sends IOError, and with stop pauses the job showing the
 * error (Resume retries).
 */
JobErrorAction job_error_action(Job *job, bool is_read, int error);
/* The same with a policy of the job type's own (mirror: on-source-error, on-target-error). */
JobErrorAction job_error_action_with(Job *job, JobOnError policy, bool is_read, int error);
/* Tells the listener a property changed. */
void job_notify(Job *job, const char *property);
