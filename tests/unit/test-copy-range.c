/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graph/io.c's copy offload (node_co_copy_range) between two file nodes:
 * the data lands (copy_file_range), through a raw window too; the target's
 * write observers are told; a target whose writes a before_write hook must
 * see refuses with -ENOTSUP before anything is written; a copy waiting
 * out a drain of the target goes on once a drain of the source waits for it.
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

typedef struct Copy {
    BlockChild *src, *dst;
    uint64_t src_offset;
    int result;
    bool done;
} Copy;

static void copy_co(void *opaque)
{
    Copy *c = opaque;

    c->result = node_co_copy_range(c->src, c->src_offset, c->dst, 128 * KiB, 64 * KiB);
    c->done = true;
}

typedef struct Observer {
    WriteObserver o;
    uint64_t offset, bytes;
    unsigned calls;
} Observer;

static void observer_written(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    Observer *ob = (Observer *)o;

    ob->calls++;
    ob->offset = offset;
    ob->bytes = bytes;
}

static int coroutine_fn observer_before(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    ((Observer *)o)->calls++;
    return 0;
}

/* Copies 64K from src_xml's node at src_offset to 128K of file dst; returns the result. */
static int run_copy(const char *src_xml, const char *dst_path, uint64_t src_offset,
                    Observer *ob)
{
    g_autofree char *dxml = g_strdup_printf(
        "<blockdev driver='file' node-name='d' filename='%s'/>", dst_path);
    BlockNode *s = tu_add_xml(src_xml, NULL), *d = tu_add_xml(dxml, NULL);
    Copy c = { .src_offset = src_offset };

    c.src = tu_attach(s, "job-src", BLOCK_PERM_CONSISTENT_READ, NULL);
    c.dst = tu_attach(d, "job-dst", RW, NULL);
    if (ob)
        node_add_write_observer(d, &ob->o);
    coroutine_start(copy_co, &c);
    aio_run_until(&c.done);
    if (ob)
        node_remove_write_observer(d, &ob->o);
    tu_detach(c.src);
    tu_detach(c.dst);
    tu_remove_all();
    return c.result;
}

/* [128K, 192K) of path holds the pattern of seed from `from` on; the rest its own (seed 7). */
static void check_file(const char *path, int seed, uint64_t from)
{
    g_autofree char *now = NULL;
    gsize len;

    assert_true(g_file_get_contents(path, &now, &len, NULL));
    assert_int_equal(len, FILE_SIZE);
    for (size_t i = 0; i < FILE_SIZE; i++) {
        bool copied = seed >= 0 && i >= 128 * KiB && i < 192 * KiB;
        size_t at = copied ? i - 128 * KiB + from : i;
        assert_int_equal((uint8_t)now[i], (at / 512 + (copied ? seed : 7)) & 0xff);
    }
}

static char *file_xml(const char *path)
{
    return g_strdup_printf("<blockdev driver='file' node-name='s' filename='%s'/>", path);
}

static void test_copies(void **state)
{
    char *src = tu_pattern_file(FILE_SIZE, 1), *dst = tu_pattern_file(FILE_SIZE, 7);
    g_autofree char *xml = file_xml(src);
    Observer ob = { .o.written = observer_written };

    assert_int_equal(run_copy(xml, dst, 64 * KiB, &ob), 0);
    check_file(dst, 1, 64 * KiB);
    assert_int_equal(ob.calls, 1);
    assert_int_equal(ob.offset, 128 * KiB);
    assert_int_equal(ob.bytes, 64 * KiB);
    tu_unlink(src);
    tu_unlink(dst);
}

/* A raw window maps its offsets onto the file's. */
static void test_raw_window(void **state)
{
    char *src = tu_pattern_file(FILE_SIZE, 1), *dst = tu_pattern_file(FILE_SIZE, 7);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='s' offset='32768'><file driver='file' "
        "node-name='s-file' filename='%s'/></blockdev>", src);

    assert_int_equal(run_copy(xml, dst, 0, NULL), 0);
    check_file(dst, 1, 32 * KiB);
    tu_unlink(src);
    tu_unlink(dst);
}

/* A before_write hook must see the data: no offload, nothing written, the hook not called. */
static void test_before_write_refuses(void **state)
{
    char *src = tu_pattern_file(FILE_SIZE, 1), *dst = tu_pattern_file(FILE_SIZE, 7);
    g_autofree char *xml = file_xml(src);
    Observer ob = { .o.before_write = observer_before };

    assert_int_equal(run_copy(xml, dst, 64 * KiB, &ob), -ENOTSUP);
    assert_int_equal(ob.calls, 0);
    check_file(dst, -1, 0);
    tu_unlink(src);
    tu_unlink(dst);
}

/*
 * A reopen of [target, source] drains the target, then the source: a copy
 * that holds the source while it waits out the target's drain is then part
 * of the source's drain, goes on, and both drains end.  While only the
 * target is drained, the copy waits.
 */
static void test_drains_of_target_then_source(void **state)
{
    char *src = tu_pattern_file(FILE_SIZE, 1), *dst = tu_pattern_file(FILE_SIZE, 7);
    g_autofree char *sxml = file_xml(src);
    g_autofree char *dxml = g_strdup_printf(
        "<blockdev driver='file' node-name='d' filename='%s'/>", dst);
    BlockNode *s = tu_add_xml(sxml, NULL), *d = tu_add_xml(dxml, NULL);
    Copy c = { .src_offset = 64 * KiB };
    TuDrain dd = { d }, ds = { s };

    c.src = tu_attach(s, "job-src", BLOCK_PERM_CONSISTENT_READ, NULL);
    c.dst = tu_attach(d, "job-dst", RW, NULL);
    alarm(60);      /* a hang fails the test */
    tu_drain_start(&dd);
    aio_run_until(&dd.done);
    coroutine_start(copy_co, &c);
    assert_false(c.done);
    assert_int_equal(s->in_flight, 1);  /* holds the source */
    assert_int_equal(d->in_flight, 0);  /* waits out the target's drain */
    tu_drain_start(&ds);
    aio_run_until(&ds.done);
    assert_true(c.done);
    assert_int_equal(c.result, 0);
    node_drain_end(s);
    node_drain_end(d);
    alarm(0);
    tu_detach(c.src);
    tu_detach(c.dst);
    tu_remove_all();
    check_file(dst, 1, 64 * KiB);
    tu_unlink(src);
    tu_unlink(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_raw_window),
        cmocka_unit_test(test_before_write_refuses),
        cmocka_unit_test(test_drains_of_target_then_source),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
