/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Between commit.c (the job type, intermediate commit) and commit-active.c. */

#include "graph/io.h"
#include "jobs/job-copy.h"
#include "jobs/mirror-core.h"
#include "jobs/job.h"

#define COMMIT_CHUNK (512 * 1024)

typedef struct CommitJob {
    Job common;
    BlockNode *active, *top, *base, *overlay;   /* overlay: NULL for active commit */
    BlockChild *top_link, *base_link;
    char *backing_file;
    void *buf;
    bool base_reopened;         /* the base was read-only: writable for the job, then back */
    bool pivoted;               /* active commit: the base took the top's place */
    JobCopy copy;               /* intermediate commit's copy loop */

    /* Active commit: the mirror engine copies what guests write meanwhile too. */
    MirrorCore core;
} CommitJob;

int coroutine_fn commit_grow_base(CommitJob *s, GError **errp);

int coroutine_fn commit_active_run(Job *job, GError **errp);
void commit_active_complete(Job *job);
int coroutine_fn commit_active_prepare(Job *job, GError **errp);
void coroutine_fn commit_active_clean(CommitJob *s);
