/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* error: a protocol driver whose every request fails with EIO. */

#include <errno.h>

#include "drivers/drivers.h"
#include "graph/node.h"

static int coroutine_fn error_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    node->size = option_set_get_uint(opts, "size");
    return 0;
}

static int coroutine_fn error_rw(BlockNode *node, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags)
{
    return -EIO;
}

static int coroutine_fn error_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                            BlockReqFlags flags)
{
    return -EIO;
}

static int coroutine_fn error_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    return -EIO;
}

static int coroutine_fn error_flush(BlockNode *node)
{
    return -EIO;
}

static int coroutine_fn error_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                           uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    return -EIO;
}

static const OptionSpec error_options[] = {
    { .name = "size", .type = OPTION_SIZE, .default_value = "0",
      .description = "Size the node reports, in bytes" },
    OPTION_TABLE_END
};

/* Any role, so that a failed format node keeps its links while it answers EIO. */
static const char *const error_roles[] = { "file", "backing", "data-file", NULL };

const BlockDriver block_driver_error = {
    .name = "error",
    .kind = BLOCK_DRIVER_PROTOCOL,
    .options = error_options,
    .child_roles = error_roles,
    .co_open = error_open,
    .co_preadv = error_rw,
    .co_pwritev = error_rw,
    .co_pwrite_zeroes = error_pwrite_zeroes,
    .co_pdiscard = error_pdiscard,
    .co_flush = error_flush,
    .co_block_status = error_block_status,
};
