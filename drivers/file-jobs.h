/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The blocking half of the `file` driver: system calls that run in the
 * worker pool (aio/worker-pool.h).  Each job is a small struct on the
 * calling coroutine's stack; each function returns >= 0 or a negative errno.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <glib.h>

/*
 * On the heap (file_open_job_new): an open that hangs is abandoned and the
 * job outlives its caller (worker_pool_co_run_abandonable).
 */
typedef struct FileOpenJob {
    char *filename;
    int flags;                  /* open(2) flags */
    bool block_device;          /* host_device: a block device, not a regular file */
    /* results */
    int confine_ret;            /* < 0: outside the allowed paths or relative (policy/) */
    int fd;                     /* -1 unless open; file_open_job_free closes it */
    mode_t mode;                /* st_mode, once fstat worked: not a regular file, say which */
    bool lock_supported;        /* OFD locks work on it (F_OFD_GETLK probe) */
    uint64_t size;
    uint32_t offset_align;      /* O_DIRECT only: offset/length alignment */
    uint32_t mem_align;         /* O_DIRECT only: buffer alignment */
    bool memory_fs;             /* tmpfs or ramfs (file_is_memory_fs) */
} FileOpenJob;

typedef struct FileRwJob {
    int fd;
    bool write;
    uint64_t offset;
    size_t bytes;
    const struct iovec *iov;
    int niov;
    int rw_flags;               /* pwritev2/preadv2 flags (RWF_DSYNC), usually 0 */
} FileRwJob;

typedef struct FileCopyJob {
    int fd_in, fd_out;
    uint64_t off_in, off_out;
    size_t bytes;
} FileCopyJob;

typedef struct FileFallocateJob {
    int fd;
    int mode;
    uint64_t offset;
    uint64_t bytes;
} FileFallocateJob;

typedef struct FileSeekJob {
    int fd;
    uint64_t offset;
    uint64_t bytes;
    /* results */
    bool zero;
    uint64_t pnum;
    uint64_t data_end;          /* data: where the next hole starts (EOF included), else 0 */
} FileSeekJob;

typedef struct FileTruncateJob {
    int fd;
    uint64_t size;
} FileTruncateJob;

typedef struct FileSizeJob {
    int fd;
    uint64_t size;              /* result */
} FileSizeJob;

FileOpenJob *file_open_job_new(const char *filename, int flags);
/* Closes the descriptor if it is still there; for abandoned jobs too. */
void file_open_job_free(void *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FileOpenJob, file_open_job_free)

/*
 * Opens without blocking (O_NONBLOCK: a FIFO never waits for a writer),
 * refuses what is not a regular file (-EINVAL, job->mode tells what it is;
 * with block_device: what is not a block device, -ENOTBLK),
 * then reads the size, probes OFD locks and the O_DIRECT alignment.
 */
long file_job_open(void *opaque);
/* preadv/pwritev until done or EOF: bytes transferred or -errno. */
long file_job_rw(void *opaque);
/* copy_file_range(2) until done or the source's end: bytes copied or -errno. */
long file_job_copy_range(void *opaque);
long file_job_fdatasync(void *opaque);      /* opaque: int *fd */
long file_job_fallocate(void *opaque);
/* Zeroes a range that stays allocated: punch a hole, then allocate it. */
long file_job_punch_and_allocate(void *opaque);
long file_job_seek(void *opaque);
long file_job_truncate(void *opaque);
long file_job_size(void *opaque);

