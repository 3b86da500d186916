/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host_device: a block device (QEMU's host_device).  Everything but the
 * size, zeroes and discard is the `file` driver's (drivers/file.h): the
 * open refuses what is not a block device, the size comes from
 * BLKGETSIZE64, zero writes use BLKZEROOUT in the worker pool.  Discards
 * go through the loop's io_uring where the node uses it
 * (BLOCK_URING_CMD_DISCARD, Linux >= 6.12), else BLKDISCARD in the worker
 * pool; a kernel without the command is found out once (the ring says
 * EOPNOTSUPP where the ioctl works) and the pool does them from then on.
 * A device cannot be resized (no co_truncate: the core says so); block
 * status is "all data".
 */

#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "aio/uring.h"
#include "aio/worker-pool.h"
#include "drivers/drivers.h"
#include "drivers/file-state.h"
#include "drivers/file.h"
#include "graph/error.h"

typedef struct HdevRangeJob {
    int fd;
    unsigned long request;      /* BLKZEROOUT or BLKDISCARD */
    uint64_t range[2];          /* start, length */
} HdevRangeJob;

static long hdev_job_range(void *opaque)
{
    HdevRangeJob *job = opaque;
    int r;

    do {
        r = ioctl(job->fd, job->request, job->range);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int coroutine_fn hdev_co_range(BlockNode *node, unsigned long request, uint64_t offset,
                                      uint64_t bytes)
{
    HdevRangeJob job = { .fd = file_node_fd(node), .request = request, .range = { offset, bytes } };
    long r = worker_pool_co_run(hdev_job_range, &job);

    /* Devices without the command, or ranges it does not take: the core falls back. */
    return r == -EOPNOTSUPP || r == -EINVAL || r == -ENOTTY ? -ENOTSUP : (int)r;
}

/* BLKZEROOUT: the device zeroes the range (it may unmap it when it reads back zeroes). */
static int coroutine_fn hdev_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                              BlockReqFlags flags)
{
    int r = hdev_co_range(node, BLKZEROOUT, offset, bytes);

    if (r == 0 && (flags & BLOCK_REQ_FUA))
        r = file_co_flush(node);
    return r;
}

static int ring_lacks_discard;     /* atomic: the kernel has no BLOCK_URING_CMD_DISCARD */

static int coroutine_fn hdev_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    const FileState *s = node->opaque;
    int ring, r;

    if (!file_node_unmap(node))
        return 0;
    if (s->aio != FILE_AIO_IO_URING || g_atomic_int_get(&ring_lacks_discard))
        return hdev_co_range(node, BLKDISCARD, offset, bytes);
    ring = uring_co_blk_discard(s->fd, offset, bytes);
    if (ring != -EOPNOTSUPP && ring != -ENXIO)
        return ring == -EINVAL ? -ENOTSUP : ring;   /* as the ioctl's (hdev_co_range) */
    /* No ring on this loop, an older kernel, or a device without discard: */
    r = hdev_co_range(node, BLKDISCARD, offset, bytes);
    if (r == 0 && ring == -EOPNOTSUPP)
        g_atomic_int_set(&ring_lacks_discard, 1);
    return r;
}

const BlockDriver block_driver_host_device = {
    .name = "host_device",
    FILE_DRIVER_SHARED_OPS,
    .co_pwrite_zeroes = hdev_co_pwrite_zeroes,
    .co_pdiscard = hdev_co_pdiscard,
};
