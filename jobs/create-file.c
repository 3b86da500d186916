/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file a `create` job makes (jobs/create.h): opened or created in the
 * worker pool, confined like a node's file (policy/allow-path.c), never an
 * existing file unless overwrite=on, never one an open node holds or
 * another process has open in a conflicting way (QEMU's OFD locks, taken
 * as qemu-img create takes them: write and resize, sharing all but
 * resize, held until the job closes the file); and removed again when the
 * creation fails, if the job made it.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "aio/worker-pool.h"
#include "drivers/file-lock.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "jobs/create.h"
#include "policy/allow-path.h"

typedef struct CreateOpenJob {
    const char *path;
    bool overwrite;
    GPtrArray *in_use;          /* char*: the files of the graph's protocol nodes */
    GPtrArray *in_use_nodes;    /* char*: their node names, index for index */
    /* results */
    char *resolved;             /* the path opened (confined: symlinks resolved) */
    int fd;
    bool created;
    int confine_ret;
    const char *busy_node;      /* the node that holds this file open */
    mode_t mode;
    GError *lock_err;           /* another process holds a conflicting lock */
} CreateOpenJob;

#define CREATE_LOCK_PERM   (BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE)
#define CREATE_LOCK_SHARED (BLOCK_PERM_ALL & ~BLOCK_PERM_RESIZE)

static bool same_file(const struct stat *st, const char *other)
{
    struct stat o;

    return stat(other, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

/* An existing file: a regular one that no node holds open. */
static long check_existing(CreateOpenJob *job)
{
    struct stat st;

    if (fstat(job->fd, &st) < 0)
        return -errno;
    job->mode = st.st_mode;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    for (guint i = 0; i < job->in_use->len; i++) {
        if (same_file(&st, job->in_use->pdata[i])) {
            job->busy_node = job->in_use_nodes->pdata[i];
            return -EBUSY;
        }
    }
    return 0;
}

/* The locks qemu-img create takes; -EAGAIN with lock_err when another process conflicts. */
static long lock_file(CreateOpenJob *job)
{
    if (!file_lock_supported(job->fd))
        return 0;
    return file_lock_apply(job->fd, job->path, 0, BLOCK_PERM_ALL, CREATE_LOCK_PERM,
                           CREATE_LOCK_SHARED, &job->lock_err);
}

static long open_file(CreateOpenJob *job, const char *path)
{
    long r;

    job->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (job->fd >= 0) {
        job->created = true;
        return 0;
    }
    if (errno != EEXIST || !job->overwrite)
        return -errno;
    job->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (job->fd < 0)
        return -errno;
    r = check_existing(job);
    if (r < 0) {
        close(job->fd);
        job->fd = -1;
    }
    return r;
}

static long create_open_job(void *opaque)
{
    CreateOpenJob *job = opaque;
    const char *path;
    long r;

    job->confine_ret = allow_path_resolve(job->path, true, &job->resolved);
    if (job->confine_ret < 0)
        return job->confine_ret;
    path = job->resolved ? job->resolved : job->path;
    r = open_file(job, path);
    if (r < 0)
        return r;
    r = lock_file(job);
    if (r < 0) {
        close(job->fd);
        job->fd = -1;
        if (job->created)
            unlink(path);
    }
    return r;
}

static void graph_files(GPtrArray *files, GPtrArray *names)
{
    for (GList *l = graph_nodes(); l; l = l->next) {
        BlockNode *node = l->data;

        if (node->drv->kind == BLOCK_DRIVER_PROTOCOL && node->filename) {
            g_ptr_array_add(files, g_strdup(node->filename));
            g_ptr_array_add(names, g_strdup(node->name));
        }
    }
}

static void create_open_error(const CreateOpenJob *job, int r, GError **errp)
{
    if (job->confine_ret < 0)
        allow_path_set_error(errp, job->path, job->confine_ret);
    else if (job->lock_err)
        g_propagate_prefixed_error(errp, g_error_copy(job->lock_err), "Cannot create image: ");
    else if (r == -EEXIST)
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "Cannot create image '%s': the file "
                    "exists (overwrite=\"on\" replaces it)", job->path);
    else if (r == -EBUSY)
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "Cannot create image '%s': node '%s' "
                    "holds the file open", job->path, job->busy_node);
    else if (r == -EINVAL && job->mode)
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Cannot create image '%s': "
                    "it exists and is not a regular file", job->path);
    else
        bg_set_error_errno(errp, r, "Cannot create image '%s'", job->path);
}

int coroutine_fn create_file_co_open(const char *path, bool overwrite, CreateFile *ret,
                                     GError **errp)
{
    g_autoptr(GPtrArray) in_use = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    CreateOpenJob job = {
        .path = path, .overwrite = overwrite, .in_use = in_use, .in_use_nodes = names, .fd = -1,
    };
    int r;

    graph_files(in_use, names);
    r = (int)worker_pool_co_run(create_open_job, &job);

    if (r < 0) {
        create_open_error(&job, r, errp);
        g_clear_error(&job.lock_err);
        g_free(job.resolved);
        return r;
    }
    ret->fd = job.fd;
    ret->created = job.created;
    ret->path = job.resolved ? job.resolved : g_strdup(path);
    return 0;
}

static long create_close_job(void *opaque)
{
    CreateFile *f = opaque;

    if (f->fd >= 0 && close(f->fd) < 0)
        return -errno;
    f->fd = -1;
    return 0;
}

static long create_unlink_job(void *opaque)
{
    CreateFile *f = opaque;

    return unlink(f->path) < 0 ? -errno : 0;
}

void coroutine_fn create_file_co_close(CreateFile *f, bool remove)
{
    worker_pool_co_run(create_close_job, f);
    f->fd = -1;
    if (remove && f->created) {
        int r = (int)worker_pool_co_run(create_unlink_job, f);

        if (r < 0)
            g_warning("Could not remove the partly created image '%s': %s", f->path,
                      g_strerror(-r));
        f->created = false;
    }
    g_clear_pointer(&f->path, g_free);
}
