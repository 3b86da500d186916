/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The copies of a backup (see backup.h): tasks that claim clusters of
 * `uncopied`, the background copies, and the copy-before-write hook on the
 * source.  The hook runs inside each guest write to the source, before the
 * write reaches the driver (graph/io.h): it waits for copies in flight over
 * the range, copies what is still marked, and only then lets the write go,
 * so the target gets the data of the job's start.
 */

#include <errno.h>

#include "graph/io.h"
#include "jobs/backup.h"

static BackupJob *hook_job(WriteObserver *o)
{
    return (BackupJob *)((char *)o - offsetof(BackupJob, hook));
}

/* The task in flight that overlaps [offset, end), or NULL. */
static BackupTask *task_overlapping(BackupJob *s, uint64_t offset, uint64_t end)
{
    for (GList *l = s->tasks; l; l = l->next) {
        BackupTask *t = l->data;

        if (t->offset < end && offset < t->offset + t->bytes)
            return t;
    }
    return NULL;
}

static BackupTask *task_new(BackupJob *s, uint64_t offset, uint64_t bytes, bool background)
{
    BackupTask *t = g_new0(BackupTask, 1);

    t->job = s;
    t->offset = offset;
    t->bytes = bytes;
    t->background = background;
    co_queue_init(&t->waiters);
    return t;
}

static void task_claim(BackupJob *s, BackupTask *t)
{
    job_dirty_clear(&s->uncopied, t->offset, t->bytes);
    s->tasks = g_list_prepend(s->tasks, t);
    t->claimed = true;
}

/* Whether all of t's range is still marked and no claimed task overlaps it. */
static bool task_still_wanted(BackupJob *s, const BackupTask *t)
{
    uint64_t offset, bytes;

    return !task_overlapping(s, t->offset, t->offset + t->bytes) &&
           job_dirty_next(&s->uncopied, t->offset, t->bytes, &offset, &bytes) &&
           offset == t->offset && bytes >= t->bytes;
}

/*
 * t lets its clusters go: copied, or marked again (a failure, or a copy
 * given up); hooks waiting for them look again (and copy them themselves).
 */
static void task_unclaim(BackupJob *s, BackupTask *t, bool copied)
{
    s->tasks = g_list_remove(s->tasks, t);
    t->claimed = false;
    if (copied)
        s->copied += t->bytes;
    else
        job_dirty_set(&s->uncopied, t->offset, t->bytes);
    co_queue_wake_all(&t->waiters);
}

/* The task is over: a failed copy marks its clusters again. */
static void task_end(BackupJob *s, BackupTask *t)
{
    if (t->claimed)
        task_unclaim(s, t, t->ret >= 0);
    co_queue_wake_all(&s->idle);
}

static int coroutine_fn pwrite_target(BackupJob *s, uint64_t offset, uint64_t bytes,
                                      const void *buf)
{
    return buf ? node_co_pwrite(s->target_link, offset, bytes, buf, 0)
               : node_co_pwrite_zeroes(s->target_link, offset, bytes, 0);
}

/* Writes buf (or zeroes) to the target; a range lock there when it reads the source below. */
static int coroutine_fn write_target(BackupJob *s, uint64_t offset, uint64_t bytes,
                                     const void *buf)
{
    WriteTrack lock;
    int r;

    if (s->serialise)
        node_co_range_lock(s->target_link, &lock, offset, bytes);
    r = pwrite_target(s, offset, bytes, buf);
    if (s->serialise)
        node_range_unlock(s->target_link, &lock);
    return r;
}

/* ---- the background pass --------------------------------------------------------- */

/* A background task is over: the job looks at the result, then frees it. */
static void background_done(BackupJob *s, BackupTask *t)
{
    task_end(s, t);
    s->n_background--;
    g_queue_push_tail(&s->done, t);
    if (s->waiting) {
        s->waiting = false;
        job_enter(&s->common);
    }
}

/* Whether the source reads zeroes in all of t's range (asked unclaimed); < 0: an error. */
static int coroutine_fn background_zero(BackupJob *s, BackupTask *t, bool *zero)
{
    uint64_t n, map;
    BlockNode *file;
    int r = node_co_block_status(s->source_link, t->offset, t->bytes, &n, &map, &file);

    *zero = r >= 0 && (r & BLOCK_STATUS_ZERO) && !(r & BLOCK_STATUS_DATA) && n >= t->bytes;
    return r < 0 ? r : 0;
}

/*
 * Copy offload (node_co_copy_range: copy_file_range between the image files,
 * one copy in the kernel and one worker round trip instead of a read into a
 * buffer and a write out of it).  Source and target are one request, so the
 * range is claimed first, as the hook's copies are, and only while neither
 * node is drained: the request then begins on the source before any yield,
 * so a drain of the source waits for it rather than it waiting for a drain
 * that waits for a guest write whose hook waits for this copy.  Not for
 * fleecing (the target reads the source).  A refusal or a failure gives the
 * claim back, and the pass copies through a buffer from then on (where a
 * real error is reported as the read or the write it is).  True: copied.
 */
static bool coroutine_fn background_offload(BackupJob *s, BackupTask *t)
{
    if (s->no_offload || s->serialise || s->source_link->node->quiesce_counter > 0 ||
        s->target_link->node->quiesce_counter > 0 || !task_still_wanted(s, t))
        return false;
    task_claim(s, t);
    if (node_co_copy_range(s->source_link, t->offset, s->target_link, t->offset, t->bytes) == 0)
        return true;
    s->no_offload = true;
    task_unclaim(s, t, false);
    return false;
}

/*
 * Waits until the target is not drained, with t's range locked there when
 * serialising (fleecing): never waits for a drain while holding the lock,
 * since a hook's copy may wait for the lock within a guest write that a
 * drain of the source waits for.
 */
static void coroutine_fn target_undrained(BackupJob *s, BackupTask *t, WriteTrack *lock)
{
    for (;;) {
        node_co_wait_undrained(s->target_link);
        if (!s->serialise)
            return;
        node_co_range_lock(s->target_link, lock, t->offset, t->bytes);
        if (!node_link_held_back(s->target_link))
            return;
        node_range_unlock(s->target_link, lock);
    }
}

/*
 * The background write of what t read: claimed only while the target is
 * not drained, and begun with no yield after the claim, so that a drain of
 * the target waits for the write, never the write for the drain.  Claimed
 * and waiting, it would hold up a guest write whose hook waits for the
 * claim, and with it a drain of the source (a reopen of [target, source]).
 */
static void coroutine_fn background_write(BackupJob *s, BackupTask *t, const void *buf)
{
    WriteTrack lock;

    target_undrained(s, t, &lock);
    if (task_still_wanted(s, t)) {
        task_claim(s, t);
        t->is_read = false;
        t->ret = pwrite_target(s, t->offset, t->bytes, buf);
    }
    if (s->serialise)
        node_range_unlock(s->target_link, &lock);
}

static void coroutine_fn background_entry(void *opaque)
{
    BackupTask *t = opaque;
    BackupJob *s = t->job;
    g_autofree uint8_t *buf = NULL;
    bool zero = false;

    t->is_read = true;
    t->ret = background_zero(s, t, &zero);
    if (t->ret == 0 && !zero && background_offload(s, t)) {
        s->reading = g_list_remove(s->reading, t);
        background_done(s, t);
        return;
    }
    if (t->ret == 0 && !zero) {
        buf = g_malloc(t->bytes);
        t->ret = node_co_pread(s->source_link, t->offset, t->bytes, buf, 0);
    }
    s->reading = g_list_remove(s->reading, t);
    if (t->ret == 0)
        background_write(s, t, zero ? NULL : buf);
    background_done(s, t);
}

/* The first background read in flight that overlaps [offset, end), or NULL. */
static BackupTask *reading_overlapping(BackupJob *s, uint64_t offset, uint64_t end)
{
    for (GList *l = s->reading; l; l = l->next) {
        BackupTask *t = l->data;

        if (t->offset < end && offset < t->offset + t->bytes)
            return t;
    }
    return NULL;
}

bool backup_start_task(BackupJob *s)
{
    uint64_t offset, bytes;

    for (unsigned tries = 0; tries <= BACKUP_MAX_TASKS; tries++) {
        if (!job_dirty_next(&s->uncopied, s->cursor, BACKUP_CHUNK, &offset, &bytes))
            return false;
        BackupTask *busy = reading_overlapping(s, offset, offset + bytes);
        if (busy && busy->offset <= offset) {
            s->cursor = busy->offset + busy->bytes;     /* another read has it */
            continue;
        }
        if (busy)
            bytes = busy->offset - offset;
        BackupTask *t = task_new(s, offset, bytes, true);
        s->reading = g_list_prepend(s->reading, t);
        s->cursor = offset + bytes;
        s->n_background++;
        coroutine_start(background_entry, t);
        return true;
    }
    return false;
}

void coroutine_fn backup_wait_tasks(BackupJob *s)
{
    while (s->tasks || s->reading || s->n_background || s->hooks_in_flight)
        co_queue_wait(&s->idle);
}

/* ---- copy-before-write ----------------------------------------------------------- */

/* The hook's copy of claimed clusters, read within the guest's write (nested). */
static int coroutine_fn hook_copy_task(BackupJob *s, BackupTask *t)
{
    g_autofree uint8_t *buf = g_malloc(MIN(t->bytes, BACKUP_CHUNK));
    uint64_t end = t->offset + t->bytes;
    int r = 0;

    for (uint64_t offset = t->offset, n; r == 0 && offset < end; offset += n) {
        n = MIN(end - offset, BACKUP_CHUNK);
        t->is_read = true;
        r = node_co_pread(s->source_link, offset, n, buf, BLOCK_REQ_NESTED);
        if (r == 0) {
            t->is_read = false;
            r = write_target(s, offset, n, buf);
        }
    }
    return r;
}

/* Copies what is still marked in [start, end), waiting for the copies in flight there. */
static int coroutine_fn hook_copy(BackupJob *s, uint64_t start, uint64_t end)
{
    for (;;) {
        BackupTask *t = task_overlapping(s, start, end);
        uint64_t offset, bytes;
        int r;

        if (t) {
            co_queue_wait(&t->waiters);
            continue;
        }
        if (!job_dirty_next(&s->uncopied, start, end - start, &offset, &bytes) ||
            offset < start || offset >= end)
            return 0;
        t = task_new(s, offset, MIN(bytes, end - offset), false);
        task_claim(s, t);
        r = t->ret = hook_copy_task(s, t);
        task_end(s, t);
        g_free(t);
        if (r < 0)
            return r;
    }
}

static int coroutine_fn hook_before_write(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    BackupJob *s = hook_job(o);
    uint64_t start = offset / BACKUP_CLUSTER * BACKUP_CLUSTER;
    uint64_t end = MIN((offset + bytes + BACKUP_CLUSTER - 1) / BACKUP_CLUSTER * BACKUP_CLUSTER,
                       s->uncopied.size);
    int r;

    if (!s->hooked || start >= end)
        return 0;
    s->hooks_in_flight++;
    r = hook_copy(s, start, end);
    s->hooks_in_flight--;
    co_queue_wake_all(&s->idle);
    if (s->waiting) {           /* progress to account */
        s->waiting = false;
        job_enter(&s->common);
    }
    return r;
}

void backup_hook_start(BackupJob *s)
{
    s->hook.before_write = hook_before_write;
    node_add_write_observer(s->source, &s->hook);
    s->hooked = true;
}

void coroutine_fn backup_hook_stop(BackupJob *s)
{
    if (!s->hooked)
        return;
    s->hooked = false;
    node_remove_write_observer(s->source, &s->hook);
    while (s->hooks_in_flight > 0)
        co_queue_wait(&s->idle);
}
