/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Between backup.c (the job type) and backup-copy.c (what copies: QEMU's
 * block-copy with the copy-before-write hook).
 *
 * `uncopied` holds the clusters of the point-in-time image still to copy.  A
 * copy first claims its clusters (clears them in uncopied and lists itself as
 * a task in flight), so a cluster is copied once: by the job's background
 * pass, or by the hook on the source when a guest write reaches it first
 * (the write waits until the old data is in the target).  A failed copy
 * marks its clusters again.
 *
 * The background pass reads first and claims after: a guest write whose
 * hook waited for a background read would hold up a drain of the source
 * that the read waits for.  So a background copy reads (or asks for zero
 * runs) unclaimed, then claims the range only if all of it is still marked
 * and no task holds any of it; otherwise a guest write got there first and
 * the data read is dropped (what is still marked is read again later).
 */

#include "graph/bitmap.h"
#include "graph/io.h"
#include "jobs/job-dirty.h"
#include "jobs/job.h"

#define BACKUP_CLUSTER (64 * 1024)          /* QEMU's default backup cluster size */
#define BACKUP_CHUNK (1024 * 1024)          /* the most one copy moves (QEMU's buffer max) */
#define BACKUP_MAX_TASKS 16                 /* background copies in flight */

typedef enum BackupSync {
    BACKUP_SYNC_FULL,
    BACKUP_SYNC_TOP,
    BACKUP_SYNC_NONE,
    BACKUP_SYNC_BITMAP,                     /* incremental: bitmap with on-success */
} BackupSync;

typedef enum BackupBitmapMode {
    BACKUP_BITMAP_ON_SUCCESS,
    BACKUP_BITMAP_NEVER,
    BACKUP_BITMAP_ALWAYS,
} BackupBitmapMode;

typedef struct BackupJob BackupJob;

typedef struct BackupTask {
    BackupJob *job;
    uint64_t offset, bytes;
    bool background;            /* the job's pass (not the hook) */
    bool claimed;               /* a background task reads first, then claims */
    int ret;
    bool is_read;               /* the error was the source's */
    CoQueue waiters;            /* hooks waiting for these clusters */
} BackupTask;

struct BackupJob {
    Job common;
    BlockNode *source, *target;
    BlockChild *source_link, *target_link;
    BackupSync sync;
    BackupBitmapMode bitmap_mode;
    JobOnError on_source_error, on_target_error;
    char *bitmap_name;
    DirtyBitmap *bitmap;        /* the user's bitmap, with a successor from begin on */
    bool began;                 /* the point in time is taken (begin) */
    bool ran;                   /* run started: the end decides about the bitmap */
    bool read_locks;            /* serialise: the target's reads are tracked */

    JobDirty uncopied;
    bool serialise;             /* the target reads the source below it (fleecing) */
    bool no_offload;            /* a copy offload failed: copies go through a buffer */
    GList *tasks;               /* BackupTask* in flight, their clusters claimed */
    GList *reading;             /* BackupTask* of the background pass, reading unclaimed */
    GQueue done;                /* BackupTask* of the background pass, finished */
    unsigned n_background;      /* background tasks in flight */
    uint64_t cursor;            /* where the background pass looks next */
    uint64_t copied;            /* bytes copied so far (pass and hook) */
    uint64_t accounted;         /* of which the job's progress knows */
    bool waiting;               /* the job waits for a task: the end of one wakes it */
    CoQueue idle;               /* woken when a task ends */

    WriteObserver hook;
    bool hooked;
    unsigned hooks_in_flight;
};

/* Starts the hook on the source (no yield). */
void backup_hook_start(BackupJob *s);
/* Stops it and waits for the copies it runs (no yield when none runs). */
void coroutine_fn backup_hook_stop(BackupJob *s);
/* Claims the next marked run from the cursor and copies it in a coroutine; false: none. */
bool backup_start_task(BackupJob *s);
/* Waits until no copy (background or hook) is in flight. */
void coroutine_fn backup_wait_tasks(BackupJob *s);
