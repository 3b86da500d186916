/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The blocking half of the `file` driver: system calls that run in the
 * worker pool (aio/worker-pool.h).  Each job is a small struct on the
 * calling coroutine's stack; each function returns >= 0 or a negative errno.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct FileOpenJob {
    const char *filename;
    int flags;                  /* open(2) flags */
    /* results */
    int fd;
    bool is_block;
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

/* Opens, checks the type, reads the size and the O_DIRECT alignment. */
long file_job_open(void *opaque);
/* preadv/pwritev until done or EOF: bytes transferred or -errno. */
long file_job_rw(void *opaque);
long file_job_fdatasync(void *opaque);      /* opaque: int *fd */
long file_job_fallocate(void *opaque);
/* Zeroes a range that stays allocated: punch a hole, then allocate it. */
long file_job_punch_and_allocate(void *opaque);
long file_job_seek(void *opaque);
long file_job_truncate(void *opaque);

/* Size of an open file or block device, or -errno. */
int64_t file_get_size(int fd, bool is_block);
