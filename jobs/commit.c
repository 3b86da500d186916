/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * commit: merges top-node and the nodes below it down to base-node into
 * the base, then makes the base the backing node of top's overlay and
 * writes the overlay's header (QEMU's block-commit, intermediate form).
 * Only ranges allocated above the base are copied (jobs/job-copy.c,
 * several chunks at once); the base grows first
 * if it is smaller than the top.  The overlay reads what it read before
 * at every moment: what the base gets under a range, top holds too.
 *
 * Active commit (top-node omitted or the active layer) is in
 * commit-active.c: it copies, reaches ready, and Complete() pivots the
 * users of the top to the base.
 */

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "jobs/commit.h"
#include "jobs/job-chain.h"
#include "jobs/job-copy.h"
#include "jobs/job-types.h"

static const char *const commit_attrs[] = {
    "node-name", "top-node", "base-node", "backing-file", NULL,
};

static bool commit_bad(const JobSpec *spec, GError **errp, const char *what, const char *a,
                       const char *b)
{
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Job '%s': node '%s' %s '%s'",
                spec->id, a, what, b);
    return false;
}

/* The last non-filter node of node's chain. */
static BlockNode *chain_bottom(BlockNode *node)
{
    BlockNode *last = NULL;

    for (BlockNode *n = node; n; n = job_chain_next(n))
        if (!job_node_is_filter(n))
            last = n;
    return last;
}

static bool commit_find_nodes(CommitJob *s, const JobSpec *spec, GError **errp)
{
    s->active = job_spec_node(spec, "node-name", true, errp);
    if (!s->active)
        return false;
    s->top = job_spec_get(spec, "top-node") ? job_spec_node(spec, "top-node", true, errp)
                                            : s->active;
    if (!s->top)
        return false;
    s->base = job_spec_get(spec, "base-node") ? job_spec_node(spec, "base-node", true, errp)
                                              : chain_bottom(s->top);
    if (!s->base)
        return false;
    if (s->top == s->base && !job_spec_get(spec, "base-node")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Job '%s': node '%s' has no backing chain to commit into", spec->id,
                    s->top->name);
        return false;
    }
    if (s->top == s->base)
        return commit_bad(spec, errp, "is both top-node and base-node: it cannot commit into", s->top->name, s->base->name);
    if (s->top != s->active && !job_chain_is_below(s->active, s->top))
        return commit_bad(spec, errp, "(top-node) is not in the backing chain of", s->top->name, s->active->name);
    if (!job_chain_is_below(s->top, s->base))
        return commit_bad(spec, errp, "(base-node) is not below", s->base->name, s->top->name);
    for (BlockNode *n = s->active; n; n = job_chain_next(n))
        if (job_chain_next(n) == s->top)
            s->overlay = n;
    return true;
}

static int coroutine_fn commit_setup(Job *job, const JobSpec *spec, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    const uint64_t basic = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    BlockNode *above_base = NULL;

    if (!commit_find_nodes(s, spec, errp))
        return -EINVAL;
    s->backing_file = g_strdup(job_spec_get(spec, "backing-file"));
    /*
     * Nobody else writes the nodes committed, but for the active layer of
     * an active commit: guests keep writing it, and the job copies again
     * what they write.
     */
    s->top_link = job_add_node(job, s->top, BLOCK_PERM_CONSISTENT_READ,
                               s->overlay ? basic : basic | BLOCK_PERM_WRITE, errp);
    if (!s->top_link)
        return -EPERM;
    for (BlockNode *n = job_chain_next(s->top); n != s->base; n = job_chain_next(n))
        if (!job_add_node(job, n, 0, basic, errp))
            return -EPERM;
    for (BlockNode *n = s->top; n != s->base; n = job_chain_next(n))
        above_base = n;
    if (!job_freeze_chain(job, s->overlay ? s->overlay : s->top, s->base, errp) ||
        !job_share_writes_below(job, job_chain_link(above_base), errp))
        return -EBUSY;
    /* A read-only base is reopened read-write for the job (QEMU's commit_start). */
    if (s->base->read_only) {
        if (graph_co_set_read_only_locked(s->base, false, errp) < 0)
            return -EPERM;
        s->base_reopened = true;
    }
    s->base_link = job_add_node(job, s->base, BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE |
                                BLOCK_PERM_RESIZE, basic, errp);
    return s->base_link ? 0 : -EPERM;
}

/* What the chain above the base holds is copied. */
static int coroutine_fn commit_status(JobCopy *jc, uint64_t offset, uint64_t bytes,
                                      uint64_t *pnum)
{
    CommitJob *s = (CommitJob *)jc->job;

    return node_co_block_status_above(s->top_link, s->base, offset, bytes, pnum);
}

static int coroutine_fn commit_copy(JobCopy *jc, uint64_t offset, uint64_t bytes, int status,
                                    void *buf, uint64_t *copied, bool *is_read)
{
    CommitJob *s = (CommitJob *)jc->job;
    int r;

    *is_read = false;
    if (status & BLOCK_STATUS_ZERO) {
        r = node_co_pwrite_zeroes(s->base_link, offset, bytes, 0);
    } else {
        r = job_copy_data(s->top_link, s->base_link, offset, bytes, buf, is_read);
    }
    *copied = r < 0 ? 0 : bytes;
    return r;
}

static const JobCopyOps commit_copy_ops = {
    .status = commit_status,
    .copy = commit_copy,
};

int coroutine_fn commit_grow_base(CommitJob *s, GError **errp)
{
    if (s->base->size >= s->top->size)
        return 0;
    return node_co_truncate(s->base_link, s->top->size, errp);
}

static int coroutine_fn commit_run(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    int error;

    if (!s->overlay)
        return commit_active_run(job, errp);
    error = commit_grow_base(s, errp);
    if (error < 0)
        return error;
    /* Guests use the active layer: what they read of the top comes through it. */
    s->copy = (JobCopy){ .job = job, .ops = &commit_copy_ops, .watch = s->active,
                         .len = s->top->size };
    error = job_copy_run(&s->copy);
    if (!error && !job_is_cancelled(job))
        error = node_co_flush(s->base_link);
    if (error)
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Job '%s': commit into node '%s' failed: %s",
                    job->id, s->base->name, g_strerror(-error));
    return error;
}

static int coroutine_fn commit_prepare(Job *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    const char *name = s->backing_file ? s->backing_file : s->base->filename;

    if (!s->overlay)
        return commit_active_prepare(job, errp);
    /* Nobody writes the base any more: the overlay's new link need not share writes. */
    job_drop_node(job, s->base_link);
    s->base_link = NULL;
    job_unfreeze_links(job);
    return job_co_set_backing(s->overlay, s->base, name, errp);
}

static void coroutine_fn commit_clean(Job *job)
{
    CommitJob *s = (CommitJob *)job;

    commit_active_clean(s);
    if (s->base_link)
        job_drop_node(job, s->base_link);
    s->base_link = NULL;
    g_clear_pointer(&s->buf, g_free);
    /* Back to read-only, unless the base took the active layer's place. */
    if (s->base_reopened && !s->pivoted) {
        g_autoptr(GError) err = NULL;

        if (graph_co_set_read_only(s->base, true, &err) < 0)
            g_warning("Job '%s': %s", job->id, err->message);
    }
    s->base_reopened = false;
}

static void commit_complete(Job *job)
{
    CommitJob *s = (CommitJob *)job;

    if (!s->overlay)
        commit_active_complete(job);
}

static void commit_free(Job *job)
{
    CommitJob *s = (CommitJob *)job;

    g_free(s->backing_file);
    g_free(s->buf);
}

const JobDriver commit_job_driver = {
    .type = "commit",
    .instance_size = sizeof(CommitJob),
    .attrs = commit_attrs,
    .co_setup = commit_setup,
    .co_run = commit_run,
    .complete = commit_complete,
    .co_prepare = commit_prepare,
    .co_clean = commit_clean,
    .free = commit_free,
};
