/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * null-co: a protocol driver with no storage; writes vanish, reads are zeroes.
 *
 * QEMU leaves the read buffer untouched with read-zeroes=off.  Here request
 * buffers are pooled across clients (exports/nbd-buffer.c), so an untouched
 * buffer would hand one client another's data: reads always zero it, and
 * read-zeroes only decides what block status reports (zero or data).
 */

#include "drivers/drivers.h"
#include "graph/node.h"

/* A delay that long is a mistake; a longer one would hold requests (and drains) for ever. */
#define NULL_CO_MAX_LATENCY_NS (10 * G_GUINT64_CONSTANT(1000000000))

typedef struct NullState {
    bool read_zeroes;
    uint64_t latency_ns;
} NullState;

static int coroutine_fn null_co_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    NullState *s = node->opaque;

    node->size = option_set_get_uint(opts, "size");
    s->read_zeroes = option_set_get_bool(opts, "read-zeroes");
    s->latency_ns = option_set_get_uint(opts, "latency-ns");
    return 0;
}

static void coroutine_fn null_co_delay(BlockNode *node)
{
    NullState *s = node->opaque;

    if (s->latency_ns)
        coroutine_sleep_ns(s->latency_ns);
}

static int coroutine_fn null_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       IOVector *qiov, BlockReqFlags flags)
{
    null_co_delay(node);
    iov_memset(qiov, 0, 0, bytes);
    return 0;
}

static int coroutine_fn null_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        IOVector *qiov, BlockReqFlags flags)
{
    null_co_delay(node);
    return 0;
}

static int coroutine_fn null_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                              BlockReqFlags flags)
{
    null_co_delay(node);
    return 0;
}

static int coroutine_fn null_co_flush(BlockNode *node)
{
    null_co_delay(node);
    return 0;
}

static int coroutine_fn null_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    node->size = size;
    return 0;
}

static int coroutine_fn null_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                             uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    NullState *s = node->opaque;

    *pnum = bytes;
    *map = offset;
    *file = node;
    return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID |
           (s->read_zeroes ? BLOCK_STATUS_ZERO : BLOCK_STATUS_DATA);
}

static const OptionSpec null_co_options[] = {
    { .name = "size", .type = OPTION_SIZE, .default_value = "1073741824",
      .description = "Size of the device in bytes" },
    { .name = "read-zeroes", .type = OPTION_BOOL, .default_value = "off",
      .description = "Report reads as zeroes in block status (off: as data); "
                     "reads return zeroes either way" },
    { .name = "latency-ns", .type = OPTION_UINT, .default_value = "0",
      .max_value = NULL_CO_MAX_LATENCY_NS,
      .description = "Delay every request by this many nanoseconds" },
    OPTION_TABLE_END
};

const BlockDriver block_driver_null_co = {
    .name = "null-co",
    .runs_in_iothread = true,
    .kind = BLOCK_DRIVER_PROTOCOL,
    .state_size = sizeof(NullState),
    .options = null_co_options,
    .co_open = null_co_open,
    .co_preadv = null_co_preadv,
    .co_pwritev = null_co_pwritev,
    .co_pwrite_zeroes = null_co_pwrite_zeroes,
    .co_flush = null_co_flush,
    .co_truncate = null_co_truncate,
    .co_block_status = null_co_block_status,
};
