/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Active commit: commits the active layer (the node guests use) into its
 * base while guests keep writing it, as QEMU's mirror-based commit does in
 * its background mode: the mirror engine (jobs/mirror-core.c) copies what
 * the chain above the base holds, then what guests write meanwhile, with
 * the base as its target; ranges the chain does not hold above the base
 * are not copied (the base holds them).  The job reaches `ready` when
 * nothing is left and keeps copying new writes.  Complete(): the top is
 * drained, what is still marked is copied, the base flushed, and every
 * user of the top (parent nodes, exports) moves to the base
 * (graph_co_replace_node); requests held back by the drain go to the base.
 * A soft Cancel once ready ends the job without the pivot: the top stays in
 * use, the base holds a consistent copy.
 */

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/graph-internal.h"
#include "jobs/commit.h"
#include "jobs/job-chain.h"

int coroutine_fn commit_active_run(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    MirrorCore *m = &s->core;
    int r = commit_grow_base(s, errp);

    if (r < 0)
        return r;
    mirror_core_init(m, job);
    m->source = s->top_link;
    m->target = s->base_link;
    m->base = m->init_base = s->base;
    m->init = MIRROR_INIT_ALLOCATED;
    m->on_source_error = m->on_target_error = job->on_error;
    return mirror_core_run(m, errp);
}

void commit_active_complete(Job *job)
{
    mirror_core_complete(&((CommitJob *)job)->core);
}

int coroutine_fn commit_active_prepare(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    g_autoptr(GError) err = NULL;
    int r;

    if (job_cancel_requested(job)) {
        mirror_core_stop(&s->core);
        return 0;           /* cancelled once ready: no pivot */
    }
    /* The job writes the base no more; the users of the top take it over. */
    job_drop_node(job, s->base_link);
    s->base_link = s->core.target = NULL;
    job_co_take_read_only(job, s->top, s->base);
    r = graph_co_replace_node(s->top, s->base, mirror_keep_job_links, job, errp);
    mirror_core_stop(&s->core);
    if (r < 0)
        return r;
    s->pivoted = true;
    /*
     * Nobody reads the old top any more: its chain lets the base change
     * under it (graph/permission.c) once the job's own read goes, so the
     * links into the base can stop sharing writes.
     */
    graph_co_lock();        /* a read-only switch below may yield */
    if (!perm_update_link(s->top_link, 0, BLOCK_PERM_ALL, &err))
        g_warning("Job '%s': %s", job->id, err->message);
    graph_unlock();
    job_unfreeze_links(job);
    return 0;
}

void coroutine_fn commit_active_clean(CommitJob *s)
{
    mirror_core_stop(&s->core);
}
