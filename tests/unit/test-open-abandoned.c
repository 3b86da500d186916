/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opens abandoned after their timeout (a hung file system) cannot starve
 * the worker pool: with as many calls stuck in threads as the pool used to
 * have threads, other nodes still open; beyond the bound, opens are refused
 * at once with a clear error instead of adding threads without end; once
 * the stuck calls return, everything opens again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "aio/worker-pool.h"
#include "tests/unit/test-util.h"

#define STUCK 64                /* the pool's thread limit before stuck calls were left out */

typedef struct Blocker {
    int pipe[2];                /* the call blocks reading [0] until the test writes [1] */
    bool released;              /* by the pool, on the loop thread */
    bool done;                  /* the waiter has its answer */
    long ret;
    void *job;                  /* the pool's handle: NULL once abandoned */
} Blocker;

static atomic_uint started;     /* blocker calls a thread has taken */

static long blocker_call(void *opaque)
{
    Blocker *b = opaque;
    char c;

    atomic_fetch_add(&started, 1);
    return read(b->pipe[0], &c, 1) == 1 ? c : -EIO;
}

static void blocker_release(void *opaque)
{
    ((Blocker *)opaque)->released = true;
}

static void blocker_co(void *opaque)
{
    Blocker *b = opaque;
    uint64_t timeout_us = b->ret;

    b->job = b;
    b->ret = worker_pool_co_run_abandonable(blocker_call, &b->job, blocker_release, timeout_us);
    b->done = true;
}

/* Starts n blocked calls that the pool gives up on after timeout_us. */
static void start_blockers(Blocker *b, unsigned n, uint64_t timeout_us)
{
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(pipe(b[i].pipe), 0);
        b[i].ret = (long)timeout_us;
        coroutine_start(blocker_co, &b[i]);
    }
}

static void abandon_co(void *opaque)
{
    worker_pool_abandon_all();
}

static GError *open_file_node(const char *name, const char *path)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='%s' filename='%s'/>", name, path);
    GError *err = NULL;

    tu_add_xml(xml, &err);
    return err;
}

static void test_stuck_opens_leave_the_pool_working(void **state)
{
    char *path = tu_pattern_file(64 * 1024, 3);
    Blocker *b = g_new0(Blocker, 2 * STUCK);
    uint8_t buf[512];

    /* STUCK calls abandoned while their threads stay blocked (as after a timeout). */
    start_blockers(b, STUCK, 60 * G_USEC_PER_SEC);
    while (atomic_load(&started) < STUCK)
        assert_true(sd_event_run(aio_loop(), 10000) >= 0);
    aio_run_coroutine(abandon_co, NULL);
    for (unsigned i = 0; i < STUCK; i++) {
        assert_true(b[i].done);
        assert_int_equal(b[i].ret, -ECANCELED);
        assert_false(b[i].released);    /* a thread has it: still blocked */
    }
    /* Other nodes still open and read. */
    assert_null(open_file_node("f1", path));
    BlockChild *c = tu_attach(graph_lookup("f1"), "reader", BLOCK_PERM_CONSISTENT_READ, NULL);
    assert_int_equal(tu_pread(c, 512, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 4);
    tu_detach(c);

    /* Up to the bound (waiting and stuck calls together): then refused at once. */
    start_blockers(b + STUCK, WORKER_POOL_MAX_ABANDONED - STUCK, 60 * G_USEC_PER_SEC);
    assert_false(worker_pool_may_abandon());
    assert_error(open_file_node("f2", path), BG_ERROR_IO_ERROR, "hang already");

    /* The stuck calls return at last: released; the waiting ones answer. */
    for (unsigned i = 0; i < WORKER_POOL_MAX_ABANDONED; i++)
        assert_int_equal(write(b[i].pipe[1], "x", 1), 1);
    for (unsigned i = 0; i < WORKER_POOL_MAX_ABANDONED; i++) {
        assert_int_equal(aio_run_until(i < STUCK ? &b[i].released : &b[i].done), 0);
        if (i >= STUCK)
            assert_int_equal(b[i].ret, 'x');
    }
    assert_true(worker_pool_may_abandon());
    assert_null(open_file_node("f2", path));

    for (unsigned i = 0; i < WORKER_POOL_MAX_ABANDONED; i++) {
        close(b[i].pipe[0]);
        close(b[i].pipe[1]);
    }
    g_free(b);
    tu_remove_all();
    tu_unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stuck_opens_leave_the_pool_working),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    worker_pool_shutdown();
    aio_loop_shutdown();
    return r;
}
