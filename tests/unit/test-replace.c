/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graph/replace.c (the pivot of active commit and mirror) and the write
 * observers of graph/io.c: the users of a node move to another as one
 * transaction; a request held back by the drain goes to the new node.
 */
#include <errno.h>
#include <string.h>

#include "graph/graph-internal.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define SIZE (256 * KiB)
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Replace {
    BlockNode *from, *to;
    GraphKeepLink keep;
    void *opaque;
    int result;
    GError *err;
} Replace;

static void replace_co(void *opaque)
{
    Replace *r = opaque;

    r->result = graph_co_replace_node(r->from, r->to, r->keep, r->opaque, &r->err);
}

static int replace(BlockNode *from, BlockNode *to, GraphKeepLink keep, void *opaque,
                   GError **err)
{
    Replace r = { from, to, keep, opaque, 0, NULL };

    aio_run_coroutine(replace_co, &r);
    *err = r.err;
    return r.result;
}

typedef struct Queued {
    BlockChild *child;
    uint8_t buf[4 * KiB];
    int result;
    bool done;
} Queued;

static void drain_begin_co(void *opaque)
{
    node_co_drain_begin(opaque);
}

static void queued_write_co(void *opaque)
{
    Queued *q = opaque;

    q->result = node_co_pwrite(q->child, 0, sizeof(q->buf), q->buf, 0);
    q->done = true;
}

typedef struct Setup {
    char *path_a, *path_b;
    BlockNode *a, *b, *raw;
    BlockChild *user;
} Setup;

/* File nodes a and b, a raw node over a, and a writing user of a. */
static void setup(Setup *s)
{
    s->path_a = tu_pattern_file(SIZE, 1);
    s->path_b = tu_pattern_file(SIZE, 2);
    g_autofree char *xa = g_strdup_printf("<blockdev driver='file' node-name='a' filename='%s'/>",
                                          s->path_a);
    g_autofree char *xb = g_strdup_printf("<blockdev driver='file' node-name='b' filename='%s'/>",
                                          s->path_b);
    s->a = tu_add_xml(xa, NULL);
    s->b = tu_add_xml(xb, NULL);
    s->raw = tu_add_xml("<blockdev driver='raw' node-name='r'><file ref='a'/></blockdev>", NULL);
    s->user = tu_attach(s->a, "e0", RW, NULL);
}

static void teardown(Setup *s)
{
    tu_detach(s->user);
    tu_remove_all();
    tu_unlink(s->path_a);
    tu_unlink(s->path_b);
}

static bool file_byte_is(const char *path, uint8_t value)
{
    g_autofree char *data = NULL;
    gsize len;

    assert_true(g_file_get_contents(path, &data, &len, NULL));
    return (uint8_t)data[0] == value;
}

/* A write waiting out the drain of a goes to b once the pivot moved its link. */
static void test_replace_moves_users_and_queued_requests(void **state)
{
    Setup s;
    GError *err = NULL;
    Queued q = { 0 };

    setup(&s);
    q.child = s.user;
    memset(q.buf, 0xab, sizeof(q.buf));
    aio_run_coroutine(drain_begin_co, s.a);
    coroutine_start(queued_write_co, &q);
    assert_false(q.done);
    assert_int_equal(replace(s.a, s.b, NULL, NULL, &err), 0);
    assert_null(err);
    assert_ptr_equal(s.user->node, s.b);
    assert_ptr_equal(s.raw->file->node, s.b);
    assert_int_equal(s.a->parents->len, 0);
    node_drain_end(s.a);
    aio_run_until(&q.done);
    assert_int_equal(q.result, 0);
    assert_true(file_byte_is(s.path_b, 0xab));
    assert_false(file_byte_is(s.path_a, 0xab));
    teardown(&s);
}

static bool keep_raw(const BlockChild *c, void *opaque)
{
    return c->parent == opaque;
}

static void test_replace_keeps_what_keep_names(void **state)
{
    Setup s;
    GError *err = NULL;

    setup(&s);
    assert_int_equal(replace(s.a, s.b, keep_raw, s.raw, &err), 0);
    assert_ptr_equal(s.user->node, s.b);
    assert_ptr_equal(s.raw->file->node, s.a);
    teardown(&s);
}

/* A user of b that shares no writes: nothing moves. */
static void test_replace_conflict_changes_nothing(void **state)
{
    Setup s;
    GError *err = NULL;

    setup(&s);
    BlockChild *strict = node_attach_user(s.b, BLOCK_USER_EXPORT, "strict", "export",
                                          BLOCK_PERM_CONSISTENT_READ,
                                          BLOCK_PERM_CONSISTENT_READ, &err);
    assert_non_null(strict);
    assert_int_equal(replace(s.a, s.b, NULL, NULL, &err), -EPERM);
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT, "node 'b'");
    assert_ptr_equal(s.user->node, s.a);
    assert_ptr_equal(s.raw->file->node, s.a);
    assert_int_equal(s.b->parents->len, 1);
    tu_detach(strict);
    teardown(&s);
}

static void test_replace_frozen_link_refused(void **state)
{
    Setup s;
    GError *err = NULL;

    setup(&s);
    s.raw->file->frozen = 1;
    s.raw->file->frozen_by = "j0";
    assert_int_equal(replace(s.a, s.b, NULL, NULL, &err), -EPERM);
    assert_error(err, BG_ERROR_FROZEN, "job 'j0'");
    assert_ptr_equal(s.user->node, s.a);
    s.raw->file->frozen = 0;
    s.raw->file->frozen_by = NULL;
    teardown(&s);
}

typedef struct Seen {
    WriteObserver o;
    uint64_t offset, bytes;
    unsigned calls;
} Seen;

static void seen_written(WriteObserver *o, uint64_t offset, uint64_t bytes)
{
    Seen *s = (Seen *)o;

    s->offset = offset;
    s->bytes = bytes;
    s->calls++;
}

static void test_write_observer_sees_writes(void **state)
{
    Setup s;
    Seen seen = { .o.written = seen_written };
    uint8_t buf[512] = { 0 };

    setup(&s);
    node_add_write_observer(s.a, &seen.o);
    assert_int_equal(tu_pwrite(s.user, 4096, buf, sizeof(buf)), 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.offset, 4096);
    assert_int_equal(seen.bytes, sizeof(buf));
    assert_int_equal(tu_pread(s.user, 0, buf, sizeof(buf)), 0);
    assert_int_equal(seen.calls, 1);
    node_remove_write_observer(s.a, &seen.o);
    assert_int_equal(tu_pwrite(s.user, 0, buf, sizeof(buf)), 0);
    assert_int_equal(seen.calls, 1);
    teardown(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_moves_users_and_queued_requests),
        cmocka_unit_test(test_replace_keeps_what_keep_names),
        cmocka_unit_test(test_replace_conflict_changes_nothing),
        cmocka_unit_test(test_replace_frozen_link_refused),
        cmocka_unit_test(test_write_observer_sees_writes),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
