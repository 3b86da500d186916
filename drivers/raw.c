/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* raw: the image is the data, optionally a window (offset, size) of its file. */

#include <errno.h>

#include "drivers/create.h"
#include "drivers/drivers.h"
#include "graph/error.h"
#include "graph/io.h"

typedef struct RawState {
    uint64_t offset;
    bool has_size;          /* a window: the node does not follow the file's size */
} RawState;

static int coroutine_fn raw_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    RawState *s = node->opaque;
    uint64_t file_size = node->file->node->size;

    s->offset = option_set_get_uint(opts, "offset");
    s->has_size = option_set_is_set(opts, "size");
    if (s->offset > file_size) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Option 'offset' (%" G_GUINT64_FORMAT ") of node '%s' is past the end of "
                    "its file (%" G_GUINT64_FORMAT " bytes)", s->offset, node->name, file_size);
        return -EINVAL;
    }
    node->size = s->has_size ? option_set_get_uint(opts, "size") : file_size - s->offset;
    if (node->size > file_size - s->offset) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Options 'offset' + 'size' of node '%s' reach past the end of its file "
                    "(%" G_GUINT64_FORMAT " bytes)", node->name, file_size);
        return -EINVAL;
    }
    node->request_alignment = node->file->node->request_alignment;
    return 0;
}

static int coroutine_fn raw_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                   IOVector *qiov, BlockReqFlags flags)
{
    RawState *s = node->opaque;

    return node_co_preadv(node->file, s->offset + offset, bytes, qiov, flags);
}

static int coroutine_fn raw_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                    IOVector *qiov, BlockReqFlags flags)
{
    RawState *s = node->opaque;

    return node_co_pwritev(node->file, s->offset + offset, bytes, qiov, flags);
}

static int coroutine_fn raw_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                          BlockReqFlags flags)
{
    RawState *s = node->opaque;

    return node_co_pwrite_zeroes(node->file, s->offset + offset, bytes, flags);
}

static int coroutine_fn raw_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    RawState *s = node->opaque;

    return node_co_pdiscard(node->file, s->offset + offset, bytes);
}

static int coroutine_fn raw_copy_range_from(BlockNode *node, uint64_t offset, BlockChild *dst,
                                            uint64_t dst_offset, uint64_t bytes)
{
    RawState *s = node->opaque;

    return node_co_copy_range(node->file, s->offset + offset, dst, dst_offset, bytes);
}

static int coroutine_fn raw_copy_range_to(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                          uint64_t offset, uint64_t bytes)
{
    RawState *s = node->opaque;

    return node_co_copy_range_to(src, src_offset, node->file, s->offset + offset, bytes);
}

static int coroutine_fn raw_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    RawState *s = node->opaque;
    int r;

    if (s->has_size || s->offset) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Cannot resize node '%s': it is a window (offset/size) of its file",
                    node->name);
        return -ENOTSUP;
    }
    r = node_co_truncate(node->file, size, errp);
    if (r >= 0)
        node_set_size(node, node->file->node->size);
    return r;
}

static int coroutine_fn raw_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                         uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    RawState *s = node->opaque;

    *pnum = bytes;
    *map = s->offset + offset;
    *file = node->file->node;
    return BLOCK_STATUS_RECURSE | BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
}

static bool raw_linear_map(BlockNode *node, uint64_t offset, uint64_t bytes,
                           uint64_t *file_offset)
{
    RawState *s = node->opaque;

    *file_offset = s->offset + offset;
    return true;
}

/*
 * raw forwards to its file what its own users take and share (QEMU's
 * raw_child_perm): with no writer above, the file is not written, so an
 * auto-read-only file stays read-only and takes no write locks.  A window
 * keeps others from resizing the file under it.
 */
static void raw_child_perm(BlockNode *node, const char *role, uint64_t parent_perm,
                           uint64_t parent_shared, uint64_t *ret_perm, uint64_t *ret_shared)
{
    block_perm_filter_child(parent_perm, parent_shared, ret_perm, ret_shared);
    if (option_set_is_set(node->options, "size") || option_set_get_uint(node->options, "offset"))
        *ret_shared &= ~BLOCK_PERM_RESIZE;
}

typedef struct RawReopen {
    uint64_t offset, size;
    bool has_size;
} RawReopen;

static int coroutine_fn raw_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                           void **ret_state, GError **errp)
{
    uint64_t file_size = node->file->node->size;
    RawReopen *r = g_new(RawReopen, 1);

    r->offset = option_set_get_uint(opts, "offset");
    r->has_size = option_set_is_set(opts, "size");
    r->size = r->has_size ? option_set_get_uint(opts, "size") : file_size - MIN(r->offset, file_size);
    if (r->offset > file_size || r->size > file_size - r->offset) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Options 'offset' + 'size' of node '%s' reach past the end of its file "
                    "(%" G_GUINT64_FORMAT " bytes)", node->name, file_size);
        g_free(r);
        return -EINVAL;
    }
    *ret_state = r;
    return 0;
}

static void raw_reopen_commit(BlockNode *node, void *state)
{
    RawState *s = node->opaque;
    RawReopen *r = state;

    s->offset = r->offset;
    s->has_size = r->has_size;
    node->size = r->size;
    g_free(r);
}

static void raw_reopen_abort(BlockNode *node, void *state)
{
    g_free(state);
}

static const OptionSpec raw_options[] = {
    { .name = "offset", .type = OPTION_SIZE, .default_value = "0", .mutable_on_reopen = true,
      .description = "Where the image starts in its file, in bytes" },
    { .name = "size", .type = OPTION_SIZE, .mutable_on_reopen = true,
      .description = "Size of the image in bytes (default: the rest of the file)" },
    OPTION_TABLE_END
};

static const char *const raw_roles[] = { "file", NULL };
const BlockDriver block_driver_raw = {
    .name = "raw",
    .runs_in_iothread = true,
    .kind = BLOCK_DRIVER_FORMAT,
    .state_size = sizeof(RawState),
    .options = raw_options,
    .child_roles = raw_roles,
    .required_child_roles = raw_roles,
    .co_open = raw_open,
    .co_preadv = raw_preadv,
    .co_pwritev = raw_pwritev,
    .co_pwrite_zeroes = raw_pwrite_zeroes,
    .co_pdiscard = raw_pdiscard,
    .co_copy_range_from = raw_copy_range_from,
    .co_copy_range_to = raw_copy_range_to,
    .co_truncate = raw_truncate,
    .co_block_status = raw_block_status,
    .linear_map = raw_linear_map,
    .child_perm = raw_child_perm,
    .reopen_prepare = raw_reopen_prepare,
    .reopen_commit = raw_reopen_commit,
    .reopen_abort = raw_reopen_abort,
    .create_options = create_plain_options,
    .co_create = create_plain_image,
};
