/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The mirror engine (QEMU's block/mirror.c), shared by the mirror job
 * (jobs/mirror.c) and active commit (jobs/commit-active.c): one engine,
 * two job types.
 *
 * A dirty bitmap of the source (graph/bitmap.c, nameless and in no list:
 * the engine marks it through a write observer, as QEMU's mirror_top filter
 * does) holds what the target still lacks.  The job's coroutine takes the
 * next dirty run (up to max_io bytes, stopping at a range a copy already
 * works on), clears its bits and starts a copy coroutine for it: several
 * copies in flight, at most MIRROR_MAX_IN_FLIGHT and buf_size bytes.  A
 * guest write during a copy marks its range again (after the write), so a
 * copy that read old data is made again; a copy never starts on a granule
 * another copy still works on, so copies of one range land in order.
 * A copy holds source and target as requests in flight while it works
 * (node_co_hold_begin), so a drain of either waits for it and lets its
 * requests pass, as QEMU's drain waits for a job's copies; only then does
 * it claim its range from write-blocking guest writes (docs/architecture.md,
 * "Drains").
 *
 * Once nothing is dirty and nothing in flight the target is flushed and the
 * job is `ready`; it keeps copying new writes.  Complete() (or a soft
 * Cancel) drains the source and the replaced node; when nothing came
 * meanwhile the target is flushed and the run ends with both still drained
 * (the caller pivots, then mirror_core_stop ends the drain).  write-blocking:
 * from the first pass on, every guest write is also written to the target
 * before it completes (before_write claims the range, co_written copies).
 */

#include "graph/bitmap.h"
#include "graph/io.h"
#include "jobs/job.h"

#define MIRROR_MAX_IN_FLIGHT 16
#define MIRROR_MAX_IO (1u << 20)
#define MIRROR_DEFAULT_BUF_SIZE (MIRROR_MAX_IN_FLIGHT * MIRROR_MAX_IO)
#define MIRROR_DEFAULT_GRANULARITY (64u << 10)

typedef enum MirrorInit {
    MIRROR_INIT_ALL,            /* everything is dirty (sync=full) */
    MIRROR_INIT_ALLOCATED,      /* what the source's chain holds above init_base */
    MIRROR_INIT_NONE,           /* only new writes (sync=none) */
} MirrorInit;

typedef struct MirrorCore {
    /* Set up by the job type before mirror_core_run. */
    Job *job;
    BlockChild *source;         /* the job's link, reading */
    BlockChild *target;         /* the job's link, writing */
    BlockNode *replaced;        /* a filter above the source whose users move at the
                                   pivot (drained with the source); NULL: the source */
    BlockNode *base;            /* commit: ranges not allocated above it are not copied */
    MirrorInit init;
    BlockNode *init_base;       /* MIRROR_INIT_ALLOCATED: NULL for the whole chain */
    uint64_t granularity;
    uint64_t buf_size;
    bool write_blocking;
    JobOnError on_source_error, on_target_error;

    /* The engine's own. */
    DirtyBitmap *dirty;
    uint64_t max_io;
    GQueue ops;                 /* MirrorOp*: background copies and guest writes copied */
    unsigned in_flight;         /* background copies */
    uint64_t bytes_in_flight;
    CoQueue op_done;            /* woken whenever an op ends */
    GQueue bufs;                /* free copy buffers of max_io bytes */
    WriteObserver observer;
    bool observing;
    bool synced;                /* write-blocking: guest writes go to the target now */
    bool waiting;               /* ready and idle: the next write wakes the job */
    bool should_complete;
    bool drained;               /* source and replaced node drained for the pivot */
    uint64_t cursor;            /* where the next dirty run is looked for */
    int ret;                    /* the first error reported (on-*-error=report) */
    bool ret_is_read;
} MirrorCore;

/*
 * Defaults: granularity 64K, buf-size 16M, copy-mode background, errors
 * reported, sync full; the job type sets the links and the rest.
 */
void mirror_core_init(MirrorCore *m, Job *job);
/*
 * The copy, ready, and the wait for Complete (or Cancel).  0: the target is
 * a consistent copy, source and replaced node drained (unless the job was
 * cancelled before it was ready).  Errors name the job, nodes and operation.
 */
int coroutine_fn mirror_core_run(MirrorCore *m, GError **errp);
/* Complete(): leave the ready loop for the pivot. */
void mirror_core_complete(MirrorCore *m);
/* For graph_co_replace_node at the pivot: the job's own links stay where they are. */
bool mirror_keep_job_links(const BlockChild *c, void *job);
/* The observer goes, the drain ends, the bitmap is freed; again: nothing. */
void coroutine_fn mirror_core_stop(MirrorCore *m);
