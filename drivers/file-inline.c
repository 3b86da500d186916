/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Why not always the pool: one 4 KiB request on tmpfs is a ~1 µs copy, while
 * waking a worker and getting its completion back through the eventfd costs
 * several context switches; on two CPUs that hand-off was a quarter of the
 * daemon's time (docs/nbd.md).  Why not always inline: a page-cache miss on
 * a disk file system can take milliseconds, and the loop thread serves every
 * client and the bus.  So only what cannot wait for a device runs here.
 */

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/magic.h>

#include "drivers/file-inline.h"

/*
 * Larger transfers go to the pool, where the copy overlaps the loop's work,
 * unless on a memory file system the caller says they run here (large_here:
 * file.c says so on an iothread): no hand-off, no wake-ups, and the copy
 * reads a buffer still in this CPU's cache.
 */
#define FILE_INLINE_MAX_BYTES (128 * 1024)

/* After this many RWF_NOWAIT misses in a row, skip FILE_INLINE_BACKOFF tries. */
#define FILE_INLINE_MAX_MISSES 4
#define FILE_INLINE_BACKOFF    64

bool file_is_memory_fs(int fd)
{
    struct statfs sfs;
    struct stat st;

    /* A device node's file system is the one of /dev (devtmpfs, "tmpfs"), not the device's. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return false;
    return fstatfs(fd, &sfs) == 0 && (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC);
}

void file_inline_init(FileInline *fi, bool memory_fs, bool direct)
{
    *fi = (FileInline){ .has_cachestat = true, .page_size = (uint64_t)sysconf(_SC_PAGESIZE) };
    if (direct)
        return;                 /* O_DIRECT transfers always wait for the device */
    fi->memory_fs = memory_fs;
    fi->nowait_read = fi->nowait_write = !memory_fs;
}

bool file_inline_memory_here(const FileInline *fi, uint64_t bytes, bool (*large_here)(void))
{
    return fi->memory_fs && (bytes <= FILE_INLINE_MAX_BYTES || large_here());
}

bool file_inline_try(FileInline *fi, FileRwJob *job, bool (*large_here)(void), long *ret)
{
    if (job->niov > IOV_MAX)
        return false;
    if (file_inline_memory_here(fi, job->bytes, large_here)) {
        *ret = file_job_rw(job);
        return true;
    }
    if (job->bytes > FILE_INLINE_MAX_BYTES)
        return false;
    /* RWF_DSYNC waits for the disk by definition. */
    bool *enabled = job->write ? &fi->nowait_write : &fi->nowait_read;
    if (!*enabled || job->rw_flags)
        return false;
    if (fi->skip) {
        fi->skip--;
        return false;
    }

    ssize_t n = job->write
        ? pwritev2(job->fd, job->iov, job->niov, (off_t)job->offset, RWF_NOWAIT)
        : preadv2(job->fd, job->iov, job->niov, (off_t)job->offset, RWF_NOWAIT);
    if (n >= 0 && (size_t)n == job->bytes) {
        fi->misses = 0;
        *ret = n;
        return true;
    }
    /*
     * EOPNOTSUPP: the file system takes no RWF_NOWAIT at all; EINVAL: not for
     * buffered writes.  Anything else (EAGAIN, a short transfer that may be a
     * miss or the end of the file) is redone whole by the pool; a write that
     * went through partly is simply written again.
     */
    if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
        *enabled = false;
        return false;
    }
    if (++fi->misses >= FILE_INLINE_MAX_MISSES) {
        fi->misses = 0;
        fi->skip = FILE_INLINE_BACKOFF;
    }
    return false;
}

/* cachestat(2): Debian 12's headers predate it; the number is the same on every architecture. */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct file_cachestat_range {
    uint64_t off, len;
};

struct file_cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

bool file_inline_range_cached(FileInline *fi, int fd, uint64_t offset, uint64_t bytes)
{
    struct file_cachestat_range range = { offset, bytes };
    struct file_cachestat st;

    if (!fi->has_cachestat || bytes == 0)
        return false;
    if (syscall(__NR_cachestat, fd, &range, &st, 0) < 0) {
        /* The kernel or this file system cannot tell: do not ask again. */
        if (errno == ENOSYS || errno == EOPNOTSUPP)
            fi->has_cachestat = false;
        return false;
    }
    uint64_t first = offset / fi->page_size, last = (offset + bytes - 1) / fi->page_size;
    return st.nr_cache >= last - first + 1;
}
