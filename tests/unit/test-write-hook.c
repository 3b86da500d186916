/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graph/io.c's before-write hooks (a WriteObserver's before_write, what
 * backup's copy-before-write uses): the hook sees the data before the
 * write changes it, a failing hook fails the write with nothing written,
 * and the hook's nested read passes a drain that waits for the write.
 */
#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "graph/io.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define FILE_SIZE (256 * KiB)
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Hook {
    WriteObserver o;
    BlockChild *reader;
    int fail;                   /* < 0: the hook fails with it */
    bool yield_first;           /* let the loop run (a drain begins) before reading */
    uint8_t seen[4 * KiB];      /* what the hook read */
    unsigned calls;
} Hook;

static int coroutine_fn hook_before_write(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    Hook *h = (Hook *)o;

    h->calls++;
    if (h->yield_first)
        coroutine_yield_to_loop();
    int r = node_co_pread(h->reader, offset, MIN(bytes, sizeof(h->seen)), h->seen,
                          BLOCK_REQ_NESTED);
    return r < 0 ? r : h->fail;
}

typedef struct Write {
    BlockChild *c;
    int result;
    bool done;
} Write;

static void write_co(void *opaque)
{
    Write *w = opaque;
    uint8_t data[4 * KiB];

    memset(data, 0xee, sizeof(data));
    w->result = node_co_pwrite(w->c, 8 * KiB, sizeof(data), data, 0);
    w->done = true;
}

typedef struct Drain {
    BlockNode *node;
    bool done;
} Drain;

static void drain_co(void *opaque)
{
    Drain *d = opaque;

    node_co_drain_begin(d->node);
    d->done = true;
}

static void run_write(const char *path, Hook *h, Write *w, Drain *dr)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f' filename='%s'/>", path);
    BlockNode *f = tu_add_xml(xml, NULL);

    w->c = tu_attach(f, "writer", RW, NULL);
    h->reader = tu_attach(f, "job", BLOCK_PERM_CONSISTENT_READ, NULL);
    h->o.before_write = hook_before_write;
    node_add_write_observer(f, &h->o);
    coroutine_start(write_co, w);
    if (dr) {
        dr->node = f;
        coroutine_start(drain_co, dr);
    }
    aio_run_until(&w->done);
    if (dr) {
        aio_run_until(&dr->done);
        node_drain_end(f);
    }
    node_remove_write_observer(f, &h->o);
    tu_detach(h->reader);
    tu_detach(w->c);
    tu_remove_all();
}

/* The written range holds byte, or (byte < 0) the file's pattern still. */
static void check_file(const char *path, int byte)
{
    g_autofree char *now = NULL;
    gsize len;

    assert_true(g_file_get_contents(path, &now, &len, NULL));
    for (size_t i = 8 * KiB; i < 12 * KiB; i++)
        assert_int_equal((uint8_t)now[i], byte < 0 ? (i / 512) & 0xff : (size_t)byte);
}

/* The hook reads the old data; the write lands after it. */
static void test_hook_sees_old_data(void **state)
{
    char *path = tu_pattern_file(FILE_SIZE, 0);
    Hook h = { 0 };
    Write w = { 0 };

    run_write(path, &h, &w, NULL);
    assert_int_equal(w.result, 0);
    assert_int_equal(h.calls, 1);
    for (size_t i = 0; i < sizeof(h.seen); i++)
        assert_int_equal(h.seen[i], ((8 * KiB + i) / 512) & 0xff);
    check_file(path, 0xee);
    tu_unlink(path);
}

/* A failing hook fails the write: nothing was written. */
static void test_failing_hook_fails_write(void **state)
{
    char *path = tu_pattern_file(FILE_SIZE, 0);
    Hook h = { .fail = -ENOSPC };
    Write w = { 0 };

    run_write(path, &h, &w, NULL);
    assert_int_equal(w.result, -ENOSPC);
    check_file(path, -1);
    tu_unlink(path);
}

/* A drain that begins while the hook runs waits for the write; the hook's read passes it. */
static void test_nested_read_passes_drain(void **state)
{
    char *path = tu_pattern_file(FILE_SIZE, 0);
    Hook h = { .yield_first = true };
    Write w = { 0 };
    Drain dr = { 0 };

    run_write(path, &h, &w, &dr);
    assert_int_equal(w.result, 0);
    assert_true(dr.done);
    check_file(path, 0xee);
    tu_unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_sees_old_data),
        cmocka_unit_test(test_failing_hook_fails_write),
        cmocka_unit_test(test_nested_read_passes_drain),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
