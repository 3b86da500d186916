/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* Worker-pool jobs of the `file` driver: the blocking system calls. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <glib.h>

#include "aio/iov.h"
#include "drivers/file-inline.h"
#include "drivers/file-jobs.h"
#include "policy/allow-path.h"
#include "drivers/file-lock.h"

/* Smallest offset alignment an O_DIRECT read accepts (QEMU's probe). */
static uint32_t file_probe_offset_align(int fd)
{
    static const uint32_t candidates[] = { 512, 1024, 2048, 4096 };
    void *buf = NULL;
    uint32_t align = 4096;

    if (posix_memalign(&buf, 4096, 4096) != 0)
        return align;
    for (size_t i = 0; i < G_N_ELEMENTS(candidates); i++) {
        if (pread(fd, buf, candidates[i], 0) >= 0) {
            align = candidates[i];
            break;
        }
    }
    free(buf);
    return align;
}

static void file_probe_direct_align(FileOpenJob *job)
{
    struct statx stx;

    job->offset_align = 0;
    job->mem_align = 0;
    if (statx(job->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align > 0) {
        job->offset_align = stx.stx_dio_offset_align;
        job->mem_align = stx.stx_dio_mem_align;
    } else {
        job->offset_align = file_probe_offset_align(job->fd);
    }
    /* Old kernels want buffers aligned like offsets; be generous below 512. */
    if (job->offset_align < 512)
        job->offset_align = 512;
    if (job->mem_align == 0 || job->mem_align > job->offset_align)
        job->mem_align = job->offset_align;
    if (job->mem_align < 512)
        job->mem_align = 512;
}

FileOpenJob *file_open_job_new(const char *filename, int flags)
{
    FileOpenJob *job = g_new0(FileOpenJob, 1);

    job->filename = g_strdup(filename);
    job->flags = flags;
    job->fd = -1;
    return job;
}

void file_open_job_free(void *opaque)
{
    FileOpenJob *job = opaque;

    if (!job)
        return;
    if (job->fd >= 0)
        close(job->fd);
    g_free(job->filename);
    g_free(job);
}

/* Size of what fd opened: a regular file's length, a block device's BLKGETSIZE64. */
static int file_fd_size(int fd, const struct stat *st, uint64_t *ret)
{
    if (!S_ISBLK(st->st_mode)) {
        *ret = (uint64_t)st->st_size;
        return 0;
    }
    return ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
}

/* A regular file (a block device for host_device), back in blocking mode; else -errno. */
static int file_check_type(FileOpenJob *job)
{
    struct stat st;
    int fl;

    if (fstat(job->fd, &st) < 0)
        return -errno;
    job->mode = st.st_mode;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (job->block_device && !S_ISBLK(st.st_mode))
        return -ENOTBLK;
    if (!job->block_device && !S_ISREG(st.st_mode))
        return -EINVAL;
    fl = fcntl(job->fd, F_GETFL);
    if (fl < 0 || fcntl(job->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return -errno;
    return file_fd_size(job->fd, &st, &job->size);
}

long file_job_open(void *opaque)
{
    FileOpenJob *job = opaque;
    g_autofree char *resolved = NULL;
    int r;

    r = allow_path_resolve(job->filename, false, &resolved);
    if (r == -EINVAL || r == -EACCES) {
        job->confine_ret = r;
        return r;
    }
    /* What resolved names has no symlink left: one swapped in now is not followed. */
    job->fd = open(resolved ? resolved : job->filename,
                   job->flags | O_NONBLOCK | (resolved ? O_NOFOLLOW : 0));
    if (job->fd < 0)
        return -errno;
    r = file_check_type(job);
    if (r < 0) {
        close(job->fd);
        job->fd = -1;
        return r;
    }
    job->lock_supported = file_lock_supported(job->fd);
    job->memory_fs = file_is_memory_fs(job->fd);
    if (job->flags & O_DIRECT)
        file_probe_direct_align(job);
    return 0;
}

long file_job_rw(void *opaque)
{
    FileRwJob *job = opaque;
    g_autofree struct iovec *copy = NULL;
    struct iovec *iov = (struct iovec *)job->iov;
    int niov = job->niov;
    size_t done = 0;

    while (done < job->bytes && niov > 0) {
        int cnt = niov < IOV_MAX ? niov : IOV_MAX;
        ssize_t n = job->write ? pwritev2(job->fd, iov, cnt, job->offset + done, job->rw_flags)
                               : preadv2(job->fd, iov, cnt, job->offset + done, job->rw_flags);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return job->write ? -ENOSPC : (long)done;   /* EOF */
        done += n;
        if (done < job->bytes) {
            if (!copy) {
                /* Partial transfer: advance a private copy of the vector. */
                copy = g_memdup2(iov, niov * sizeof(*iov));
                iov = copy;
            }
            niov = iovec_advance(&iov, niov, n);
        }
    }
    return (long)done;
}

long file_job_copy_range(void *opaque)
{
    FileCopyJob *job = opaque;
    size_t done = 0;

    while (done < job->bytes) {
        loff_t in = (loff_t)(job->off_in + done), out = (loff_t)(job->off_out + done);
        ssize_t n = copy_file_range(job->fd_in, &in, job->fd_out, &out, job->bytes - done, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;                      /* the source's end */
        done += n;
    }
    return (long)done;
}

long file_job_fdatasync(void *opaque)
{
    int fd = *(int *)opaque;

    return fdatasync(fd) < 0 ? -errno : 0;
}

long file_job_fallocate(void *opaque)
{
    FileFallocateJob *job = opaque;
    int r;

    do {
        r = fallocate(job->fd, job->mode, job->offset, job->bytes);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

long file_job_punch_and_allocate(void *opaque)
{
    FileFallocateJob *job = opaque;
    long r;

    job->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    r = file_job_fallocate(job);
    if (r < 0)
        return r;
    job->mode = FALLOC_FL_KEEP_SIZE;
    r = file_job_fallocate(job);
    /* The range reads as zeroes either way; allocation is best effort. */
    return r == -EOPNOTSUPP || r == -ENOSPC ? 0 : r;
}

long file_job_seek(void *opaque)
{
    FileSeekJob *job = opaque;
    off_t start = (off_t)job->offset;
    off_t data, hole;

    job->zero = false;
    job->pnum = job->bytes;
    job->data_end = 0;
    data = lseek(job->fd, start, SEEK_DATA);
    if (data < 0) {
        /* ENXIO: start is in the hole at the end; else no SEEK_DATA here. */
        job->zero = errno == ENXIO;
        return 0;
    }
    if (data > start) {
        job->zero = true;
        job->pnum = MIN((uint64_t)(data - start), job->bytes);
        return 0;
    }
    hole = lseek(job->fd, start, SEEK_HOLE);
    if (hole > start) {
        job->pnum = MIN((uint64_t)(hole - start), job->bytes);
        job->data_end = (uint64_t)hole;
    }
    return 0;
}

long file_job_truncate(void *opaque)
{
    FileTruncateJob *job = opaque;

    return ftruncate(job->fd, (off_t)job->size) < 0 ? -errno : 0;
}

long file_job_size(void *opaque)
{
    FileSizeJob *job = opaque;
    struct stat st;

    if (fstat(job->fd, &st) < 0)
        return -errno;
    return file_fd_size(job->fd, &st, &job->size);
}
