/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Reads and writes of the `file` driver that run on the calling thread
 * instead of the worker pool, when they cannot wait for a device: on a file
 * system that keeps its data in memory (tmpfs, ramfs), or where
 * preadv2/pwritev2(RWF_NOWAIT) find everything in the page cache.  The
 * hand-off to a worker thread and back costs more than such a copy.
 */

#include <stdbool.h>
#include <stdint.h>

#include "drivers/file-jobs.h"

typedef struct FileInline {
    bool memory_fs;             /* tmpfs or ramfs: every transfer is a copy */
    bool nowait_read;           /* preadv2(RWF_NOWAIT) still worth trying */
    bool nowait_write;          /* pwritev2(RWF_NOWAIT) still worth trying */
    bool has_cachestat;         /* cachestat(2) still worth trying */
    uint32_t misses;            /* RWF_NOWAIT attempts in a row that would have blocked */
    uint32_t skip;              /* transfers left to send straight to the pool */
    uint64_t page_size;
} FileInline;

/*
 * Whether fd is a regular file on a file system that keeps its data in
 * memory (fstatfs: may block, so in a worker).
 */
bool file_is_memory_fs(int fd);

/* Sets up the policy for a descriptor of a file system as file_is_memory_fs said. */
void file_inline_init(FileInline *fi, bool memory_fs, bool direct);

/*
 * Runs job on this thread if it cannot block; true when it did, with the
 * result (as file_job_rw) in *ret.  False leaves the whole job to the pool.
 * large_here (asked for large transfers only): true when a large transfer
 * on a memory file system runs here too.
 */
bool file_inline_try(FileInline *fi, FileRwJob *job, bool (*large_here)(void), long *ret);
/*
 * Whether a transfer of this size on fi's descriptor runs on this thread
 * whatever it is (a memory file system: small, or large_here()), as
 * file_inline_try decides for reads and writes.
 */
bool file_inline_memory_here(const FileInline *fi, uint64_t bytes, bool (*large_here)(void));

/*
 * Whether every page of [offset, offset+bytes) is in the page cache
 * (cachestat(2), Linux 6.5), so that sendfile(2) from fd neither waits
 * for the device nor meets a read error.  False where the kernel cannot
 * tell.
 */
bool file_inline_range_cached(FileInline *fi, int fd, uint64_t offset, uint64_t bytes);
