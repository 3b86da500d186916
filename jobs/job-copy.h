/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The copy loop stream and intermediate commit share.  It walks [0, len),
 * asks the job type what each range needs (status), passes over a range
 * with nothing to copy as a whole, and copies the rest in chunks, several
 * in flight at once (as QEMU's block-copy and mirror do).  It keeps the
 * job's progress, speed limit, pauses, cancel and on-error policy:
 *
 * - one chunk at a time under a speed limit (the limit stays exact);
 * - a pause, or a stop on error, waits for the copies in flight, so that
 *   a paused job does no I/O and its progress stays still;
 * - on-error=stop copies the failed chunk again after Resume; ignore goes
 *   on and fails the job at the end; report ends the copy.
 *
 * Guests first: while users other than jobs send requests to the watched
 * node (a guest through an export, a parent node), one chunk is in flight
 * at a time and after each the loop waits JOB_COPY_GUEST_SHARE times as
 * long as the chunk took, so that the job keeps to a small share of the
 * loop and the CPUs; with nobody else there it runs at full speed again.
 */

#include "jobs/job.h"

#define JOB_COPY_CHUNK (512 * 1024)

typedef struct JobCopy JobCopy;

typedef struct JobCopyOps {
    /*
     * What [offset, offset + bytes) needs: sets *pnum (> 0) to how many
     * bytes share the answer and returns BlockStatus bits (ALLOCATED: copy
     * them; ZERO: they read as zeroes), or a negative errno.
     */
    int coroutine_fn (*status)(JobCopy *jc, uint64_t offset, uint64_t bytes, uint64_t *pnum);
    /*
     * Copies [offset, offset + bytes) (at most a chunk, status as status()
     * said) through buf; *copied: the bytes really written; on failure
     * *is_read says whether the read failed.  Runs beside other copies.
     */
    int coroutine_fn (*copy)(JobCopy *jc, uint64_t offset, uint64_t bytes, int status,
                             void *buf, uint64_t *copied, bool *is_read);
} JobCopyOps;

typedef struct JobCopyTask JobCopyTask;

struct JobCopy {
    Job *job;
    const JobCopyOps *ops;
    BlockNode *watch;           /* others' requests here make the job step back; NULL: none */
    uint64_t len;

    /* The loop's own. */
    Coroutine *co;              /* the loop, while it waits for a copy */
    bool waiting;
    uint64_t offset;            /* where status is asked next */
    uint64_t ext_end;           /* [offset, ext_end) shares ext_status */
    int ext_status;
    unsigned in_flight;
    JobCopyTask *tasks;         /* JOB_COPY_MAX_IN_FLIGHT, each with a chunk buffer */
    GQueue idle, done;          /* JobCopyTask* */
    GArray *retry;              /* JobCopyTask ranges to copy again (on-error stop) */
    bool guests;                /* others used the watched node during the last copy */
    int error;                  /* the first error that fails the job */
    bool failed;                /* on-error report: stop copying */
};

/* Runs the copy: 0, or the first error (negative errno) that fails the job. */
int coroutine_fn job_copy_run(JobCopy *jc);

/*
 * Copies [offset, +bytes) of src to the same place in dst: offloaded where
 * every node on the way can (node_co_copy_range), else read into buf and
 * written from it.  On failure *is_read says whether the read failed.
 * Commit, active commit and mirror copy their data ranges with it.
 */
int coroutine_fn job_copy_data(BlockChild *src, BlockChild *dst, uint64_t offset, uint64_t bytes,
                               void *buf, bool *is_read);
