/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The `file` driver's operations that `host_device` shares (QEMU's
 * file-posix.c serves both): opening, reads and writes, flush, locks,
 * dynamic read-only and reopen work the same on a block device; the open
 * job takes a block device instead of a regular file when the node's
 * driver is host_device.
 */

#include "drivers/file-mem.h"
#include "drivers/file-state.h"
#include "graph/node.h"

extern const OptionSpec file_options[];
extern const char *const file_child_roles[];   /* none */

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

/*
 * The part of the driver table that file and host_device share, written
 * once; each adds its own zero writes, discard, resize and block status.
 */
#define FILE_DRIVER_SHARED_OPS \
    .runs_in_iothread = true, \
    .kind = BLOCK_DRIVER_PROTOCOL, \
    .state_size = sizeof(FileState), \
    .options = file_options, \
    .child_roles = file_child_roles, \
    .required_child_roles = file_child_roles, \
    .dynamic_read_only = true, \
    .co_open = file_co_open, \
    .close = file_close, \
    .co_preadv = file_co_preadv, \
    .co_pwritev = file_co_pwritev, \
    .co_flush = file_co_flush, \
    .write_mem = file_mem_write, \
    .apply_perm = file_apply_perm, \
    .set_writable = file_set_writable, \
    .co_activate = file_co_activate, \
    .reopen_prepare = file_reopen_prepare, \
    .reopen_commit = file_reopen_commit, \
    .reopen_abort = file_reopen_abort

/* The node's descriptor, and whether discard=unmap (for host_device's ioctls). */
int file_node_fd(const BlockNode *node);
bool file_node_unmap(const BlockNode *node);

/* Whether a large transfer on a memory file system runs on this loop (file_inline_try). */
bool file_large_copy_here(void);

/* Copy offload between two buffered `file` nodes with copy_file_range(2) (file-copy.c). */
int coroutine_fn file_co_copy_range_from(BlockNode *node, uint64_t offset, BlockChild *dst,
                                         uint64_t dst_offset, uint64_t bytes);
int coroutine_fn file_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                       uint64_t offset, uint64_t bytes);
