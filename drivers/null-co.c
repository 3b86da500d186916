/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * null-co: a protocol driver with no storage; writes vanish, reads are zeroes.
 *
 * QEMU leaves the read buffer untouched with read-zeroes=off.  Here request
 * buffers are pooled across clients (exports/nbd-buffer.c), so an untouched
 * buffer would hand one client another's data: reads always zero it, and
 * read-zeroes only decides what block status reports (zero or data).
 */

#include <stdlib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
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

/*
 * A test hook (tests/interop/test-iothread-bus-unlocked.py): with
 * BLOCKGRAPHD_TEST_NULL_CO_STALL=<path> in the environment, a read blocks
 * its loop's thread while <path> exists (at most 60 s), after creating
 * <path>.entered: one long dispatch of that loop.  When the main loop
 * waits for the loop's lock it yields, and counts that in <path>.yields.
 */
static void coroutine_fn null_co_test_stall(void)
{
    static const char *path;
    static gsize once;
    int64_t end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
    unsigned yields = 0;

    if (g_once_init_enter(&once)) {
        path = getenv("BLOCKGRAPHD_TEST_NULL_CO_STALL");
        g_once_init_leave(&once, 1);
    }
    if (!path || !g_file_test(path, G_FILE_TEST_EXISTS))
        return;
    g_autofree char *entered = g_strconcat(path, ".entered", NULL);
    g_autofree char *counted = g_strconcat(path, ".yields", NULL);
    (void)g_file_set_contents(entered, "", 0, NULL);
    while (g_file_test(path, G_FILE_TEST_EXISTS) && g_get_monotonic_time() < end) {
        if (aio_loop_yield_wanted()) {
            g_autofree char *n = g_strdup_printf("%u", ++yields);

            (void)g_file_set_contents(counted, n, -1, NULL);
            coroutine_yield_to_loop();
        } else {
            g_usleep(10000);
        }
    }
}

static int coroutine_fn null_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       IOVector *qiov, BlockReqFlags flags)
{
    null_co_test_stall();
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
    node_set_size(node, size);
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
