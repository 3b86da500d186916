/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host_device: a block device (QEMU's host_device).  Everything but the
 * size, zeroes and discard is the `file` driver's (drivers/file.h): the
 * open refuses what is not a block device, the size comes from
 * BLKGETSIZE64, zero writes use BLKZEROOUT and discards BLKDISCARD, in the
 * worker pool.  A device cannot be resized (no co_truncate: the core says
 * so); block status is "all data".
 */

#include <errno.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include "aio/worker-pool.h"
#include "drivers/drivers.h"
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

static int coroutine_fn hdev_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    if (!file_node_unmap(node))
        return 0;
    return hdev_co_range(node, BLKDISCARD, offset, bytes);
}

const BlockDriver block_driver_host_device = {
    .name = "host_device",
    FILE_DRIVER_SHARED_OPS,
    .co_pwrite_zeroes = hdev_co_pwrite_zeroes,
    .co_pdiscard = hdev_co_pdiscard,
};
