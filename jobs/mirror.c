/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mirror: copies node-name to target while guests keep writing the source,
 * reaches `ready`, and Complete() swaps the target in for the source (or
 * for `replaces`, a filter above it) in every parent and export (QEMU's
 * blockdev-mirror).  sync=full copies everything, top what the source
 * holds above its backing node, none only what guests write from now on.
 * The copying is the mirror engine's (jobs/mirror-core.c).
 *
 * As in QEMU the job reads the source and lets others read and write it
 * (no resize), and writes the target, letting nobody else but unchanged
 * writes near it until the pivot.
 */

#include <errno.h>
#include <stdarg.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/option.h"
#include "jobs/job-chain.h"
#include "jobs/job-types.h"
#include "jobs/mirror-core.h"

#define MIRROR_MAX_BUF_SIZE (1ull << 30)

typedef struct MirrorJob {
    Job common;
    MirrorCore core;
    BlockNode *source, *target, *replaces;
    BlockChild *source_link, *target_link;
} MirrorJob;

static const char *const mirror_attrs[] = {
    "node-name", "target", "sync", "granularity", "buf-size", "copy-mode", "replaces",
    "on-source-error", "on-target-error", NULL,
};

static const char *const sync_names[] = { "full", "top", "none", NULL };

static bool G_GNUC_PRINTF(3, 4) bad(const JobSpec *spec, GError **errp, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Job '%s': %s", spec->id, msg);
    return false;
}

static bool parse_size_attr(const JobSpec *spec, const char *name, uint64_t *ret, GError **errp)
{
    const char *text = job_spec_get(spec, name);

    if (text && !option_parse_size(text, ret))
        return bad(spec, errp, "%s '%s' is not a size in bytes", name, text);
    return true;
}

static bool parse_policy(const JobSpec *spec, const char *name, JobOnError *ret, GError **errp)
{
    const char *text = job_spec_get(spec, name);

    if (text && !job_on_error_parse(text, ret))
        return bad(spec, errp, "%s '%s' is not one of report, ignore, stop, enospc", name, text);
    return true;
}

/* sync, copy-mode, granularity, buf-size and the error policies into the engine. */
static bool parse_options(MirrorJob *s, const JobSpec *spec, GError **errp)
{
    MirrorCore *m = &s->core;
    const char *sync = job_spec_get(spec, "sync");
    const char *mode = job_spec_get(spec, "copy-mode");
    uint64_t granularity = MIRROR_DEFAULT_GRANULARITY, buf_size = MIRROR_DEFAULT_BUF_SIZE;

    if (!sync || !g_strv_contains(sync_names, sync))
        return bad(spec, errp, "sync '%s' is not one of full, top, none", sync ? sync : "");
    if (mode && !g_str_equal(mode, "background") && !g_str_equal(mode, "write-blocking"))
        return bad(spec, errp, "copy-mode '%s' is not one of background, write-blocking", mode);
    m->write_blocking = mode && g_str_equal(mode, "write-blocking");
    m->init = g_str_equal(sync, "full") ? MIRROR_INIT_ALL :
              g_str_equal(sync, "top") ? MIRROR_INIT_ALLOCATED : MIRROR_INIT_NONE;
    if (m->init == MIRROR_INIT_ALLOCATED)
        m->init_base = job_chain_next(job_chain_skip_filters(s->source));
    if (!parse_size_attr(spec, "granularity", &granularity, errp) ||
        !parse_size_attr(spec, "buf-size", &buf_size, errp))
        return false;
    if (granularity & (granularity - 1) || granularity < 512 || granularity > (64u << 20))
        return bad(spec, errp, "granularity %" G_GUINT64_FORMAT " must be a power of two "
                   "from 512 to 64M", granularity);
    if (buf_size == 0 || buf_size > MIRROR_MAX_BUF_SIZE)
        return bad(spec, errp, "buf-size %" G_GUINT64_FORMAT " must be from 1 to 1G", buf_size);
    m->granularity = granularity;
    m->buf_size = (buf_size + granularity - 1) / granularity * granularity;
    m->on_source_error = m->on_target_error = spec->on_error;
    return parse_policy(spec, "on-source-error", &m->on_source_error, errp) &&
           parse_policy(spec, "on-target-error", &m->on_target_error, errp);
}

/* Source, target and replaces: found, distinct, the same size. */
static bool find_nodes(MirrorJob *s, const JobSpec *spec, GError **errp)
{
    BlockNode *n;

    s->source = job_spec_node(spec, "node-name", true, errp);
    s->target = s->source ? job_spec_node(spec, "target", true, errp) : NULL;
    if (!s->target)
        return false;
    if (job_chain_skip_filters(s->source) == job_chain_skip_filters(s->target))
        return bad(spec, errp, "cannot mirror node '%s' into itself (target '%s')",
                   s->source->name, s->target->name);
    if (job_chain_is_below(s->source, job_chain_skip_filters(s->target)))
        return bad(spec, errp, "target node '%s' is in the backing chain of node '%s' "
                   "(an active commit does that)", s->target->name, s->source->name);
    if (s->target->size != s->source->size)
        return bad(spec, errp, "target node '%s' has %" G_GUINT64_FORMAT " bytes, node '%s' "
                   "%" G_GUINT64_FORMAT ": source and target must have the same size",
                   s->target->name, s->target->size, s->source->name, s->source->size);
    s->replaces = s->source;
    if (!job_spec_get(spec, "replaces"))
        return true;
    s->replaces = job_spec_node(spec, "replaces", true, errp);
    if (!s->replaces)
        return false;
    for (n = s->replaces; n && n != s->source && job_node_is_filter(n); n = job_chain_next(n))
        ;
    if (n != s->source || s->replaces == s->target)
        return bad(spec, errp, "node '%s' (replaces) is neither node '%s' nor a filter above it",
                   s->replaces->name, s->source->name);
    return true;
}

static int coroutine_fn mirror_setup(Job *job, const JobSpec *spec, GError **errp)
{
    MirrorJob *s = (MirrorJob *)job;
    MirrorCore *m = &s->core;

    mirror_core_init(m, job);
    if (!find_nodes(s, spec, errp) || !parse_options(s, spec, errp))
        return -EINVAL;
    s->source_link = job_add_node(job, s->source, BLOCK_PERM_CONSISTENT_READ,
                                  BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE |
                                  BLOCK_PERM_WRITE_UNCHANGED, errp);
    if (!s->source_link)
        return -EPERM;
    s->target_link = job_add_node(job, s->target, BLOCK_PERM_WRITE, BLOCK_PERM_WRITE_UNCHANGED,
                                  errp);
    if (!s->target_link)
        return -EPERM;
    /* The filters between the replaced node and the source stay as they are. */
    if (s->replaces != s->source &&
        (!job_add_node(job, s->replaces, 0, BLOCK_PERM_ALL, errp) ||
         !job_freeze_chain(job, s->replaces, s->source, errp)))
        return -EBUSY;
    m->source = s->source_link;
    m->target = s->target_link;
    m->replaced = s->replaces;
    return 0;
}

static int coroutine_fn mirror_run(Job *job, GError **errp)
{
    return mirror_core_run(&((MirrorJob *)job)->core, errp);
}

static void mirror_complete(Job *job)
{
    mirror_core_complete(&((MirrorJob *)job)->core);
}

/* The pivot: the replaced node's users (parent nodes, exports) move to the target. */
static int coroutine_fn mirror_prepare(Job *job, GError **errp)
{
    MirrorJob *s = (MirrorJob *)job;
    int r;

    if (job_cancel_requested(job)) {
        mirror_core_stop(&s->core);
        return 0;           /* cancelled once ready: the source stays in use */
    }
    /* The job's own writer would keep the users' permissions off the target. */
    job_drop_node(job, s->target_link);
    s->target_link = s->core.target = NULL;
    job_co_take_read_only(job, s->replaces, s->target);
    r = graph_co_replace_node(s->replaces, s->target, mirror_keep_job_links, job, errp);
    mirror_core_stop(&s->core);
    return r;
}

static void coroutine_fn mirror_clean(Job *job)
{
    mirror_core_stop(&((MirrorJob *)job)->core);
}

const JobDriver mirror_job_driver = {
    .type = "mirror",
    .instance_size = sizeof(MirrorJob),
    .attrs = mirror_attrs,
    .co_setup = mirror_setup,
    .co_run = mirror_run,
    .complete = mirror_complete,
    .co_prepare = mirror_prepare,
    .co_clean = mirror_clean,
};
