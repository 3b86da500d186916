/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Range locks (graph/io.h), what stream's copy-up relies on: while a link
 * holds a range, another link's write to it waits until the unlock, a
 * write elsewhere goes on, and the holder's own writes pass.
 */
#include "tests/unit/test-util.h"

typedef struct Writer {
    BlockChild *c;
    uint64_t offset;
    bool done;
} Writer;

static void coroutine_fn write_entry(void *opaque)
{
    Writer *w = opaque;
    uint8_t buf[512];

    memset(buf, 0x77, sizeof(buf));
    assert_int_equal(node_co_pwrite(w->c, w->offset, sizeof(buf), buf, 0), 0);
    w->done = true;
}

typedef struct Links {
    BlockChild *job, *guest;
} Links;

/* Turns the loop until *flag (5 s at most: then a failure shows). */
static void wait_flag(const bool *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++)
        coroutine_sleep_ns(1000000);
}

static void coroutine_fn lock_body(void *opaque)
{
    Links *l = opaque;
    BlockNode *node = l->job->node;
    Writer inside = { l->guest, 1024, false }, outside = { l->guest, 8192, false };
    uint8_t buf[512] = { 0 };
    WriteTrack lock;

    node_co_range_lock_start(node);
    node_co_range_lock(l->job, &lock, 0, 4096);
    coroutine_start(write_entry, &inside);
    coroutine_start(write_entry, &outside);
    wait_flag(&outside.done);
    assert_true(outside.done);
    assert_false(inside.done);
    /* The holder's own write is not held back by its lock. */
    assert_int_equal(node_co_pwrite(l->job, 1024, sizeof(buf), buf, 0), 0);
    assert_false(inside.done);
    node_range_unlock(l->job, &lock);
    wait_flag(&inside.done);
    assert_true(inside.done);
    node_range_lock_stop(node);
    /* The guest's write came after the holder's: it is what the node holds. */
    assert_int_equal(node_co_pread(l->job, 1024, sizeof(buf), buf, 0), 0);
    assert_int_equal(buf[0], 0x77);
}

static void test_range_lock_holds_other_writers(void **state)
{
    g_autofree char *path = tu_pattern_file(64 * 1024, 0);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f0' filename='%s'/>", path);
    BlockNode *node = tu_add_xml(xml, NULL);
    Links l;

    l.job = tu_attach(node, "job", BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE, NULL);
    l.guest = tu_attach(node, "guest", BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE, NULL);
    aio_run_coroutine(lock_body, &l);
    tu_remove_all();
    tu_unlink(g_steal_pointer(&path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_lock_holds_other_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
