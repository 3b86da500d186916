/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Copy offload of the `file` driver (node_co_copy_range): copy_file_range(2)
 * from another file node's descriptor, one copy in the kernel instead of a
 * read into a buffer and a write out of it (QEMU's raw_co_copy_range_to).
 * It runs in the worker pool, or on the loop where file-inline.c runs a
 * buffered transfer of the same size (a memory file system), and on a
 * memory file system also when the pool's threads for copies that do not
 * sleep are all busy: a job keeps up to 16 copies in flight, and on two
 * CPUs the pool keeps one such thread while the main loop waits idle
 * (mirror of 1 GiB on tmpfs: one CPU busy, 1.1x qemu-storage-daemon;
 * with the loop copying too, 1.3x).  Whatever the
 * kernel refuses (EXDEV, EINVAL, EOPNOTSUPP, ENOSYS) or fails is -ENOTSUP:
 * the caller copies through a buffer, which reports a real error as the
 * read or the write it is.
 */

#include <errno.h>

#include "aio/worker-pool.h"
#include "drivers/drivers.h"
#include "drivers/file.h"
#include "graph/io.h"

/* copy_file_range works on regular files, and buffered ones are simplest. */
static bool file_copy_capable(const BlockNode *node)
{
    const FileState *s = node->opaque;

    return node->drv == &block_driver_file && !s->direct;
}

int coroutine_fn file_co_copy_range_from(BlockNode *node, uint64_t offset, BlockChild *dst,
                                         uint64_t dst_offset, uint64_t bytes)
{
    return node_co_copy_range_to(node, offset, dst, dst_offset, bytes);
}

static bool copy_here(void)
{
    return file_large_copy_here() || worker_pool_busy();
}

int coroutine_fn file_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                       uint64_t offset, uint64_t bytes)
{
    FileState *s = node->opaque, *from = src->opaque;
    FileCopyJob job = {
        .fd_in = from->fd, .off_in = src_offset, .fd_out = s->fd, .off_out = offset,
        .bytes = bytes,
    };
    long ret;

    if (!file_copy_capable(src) || !file_copy_capable(node))
        return -ENOTSUP;
    /*
     * On the loop only if neither side can wait for a device: where
     * file-inline.c runs a transfer of that size, or when the pool's
     * threads for such copies are all busy (a job's copies in flight, on a
     * loop that is idle meanwhile: the loop is the second copier).
     */
    if (file_inline_memory_here(&from->inline_io, bytes, copy_here) &&
        file_inline_memory_here(&s->inline_io, bytes, copy_here))
        ret = file_job_copy_range(&job);
    else
        ret = worker_pool_co_run(file_job_copy_range, &job);
    return ret == (long)bytes ? 0 : -ENOTSUP;   /* short: the source's file ended early */
}
