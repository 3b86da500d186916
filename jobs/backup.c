/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup: copies the image node-name had when the job started into target
 * while guests keep writing (QEMU's blockdev-backup).  From the start on, a
 * copy-before-write hook on the source (backup-copy.c) puts the old data of
 * every range a guest write is about to change into the target first.
 *
 * sync: full (everything), top (what the source's own layer holds), none
 * (only what the hook copies: fleecing, until Cancel), bitmap (the dirty
 * ranges of `bitmap`; incremental = bitmap with bitmap-mode on-success).
 * With a bitmap the job gives it a successor that records the writes
 * during the job; at the end bitmap-mode decides (QEMU's
 * backup_cleanup_sync_bitmap): on-success clears the copied bits when the
 * job succeeded, always clears them either way (keeping what a failed job
 * did not copy), never leaves the bitmap's bits as they were.
 */

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "jobs/backup.h"
#include "jobs/job-chain.h"
#include "jobs/job-types.h"

static const char *const backup_attrs[] = {
    "node-name", "target", "sync", "bitmap", "bitmap-mode", "on-source-error",
    "on-target-error", NULL,
};

static const char *const sync_names[] = {
    [BACKUP_SYNC_FULL] = "full", [BACKUP_SYNC_TOP] = "top", [BACKUP_SYNC_NONE] = "none",
    [BACKUP_SYNC_BITMAP] = "bitmap", NULL,
};
static const char *const mode_names[] = {
    [BACKUP_BITMAP_ON_SUCCESS] = "on-success", [BACKUP_BITMAP_NEVER] = "never",
    [BACKUP_BITMAP_ALWAYS] = "always", NULL,
};

static int bad(const JobSpec *spec, GError **errp, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int bad(const JobSpec *spec, GError **errp, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Job '%s': %s", spec->id, msg);
    return -EINVAL;
}

static int parse_enum(const JobSpec *spec, const char *attr, const char *const *names,
                      int dflt, int *ret, GError **errp)
{
    const char *v = job_spec_get(spec, attr);

    *ret = dflt;
    if (!v)
        return 0;
    for (int i = 0; names[i]; i++) {
        if (g_str_equal(names[i], v)) {
            *ret = i;
            return 0;
        }
    }
    g_autofree char *list = g_strjoinv(", ", (char **)names);
    return bad(spec, errp, "%s '%s' is not one of %s", attr, v, list);
}

static int parse_on_error(const JobSpec *spec, const char *attr, JobOnError *ret, GError **errp)
{
    const char *v = job_spec_get(spec, attr);

    *ret = spec->on_error;
    if (v && !job_on_error_parse(v, ret))
        return bad(spec, errp, "%s '%s' is not one of report, ignore, stop, enospc", attr, v);
    return 0;
}

/* sync, bitmap and bitmap-mode as QEMU's do_backup_common checks them. */
static int parse_sync(BackupJob *s, const JobSpec *spec, GError **errp)
{
    const char *sync = job_spec_get(spec, "sync");
    const char *bitmap = job_spec_get(spec, "bitmap");
    const char *mode = job_spec_get(spec, "bitmap-mode");
    int v;

    if (!sync)
        return bad(spec, errp, "<job type=\"backup\"> needs a 'sync' attribute "
                   "(full, top, none, incremental, bitmap)");
    if (g_str_equal(sync, "incremental")) {
        if (mode && !g_str_equal(mode, "on-success"))
            return bad(spec, errp, "bitmap-mode must be 'on-success' with sync 'incremental'");
        s->sync = BACKUP_SYNC_BITMAP;
    } else if (!g_strv_contains(sync_names, sync)) {
        return bad(spec, errp, "sync '%s' is not one of full, top, none, incremental, bitmap",
                   sync);
    } else {
        parse_enum(spec, "sync", sync_names, 0, &v, errp);
        s->sync = v;
    }
    if (parse_enum(spec, "bitmap-mode", mode_names, BACKUP_BITMAP_ON_SUCCESS, &v, errp) < 0)
        return -EINVAL;
    s->bitmap_mode = v;
    if (s->sync == BACKUP_SYNC_BITMAP && !bitmap)
        return bad(spec, errp, "sync '%s' needs a 'bitmap'", sync);
    if (!bitmap && mode)
        return bad(spec, errp, "bitmap-mode needs a 'bitmap'");
    if (bitmap && !mode && !g_str_equal(sync, "incremental"))
        return bad(spec, errp, "a 'bitmap' needs a bitmap-mode (on-success, never, always)");
    if (bitmap && s->sync == BACKUP_SYNC_NONE)
        return bad(spec, errp, "sync 'none' does not produce a meaningful bitmap");
    if (bitmap && s->bitmap_mode == BACKUP_BITMAP_NEVER && s->sync != BACKUP_SYNC_BITMAP)
        return bad(spec, errp, "bitmap-mode 'never' has no effect with sync '%s'", sync);
    if (parse_on_error(spec, "on-source-error", &s->on_source_error, errp) < 0 ||
        parse_on_error(spec, "on-target-error", &s->on_target_error, errp) < 0)
        return -EINVAL;
    return 0;
}

static int find_nodes(BackupJob *s, const JobSpec *spec, GError **errp)
{
    s->source = job_spec_node(spec, "node-name", true, errp);
    if (!s->source)
        return -EINVAL;
    s->target = job_spec_node(spec, "target", true, errp);
    if (!s->target)
        return -EINVAL;
    if (s->target == s->source)
        return bad(spec, errp, "cannot back up node '%s' into itself", s->source->name);
    if (job_chain_is_below(s->source, s->target))
        return bad(spec, errp, "target node '%s' is in the backing chain of node '%s'",
                   s->target->name, s->source->name);
    if (s->target->size != s->source->size)
        return bad(spec, errp, "source node '%s' (%" G_GUINT64_FORMAT " bytes) and target "
                   "node '%s' (%" G_GUINT64_FORMAT " bytes) have different sizes",
                   s->source->name, s->source->size, s->target->name, s->target->size);
    return 0;
}

/*
 * A target backed by the source (fleecing): the link into the source is
 * frozen and lets guests write the source under the target (the hook
 * keeps the target's view still), and copies into the target wait for
 * its reads in flight.
 */
static int coroutine_fn take_fleecing_chain(BackupJob *s, GError **errp)
{
    BlockNode *above = NULL;

    if (!job_chain_is_below(s->target, s->source))
        return 0;
    for (BlockNode *n = s->target; n != s->source; n = job_chain_next(n))
        above = n;
    if (!job_freeze_chain(&s->common, s->target, s->source, errp) ||
        !job_share_writes_below(&s->common, job_chain_link(above), errp))
        return -EBUSY;
    s->serialise = true;
    node_co_range_lock_reads_start(s->target);
    s->read_locks = true;
    return 0;
}

/* The bitmap must be there and free now; begin gives it its successor. */
static int check_bitmap(BackupJob *s, const JobSpec *spec, GError **errp)
{
    DirtyBitmap *bm;

    s->bitmap_name = g_strdup(job_spec_get(spec, "bitmap"));
    if (!s->bitmap_name)
        return 0;
    bm = bitmap_lookup(s->source, s->bitmap_name, errp);
    if (!bm)
        return -ENOENT;
    return bitmap_check_modifiable(bm, "back up with", errp) ? 0 : -EBUSY;
}

/* What the point-in-time image needs copied: all of it, or the bitmap's ranges. */
static void init_uncopied(BackupJob *s)
{
    uint64_t size = s->source->size, len;

    job_dirty_init(&s->uncopied, size, BACKUP_CLUSTER);
    if (s->sync != BACKUP_SYNC_BITMAP) {
        job_dirty_set(&s->uncopied, 0, size);
        return;
    }
    for (uint64_t off = 0; off < size; off += len)
        if (bitmap_extent(s->bitmap, off, size - off, &len))
            job_dirty_set(&s->uncopied, off, len);
}

static int coroutine_fn backup_setup(Job *job, const JobSpec *spec, GError **errp)
{
    BackupJob *s = (BackupJob *)job;
    const uint64_t others = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    int r;

    co_queue_init(&s->idle);
    g_queue_init(&s->done);
    if ((r = parse_sync(s, spec, errp)) < 0 || (r = find_nodes(s, spec, errp)) < 0 ||
        (r = check_bitmap(s, spec, errp)) < 0)
        return r;
    /* Guests keep writing the source; nobody resizes either node. */
    s->source_link = job_add_node(job, s->source, BLOCK_PERM_CONSISTENT_READ,
                                  others | BLOCK_PERM_WRITE, errp);
    if (!s->source_link)
        return -EPERM;
    s->target_link = job_add_node(job, s->target, BLOCK_PERM_WRITE,
                                  others | BLOCK_PERM_WRITE, errp);
    if (!s->target_link)
        return -EPERM;
    return take_fleecing_chain(s, errp);
}

/* The point in time: from here on the hook keeps the old data for the target. */
static bool backup_begin(Job *job, GError **errp)
{
    BackupJob *s = (BackupJob *)job;

    if (s->bitmap_name) {
        /* Looked up again: an action before it in a transaction may have changed it. */
        s->bitmap = bitmap_lookup(s->source, s->bitmap_name, errp);
        if (!s->bitmap || !bitmap_create_successor(s->bitmap, errp)) {
            s->bitmap = NULL;
            return false;
        }
    }
    init_uncopied(s);
    backup_hook_start(s);
    s->began = true;
    return true;
}

static void backup_undo_begin(Job *job)
{
    BackupJob *s = (BackupJob *)job;

    g_assert(!s->ran && s->hooks_in_flight == 0);
    node_remove_write_observer(s->source, &s->hook);
    s->hooked = false;
    if (s->bitmap)
        bitmap_reclaim(s->bitmap);
    s->bitmap = NULL;
    job_dirty_destroy(&s->uncopied);
    s->began = false;
}

/* ---- run -------------------------------------------------------------------------- */

/* sync=top: what the source's own layer does not hold is not copied (whole clusters). */
static int coroutine_fn skip_unallocated(BackupJob *s)
{
    uint64_t size = s->source->size, n;

    for (uint64_t off = 0; off < size && !job_is_cancelled(&s->common); off += n) {
        uint64_t map;
        BlockNode *file;
        int r = node_co_block_status(s->source_link, off, size - off, &n, &map, &file);

        if (r < 0)
            return r;
        if (!(r & BLOCK_STATUS_ALLOCATED)) {
            uint64_t start = (off + BACKUP_CLUSTER - 1) / BACKUP_CLUSTER * BACKUP_CLUSTER;
            uint64_t end = off + n == size ? size : (off + n) / BACKUP_CLUSTER * BACKUP_CLUSTER;

            if (end > start)
                job_dirty_clear(&s->uncopied, start, end - start);
        }
    }
    return 0;
}

/* The on-error policy of the side that failed (on-source-error, on-target-error). */
static JobErrorAction error_action(BackupJob *s, const BackupTask *t)
{
    JobOnError saved = s->common.on_error;
    JobErrorAction action;

    s->common.on_error = t->is_read ? s->on_source_error : s->on_target_error;
    action = job_error_action(&s->common, t->is_read, t->ret);
    s->common.on_error = saved;
    return action;
}

/* Accounts what was copied and looks at the finished background copies; < 0: fail. */
static int coroutine_fn account(BackupJob *s)
{
    BackupTask *t;
    int error = 0;

    while ((t = g_queue_pop_head(&s->done))) {
        if (t->ret < 0 && !error && error_action(s, t) == JOB_ERROR_ACTION_REPORT)
            error = t->ret;     /* stop: the job is paused now; ignore: copied again */
        g_free(t);
    }
    job_progress_set_remaining(&s->common, job_dirty_bytes(&s->uncopied));
    uint64_t delta = s->copied - s->accounted;
    s->accounted = s->copied;
    job_progress_done(&s->common, delta, delta);
    return error;
}

static unsigned max_tasks(const BackupJob *s)
{
    return s->common.speed ? 1 : BACKUP_MAX_TASKS;
}

static int coroutine_fn copy_loop(BackupJob *s)
{
    Job *job = &s->common;
    int r = 0;

    while (!job_is_cancelled(job)) {
        /* A copy may end before it yields (a failing target): account for it first. */
        while (s->n_background < max_tasks(s) && job->pause_count == 0 &&
               g_queue_is_empty(&s->done) && backup_start_task(s))
            ;
        if (s->uncopied.count == 0 && !s->tasks && !s->reading)
            break;
        if (g_queue_is_empty(&s->done)) {
            s->waiting = true;
            job_yield(job);         /* until a copy ends */
            s->waiting = false;
        }
        r = account(s);
        if (r < 0)
            break;
    }
    backup_wait_tasks(s);
    int r2 = account(s);
    return r < 0 ? r : r2;
}

static int coroutine_fn backup_run(Job *job, GError **errp)
{
    BackupJob *s = (BackupJob *)job;
    int r = 0;

    s->ran = true;
    job_progress_set_remaining(job, job_dirty_bytes(&s->uncopied));
    if (s->sync == BACKUP_SYNC_NONE) {
        job_progress_set_remaining(job, 0);
        while (!job_is_cancelled(job)) {
            s->waiting = true;
            job_yield(job);     /* the hook copies; Cancel ends the job */
            s->waiting = false;
            account(s);
        }
        return 0;
    }
    if (s->sync == BACKUP_SYNC_TOP)
        r = skip_unallocated(s);
    if (r == 0)
        r = copy_loop(s);
    if (r == 0 && !job_is_cancelled(job))
        r = node_co_flush(s->target_link);
    if (r < 0)
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Job '%s': backup of node '%s' into node '%s' failed: %s", job->id,
                    s->source->name, s->target->name, g_strerror(-r));
    return r;
}

/* ---- the end ---------------------------------------------------------------------- */

/* QEMU's backup_cleanup_sync_bitmap. */
static void finish_bitmap(BackupJob *s, bool success)
{
    bool consume = (success || s->bitmap_mode == BACKUP_BITMAP_ALWAYS) &&
                   s->bitmap_mode != BACKUP_BITMAP_NEVER;

    if (consume)
        bitmap_abdicate(s->bitmap);
    else
        bitmap_reclaim(s->bitmap);
    /* A failed job with always: what it did not copy stays dirty. */
    if (!success && consume) {
        uint64_t from = 0, off, len;

        while (job_dirty_next(&s->uncopied, from, UINT64_MAX, &off, &len) && off >= from) {
            bitmap_set_range(s->bitmap, off, len);
            from = off + len;
        }
    }
    node_bitmaps_changed(s->source);
}

static void coroutine_fn backup_clean(Job *job)
{
    BackupJob *s = (BackupJob *)job;

    backup_hook_stop(s);
    backup_wait_tasks(s);
    if (s->bitmap && !s->ran)
        bitmap_reclaim(s->bitmap);      /* it never ran: nothing was copied */
    else if (s->bitmap)
        finish_bitmap(s, job->ret == 0);
    s->bitmap = NULL;
    job_dirty_destroy(&s->uncopied);
    if (s->read_locks)
        node_range_lock_reads_stop(s->target);
    s->read_locks = false;
}

static void backup_free(Job *job)
{
    BackupJob *s = (BackupJob *)job;
    BackupTask *t;

    while ((t = g_queue_pop_head(&s->done)))
        g_free(t);
    g_free(s->bitmap_name);
}

const JobDriver backup_job_driver = {
    .type = "backup",
    .instance_size = sizeof(BackupJob),
    .attrs = backup_attrs,
    .co_setup = backup_setup,
    .begin = backup_begin,
    .undo_begin = backup_undo_begin,
    .co_run = backup_run,
    .co_clean = backup_clean,
    .free = backup_free,
};
