/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The `file` driver's operations that `host_device` shares (QEMU's
 * file-posix.c serves both): opening, reads and writes, flush, locks,
 * dynamic read-only and reopen work the same on a block device; the open
 * job takes a block device instead of a regular file when the node's
 * driver is host_device.
 */

#include "drivers/file-state.h"
#include "graph/node.h"

extern const OptionSpec file_options[];

int coroutine_fn file_co_open(BlockNode *node, const OptionSet *opts, GError **errp);
void coroutine_fn file_close(BlockNode *node);
int coroutine_fn file_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags);
int coroutine_fn file_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags);
int coroutine_fn file_co_flush(BlockNode *node);
int coroutine_fn file_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared,
                                 GError **errp);
int coroutine_fn file_set_writable(BlockNode *node, bool writable, GError **errp);
int coroutine_fn file_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                     void **ret_state, GError **errp);
void file_reopen_commit(BlockNode *node, void *state);
void file_reopen_abort(BlockNode *node, void *state);
int coroutine_fn file_co_activate(BlockNode *node, GError **errp);

/* The node's descriptor, and whether discard=unmap (for host_device's ioctls). */
int file_node_fd(const BlockNode *node);
bool file_node_unmap(const BlockNode *node);
