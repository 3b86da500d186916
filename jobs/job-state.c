/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's job state transition table and verb table (job.c: JobSTT,
 * JobVerbTable), and the names the bus shows.
 */

#include <string.h>

#include "jobs/job.h"

/* Rows: from; columns: to.  U C R P Y S W D X E N */
static const bool job_stt[JOB_STATUS__MAX][JOB_STATUS__MAX] = {
    [JOB_STATUS_UNDEFINED] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_CREATED]   = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1 },
    [JOB_STATUS_RUNNING]   = { 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0 },
    [JOB_STATUS_PAUSED]    = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_READY]     = { 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0 },
    [JOB_STATUS_STANDBY]   = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_WAITING]   = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0 },
    [JOB_STATUS_PENDING]   = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_ABORTING]  = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_CONCLUDED] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
    [JOB_STATUS_NULL]      = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

/* Rows: verb; columns: the states that accept it.  U C R P Y S W D X E N */
static const bool job_verb_table[JOB_VERB__MAX][JOB_STATUS__MAX] = {
    [JOB_VERB_CANCEL]    = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [JOB_VERB_PAUSE]     = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_RESUME]    = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_SET_SPEED] = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_COMPLETE]  = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [JOB_VERB_FINALIZE]  = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 },
    [JOB_VERB_DISMISS]   = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
};

static const char *const job_status_names[JOB_STATUS__MAX] = {
    [JOB_STATUS_UNDEFINED] = "undefined",
    [JOB_STATUS_CREATED] = "created",
    [JOB_STATUS_RUNNING] = "running",
    [JOB_STATUS_PAUSED] = "paused",
    [JOB_STATUS_READY] = "ready",
    [JOB_STATUS_STANDBY] = "standby",
    [JOB_STATUS_WAITING] = "waiting",
    [JOB_STATUS_PENDING] = "pending",
    [JOB_STATUS_ABORTING] = "aborting",
    [JOB_STATUS_CONCLUDED] = "concluded",
    [JOB_STATUS_NULL] = "null",
};

static const char *const job_verb_names[JOB_VERB__MAX] = {
    [JOB_VERB_CANCEL] = "cancel",
    [JOB_VERB_PAUSE] = "pause",
    [JOB_VERB_RESUME] = "resume",
    [JOB_VERB_SET_SPEED] = "set-speed",
    [JOB_VERB_COMPLETE] = "complete",
    [JOB_VERB_FINALIZE] = "finalize",
    [JOB_VERB_DISMISS] = "dismiss",
};

static const char *const job_on_error_names[] = {
    [JOB_ON_ERROR_REPORT] = "report",
    [JOB_ON_ERROR_IGNORE] = "ignore",
    [JOB_ON_ERROR_STOP] = "stop",
    [JOB_ON_ERROR_ENOSPC] = "enospc",
};

bool job_transition_allowed(JobStatus from, JobStatus to)
{
    return from < JOB_STATUS__MAX && to < JOB_STATUS__MAX && job_stt[from][to];
}

bool job_verb_allowed(JobVerb verb, JobStatus status)
{
    return verb < JOB_VERB__MAX && status < JOB_STATUS__MAX && job_verb_table[verb][status];
}

const char *job_status_name(JobStatus status)
{
    return status < JOB_STATUS__MAX ? job_status_names[status] : "undefined";
}

const char *job_verb_name(JobVerb verb)
{
    return verb < JOB_VERB__MAX ? job_verb_names[verb] : "?";
}

const char *job_on_error_name(JobOnError on_error)
{
    return (size_t)on_error < G_N_ELEMENTS(job_on_error_names) ?
           job_on_error_names[on_error] : "report";
}

bool job_on_error_parse(const char *text, JobOnError *ret)
{
    for (size_t i = 0; i < G_N_ELEMENTS(job_on_error_names); i++) {
        if (strcmp(text, job_on_error_names[i]) == 0) {
            *ret = (JobOnError)i;
            return true;
        }
    }
    return false;
}
