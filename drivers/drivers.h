/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "graph/driver.h"

extern const BlockDriver block_driver_file;
extern const BlockDriver block_driver_host_device;
extern const BlockDriver block_driver_null_co;
extern const BlockDriver block_driver_raw;
extern const BlockDriver block_driver_error;
extern const BlockDriver block_driver_qcow2;
extern const BlockDriver block_driver_nbd;
extern const BlockDriver block_driver_rbd;
extern const BlockDriver block_driver_throttle;
extern const BlockDriver block_driver_copy_on_read;

/*
 * Shared by the filters (drivers/filter.c): resize and block status pass to
 * the `file` child, and the child gets what the filter's users take and
 * share (QEMU's filters forward permissions as raw does).
 */
int coroutine_fn block_filter_co_truncate(BlockNode *node, uint64_t size, GError **errp);
int coroutine_fn block_filter_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                              uint64_t *pnum, uint64_t *map, BlockNode **file);
void block_filter_child_perm(BlockNode *node, const char *role, uint64_t parent_perm,
                             uint64_t parent_shared, uint64_t *ret_perm, uint64_t *ret_shared);
