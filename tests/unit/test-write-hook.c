/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graph/io.c's before-write hooks (a WriteObserver's before_write, what
 * backup's copy-before-write uses): the hook sees the data before the
 * write changes it, a failing hook fails the write with nothing written,
 * and the hook's nested read passes a drain that waits for the write; its
 * copy to another node (backup's target) passes that node's drain only
 * while a drain waits for the write.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "aio/loop.h"
#include "graph/io.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define FILE_SIZE (256 * KiB)
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Hook {
    WriteObserver o;
    BlockChild *reader;
    BlockChild *copy_to;        /* set: the hook writes what it read there (copy-before-write) */
    bool copying;               /* the hook's copy to copy_to began */
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
    uint64_t n = MIN(bytes, sizeof(h->seen));
    int r = node_co_pread(h->reader, offset, n, h->seen, BLOCK_REQ_NESTED);

    if (r == 0 && h->copy_to) {
        h->copying = true;
        r = node_co_pwrite(h->copy_to, offset, n, h->seen, 0);
    }
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

static void run_write(const char *path, Hook *h, Write *w, TuDrain *dr)
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
        tu_drain_start(dr);
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
    TuDrain dr = { 0 };

    run_write(path, &h, &w, &dr);
    assert_int_equal(w.result, 0);
    assert_true(dr.done);
    check_file(path, 0xee);
    tu_unlink(path);
}

/*
 * Copy-before-write with the target drained, then the source (a reopen of
 * [target, source]): while only the target is drained the hook's copy
 * waits (the write with it); once the source's drain waits for the write,
 * the copy is part of it and goes on, and both drains end.
 */
static void test_copy_passes_drains_of_target_then_source(void **state)
{
    char *src = tu_pattern_file(FILE_SIZE, 0), *dst = tu_pattern_file(FILE_SIZE, 3);
    g_autofree char *sxml = g_strdup_printf(
        "<blockdev driver='file' node-name='s' filename='%s'/>", src);
    g_autofree char *dxml = g_strdup_printf(
        "<blockdev driver='file' node-name='t' filename='%s'/>", dst);
    BlockNode *s = tu_add_xml(sxml, NULL), *t = tu_add_xml(dxml, NULL);
    Hook h = { .o.before_write = hook_before_write };
    Write w = { 0 };
    TuDrain dt = { t }, ds = { s };

    w.c = tu_attach(s, "writer", RW, NULL);
    h.reader = tu_attach(s, "job-src", BLOCK_PERM_CONSISTENT_READ, NULL);
    h.copy_to = tu_attach(t, "job-dst", RW, NULL);
    node_add_write_observer(s, &h.o);
    alarm(60);      /* a hang fails the test */
    tu_drain_start(&dt);
    aio_run_until(&dt.done);
    coroutine_start(write_co, &w);
    aio_run_until(&h.copying);
    assert_false(w.done);
    assert_int_equal(t->in_flight, 0);  /* the copy waits out the target's drain */
    tu_drain_start(&ds);
    aio_run_until(&ds.done);
    assert_true(w.done);
    assert_int_equal(w.result, 0);
    node_drain_end(s);
    node_drain_end(t);
    alarm(0);
    node_remove_write_observer(s, &h.o);
    tu_detach(h.copy_to);
    tu_detach(h.reader);
    tu_detach(w.c);
    tu_remove_all();
    check_file(src, 0xee);
    check_file(dst, -1);                /* the source's old data */
    tu_unlink(src);
    tu_unlink(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_sees_old_data),
        cmocka_unit_test(test_failing_hook_fails_write),
        cmocka_unit_test(test_nested_read_passes_drain),
        cmocka_unit_test(test_copy_passes_drains_of_target_then_source),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
