/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between the files of jobs/ only. */

#include "jobs/job.h"

#define JOB_ID_MAX 128

void job_ref(Job *job);
void job_unref(Job *job);
bool job_is_completed(const Job *job);
void job_emit_io_error(Job *job, const char *operation, const char *action);
/* Progress properties changed: tells the listener at most every 100 ms (or now if force). */
void job_notify_progress(Job *job, bool force);
/* Resume or cancel after an on-error stop: the error goes. */
void job_clear_stop_error(Job *job);

/* A node (and its subtree) that job_add_node found in another loop. */
typedef struct JobMove {
    BlockNode *node;
    AioLoop *from;      /* NULL: the main loop */
    bool moved;
} JobMove;
/* After the setup: moves them into the job's loop (graph/iothread.h), or fails. */
bool coroutine_fn job_co_move_nodes(Job *job, GError **errp);
/* A job that never started: they go back where they were. */
void coroutine_fn job_co_unmove_nodes(Job *job);
