/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every filter driver (throttle, copy-on-read) does the same way. */

#include "drivers/drivers.h"
#include "graph/io.h"

int coroutine_fn block_filter_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    int r = node_co_truncate(node->file, size, errp);

    if (r >= 0)
        node->size = node->file->node->size;
    return r;
}

/* The filtered node's status is the filter's, allocation included (QEMU's BDRV_BLOCK_RAW). */
int coroutine_fn block_filter_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                              uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    return node_co_block_status(node->file, offset, bytes, pnum, map, file);
}

void block_filter_child_perm(BlockNode *node, const char *role, uint64_t parent_perm,
                             uint64_t parent_shared, uint64_t *ret_perm, uint64_t *ret_shared)
{
    block_perm_filter_child(parent_perm, parent_shared, ret_perm, ret_shared);
}
