/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The size of a new image with a backing file and no size= (jobs/create.h):
 * the backing image's virtual size, as qemu-img create takes it.  The
 * backing file is opened in the worker pool, confined like any file the
 * daemon opens, relative to the new image's folder when its name is
 * relative (as QEMU resolves backing names).  Its format is backing-fmt
 * (qemu-img, too, refuses a backing file without one): qcow2 (the size
 * field of the header) or raw (the file's length).
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "aio/worker-pool.h"
#include "graph/error.h"
#include "jobs/create.h"
#include "policy/allow-path.h"

#define QCOW2_MAGIC 0x514649fbu         /* "QFI\xfb" */
#define QCOW2_SIZE_OFFSET 24
#define QCOW2_HEADER_READ 32

typedef struct BackingSizeJob {
    char *path;                 /* absolute, or as given when the image's is relative */
    bool qcow2;
    /* results */
    int confine_ret;
    bool not_qcow2;
    uint64_t size;
} BackingSizeJob;

static uint64_t be_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static long read_size(BackingSizeJob *job, int fd)
{
    uint8_t hdr[QCOW2_HEADER_READ];
    ssize_t n;
    off_t end;

    if (!job->qcow2) {
        end = lseek(fd, 0, SEEK_END);
        if (end < 0)
            return -errno;
        job->size = (uint64_t)end;
        return 0;
    }
    n = pread(fd, hdr, sizeof(hdr), 0);
    if (n < 0)
        return -errno;
    if (n < (ssize_t)sizeof(hdr) || be_u64(hdr) >> 32 != QCOW2_MAGIC) {
        job->not_qcow2 = true;
        return -EINVAL;
    }
    job->size = be_u64(hdr + QCOW2_SIZE_OFFSET);
    return 0;
}

static long backing_size_job(void *opaque)
{
    BackingSizeJob *job = opaque;
    g_autofree char *resolved = NULL;
    long r;
    int fd;

    job->confine_ret = allow_path_resolve(job->path, false, &resolved);
    if (job->confine_ret < 0)
        return job->confine_ret;
    fd = open(resolved ? resolved : job->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    r = read_size(job, fd);
    close(fd);
    return r;
}

static void backing_size_error(const BackingSizeJob *job, const char *what, int r,
                               GError **errp)
{
    if (job->confine_ret < 0)
        allow_path_set_error(errp, job->path, job->confine_ret);
    else if (job->not_qcow2)
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Cannot create %s: backing "
                    "file '%s' is not a qcow2 image (backing-fmt)", what, job->path);
    else
        bg_set_error_errno(errp, r, "Cannot create %s: cannot read the size of backing file "
                           "'%s'", what, job->path);
}

int coroutine_fn create_co_backing_size(const char *image, const char *backing,
                                        const char *fmt, const char *what, uint64_t *ret,
                                        GError **errp)
{
    g_autofree char *dir = image ? g_path_get_dirname(image) : NULL;
    BackingSizeJob job = { .qcow2 = g_strcmp0(fmt, "qcow2") == 0 };
    int r;

    if (!fmt || (!job.qcow2 && strcmp(fmt, "raw") != 0)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Cannot create %s: 'size' is "
                    "needed, or backing-fmt qcow2 or raw to take the size of backing file '%s'",
                    what, backing);
        return -EINVAL;
    }
    job.path = g_path_is_absolute(backing) || !dir ? g_strdup(backing)
                                                   : g_build_filename(dir, backing, NULL);
    r = (int)worker_pool_co_run(backing_size_job, &job);
    if (r < 0)
        backing_size_error(&job, what, r, errp);
    else
        *ret = job.size;
    g_free(job.path);
    return r;
}
