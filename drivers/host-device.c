/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * host_device: a block device (QEMU's host_device).  Everything but the
 * size, zeroes and discard is the `file` driver's (drivers/file.h): the
 * open refuses what is not a block device, the size comes from
 * BLKGETSIZE64, zero writes use BLKZEROOUT and discards BLKDISCARD, in the
 * worker pool.  A device cannot be resized; block status is "all data".
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

static int coroutine_fn hdev_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    if (size == node->size)
        return 0;
    g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                "Cannot resize node '%s': '%s' is a block device of %" G_GUINT64_FORMAT " bytes",
                node->name, node->filename, node->size);
    return -ENOTSUP;
}

static const char *const hdev_capabilities[] = { "discard", "zero-write", NULL };
static const char *const hdev_child_roles[] = { NULL };

const BlockDriver block_driver_host_device = {
    .name = "host_device",
    .runs_in_iothread = true,
    .kind = BLOCK_DRIVER_PROTOCOL,
    .state_size = sizeof(FileState),
    .options = file_options,
    .child_roles = hdev_child_roles,
    .required_child_roles = hdev_child_roles,
    .capabilities = hdev_capabilities,
    .co_open = file_co_open,
    .close = file_close,
    .co_preadv = file_co_preadv,
    .co_pwritev = file_co_pwritev,
    .co_pwrite_zeroes = hdev_co_pwrite_zeroes,
    .co_pdiscard = hdev_co_pdiscard,
    .co_flush = file_co_flush,
    .co_truncate = hdev_co_truncate,
    .dynamic_read_only = true,
    .apply_perm = file_apply_perm,
    .set_writable = file_set_writable,
    .co_activate = file_co_activate,
    .reopen_prepare = file_reopen_prepare,
    .reopen_commit = file_reopen_commit,
    .reopen_abort = file_reopen_abort,
};
