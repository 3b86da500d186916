/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * copy-on-read: a filter whose reads of data that the child's own layer
 * does not hold (it comes from the backing chain) also write that data into
 * the child, so the next read finds it in the top image (QEMU's
 * block/copy-on-read.c).  Block status of the child tells which parts are
 * unallocated there.  A copy is written with write-unchanged permission
 * (the guest-visible content stays the same); while it runs, writes through
 * the filter to the same range wait, and it waits for those in flight, so
 * that a copy never puts old backing data over a newer write (QEMU's
 * serialising copy-on-read requests).
 */

#include <errno.h>

#include "drivers/drivers.h"
#include "graph/io.h"
#include "graph/write-track.h"

typedef struct CorState {
    bool range_locking;     /* every write through the node is tracked (write-track.h) */
} CorState;

static int coroutine_fn cor_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    CorState *s = node->opaque;

    node->size = node->file->node->size;
    node->request_alignment = node->file->node->request_alignment;
    node_co_range_lock_start(node);
    s->range_locking = true;
    return 0;
}

static void coroutine_fn cor_close(BlockNode *node)
{
    CorState *s = node->opaque;

    if (s->range_locking)
        node_range_lock_stop(node);
    s->range_locking = false;
}

/* Reads [offset, offset+bytes) of the child and writes it back into the child's own layer. */
static int coroutine_fn cor_copy(BlockNode *node, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, uint64_t qiov_offset)
{
    g_autofree uint8_t *buf = g_malloc(bytes);
    WriteTrack track;
    int r;

    write_track_begin(node, &track, offset, bytes, true, NULL);
    r = node_co_pread(node->file, offset, bytes, buf, 0);
    if (r >= 0) {
        iov_from_buf(qiov, qiov_offset, buf, bytes);
        /* A read-only filter or child: the read is served, nothing is copied. */
        if ((node->file->perm & BLOCK_PERM_WRITE_UNCHANGED) && node_takes_writes(node->file->node)) {
            IOVector v;

            iov_init_buf(&v, buf, bytes);
            /* Zeroes from the backing chain become zero clusters, as in QEMU. */
            r = iov_is_zero(&v, 0, bytes)
                ? node_co_pwrite_zeroes(node->file, offset, bytes, 0)
                : node_co_pwrite(node->file, offset, bytes, buf, 0);
        }
    }
    write_track_end(node, &track);
    return r;
}

#define COR_MAX_COPY (1024 * 1024)

/*
 * For a range the child's own layer does not hold: ALLOCATED (read it
 * plainly) unless some layer of its backing chain holds data there;
 * *pnum narrows to the run that answer covers.
 */
static int coroutine_fn backing_status(BlockNode *node, uint64_t offset, uint64_t *pnum)
{
    BlockChild *backing = node->file->node->backing;
    uint64_t n = *pnum;
    int r;

    if (!backing || offset >= backing->node->size)
        return BLOCK_STATUS_ALLOCATED;
    n = MIN(n, backing->node->size - offset);
    r = node_co_block_status_above(backing, NULL, offset, n, pnum);
    if (r < 0)
        return r;
    return (r & BLOCK_STATUS_ALLOCATED) ? 0 : BLOCK_STATUS_ALLOCATED;
}

static int coroutine_fn cor_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                   IOVector *qiov, BlockReqFlags flags)
{
    uint64_t done = 0;

    while (done < bytes) {
        uint64_t pnum, map;
        BlockNode *file;
        IOVector part;
        int r = node_co_block_status(node->file, offset + done, bytes - done, &pnum, &map,
                                     &file);

        if (r < 0)
            return r;
        /* Only what a backing layer holds is copied (QEMU: allocated above `bottom`). */
        if (!(r & BLOCK_STATUS_ALLOCATED))
            r = backing_status(node, offset + done, &pnum);
        if (r < 0)
            return r;
        if (!(r & BLOCK_STATUS_ALLOCATED)) {
            pnum = MIN(pnum, COR_MAX_COPY);
            r = cor_copy(node, offset + done, pnum, qiov, done);
        } else {
            iov_init(&part, qiov->niov);
            iov_concat_slice(&part, qiov, done, pnum);
            r = node_co_preadv(node->file, offset + done, pnum, &part, flags);
            iov_destroy(&part);
        }
        if (r < 0)
            return r;
        done += pnum;
    }
    return 0;
}

static int coroutine_fn cor_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                    IOVector *qiov, BlockReqFlags flags)
{
    return node_co_pwritev(node->file, offset, bytes, qiov, flags);
}

static int coroutine_fn cor_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                          BlockReqFlags flags)
{
    return node_co_pwrite_zeroes(node->file, offset, bytes, flags);
}

static int coroutine_fn cor_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    return node_co_pdiscard(node->file, offset, bytes);
}

/*
 * QEMU's cor_child_perm: what the users take and share passes through, and
 * the filter itself writes unchanged data (shared with everyone).
 */
static void cor_child_perm(BlockNode *node, const char *role, uint64_t parent_perm,
                           uint64_t parent_shared, uint64_t *ret_perm, uint64_t *ret_shared)
{
    block_filter_child_perm(node, role, parent_perm, parent_shared, ret_perm, ret_shared);
    *ret_shared |= BLOCK_PERM_WRITE_UNCHANGED;
    if (node->writable && node->active)
        *ret_perm |= BLOCK_PERM_WRITE_UNCHANGED;
}

static const OptionSpec cor_options[] = {
    OPTION_TABLE_END
};

static const char *const cor_roles[] = { "file", NULL };
const BlockDriver block_driver_copy_on_read = {
    .name = "copy-on-read",
    .kind = BLOCK_DRIVER_FILTER,
    .state_size = sizeof(CorState),
    .options = cor_options,
    .child_roles = cor_roles,
    .required_child_roles = cor_roles,
    .co_open = cor_open,
    .close = cor_close,
    .co_preadv = cor_preadv,
    .co_pwritev = cor_pwritev,
    .co_pwrite_zeroes = cor_pwrite_zeroes,
    .co_pdiscard = cor_pdiscard,
    .co_truncate = block_filter_co_truncate,
    .co_block_status = block_filter_co_block_status,
    .child_perm = cor_child_perm,
    .runs_in_iothread = true,
};
