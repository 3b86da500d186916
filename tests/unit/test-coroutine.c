/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

static void record_entry(void *opaque)
{
    GString *log = opaque;

    g_string_append(log, "a");
    coroutine_yield();
    g_string_append(log, "c");
}

static void test_enter_yield_reenter(void **state)
{
    GString *log = g_string_new(NULL);
    Coroutine *co = coroutine_create(record_entry, log);
    unsigned before = coroutine_count_alive();

    coroutine_enter(co);
    g_string_append(log, "b");
    coroutine_enter(co);
    assert_string_equal(log->str, "abc");
    assert_int_equal(coroutine_count_alive(), before - 1);
    g_string_free(log, TRUE);
}

typedef struct Nested {
    GString *log;
    Coroutine *inner;
} Nested;

static void inner_entry(void *opaque)
{
    Nested *n = opaque;

    g_string_append(n->log, "2");
    coroutine_yield();
    g_string_append(n->log, "5");
}

static void outer_entry(void *opaque)
{
    Nested *n = opaque;

    g_string_append(n->log, "1");
    n->inner = coroutine_create(inner_entry, n);
    coroutine_enter(n->inner);      /* returns to us when inner yields */
    g_string_append(n->log, "3");
    coroutine_yield();
    g_string_append(n->log, "6");
}

static void test_nested_enter_returns_to_caller(void **state)
{
    Nested n = { .log = g_string_new(NULL) };
    Coroutine *outer = coroutine_create(outer_entry, &n);

    coroutine_enter(outer);
    g_string_append(n.log, "4");
    coroutine_enter(n.inner);
    coroutine_enter(outer);
    assert_string_equal(n.log->str, "123456");
    g_string_free(n.log, TRUE);
}

typedef struct MutexTest {
    CoMutex mutex;
    int inside;
    int max_inside;
    int finished;
} MutexTest;

static void mutex_entry(void *opaque)
{
    MutexTest *t = opaque;

    co_mutex_lock(&t->mutex);
    t->inside++;
    t->max_inside = MAX(t->max_inside, t->inside);
    coroutine_yield_to_loop();      /* hold the lock across a loop iteration */
    t->inside--;
    co_mutex_unlock(&t->mutex);
    t->finished++;
}

static void test_mutex_excludes_and_wakes_all(void **state)
{
    MutexTest t = { 0 };
    bool done = false;

    co_mutex_init(&t.mutex);
    for (int i = 0; i < 50; i++)
        coroutine_start(mutex_entry, &t);
    while (t.finished < 50)
        sd_event_run(aio_loop(), UINT64_MAX);
    (void)done;
    assert_int_equal(t.max_inside, 1);
    assert_int_equal(t.inside, 0);
    assert_false(t.mutex.locked);
}

static void sleeper(void *opaque)
{
    uint64_t *woke_usec = opaque;

    coroutine_sleep_ns(20 * 1000 * 1000);
    sd_event_now(aio_loop(), CLOCK_MONOTONIC, woke_usec);
}

static void test_sleep_resumes_after_deadline(void **state)
{
    uint64_t start = 0, woke = 0;

    sd_event_now(aio_loop(), CLOCK_MONOTONIC, &start);
    aio_run_coroutine(sleeper, &woke);
    assert_true(woke >= start + 20000);
}

static void deep_recursion(int depth, volatile char *sink)
{
    volatile char buf[256];

    buf[0] = (char)depth;
    if (depth > 0)
        deep_recursion(depth - 1, buf);
    *sink += buf[0];
}

static void stack_user(void *opaque)
{
    volatile char sink = 0;

    deep_recursion(2000, &sink);        /* ~600 KiB of stack */
    *(bool *)opaque = true;
}

static void test_large_stack_use(void **state)
{
    bool ok = false;

    coroutine_start(stack_user, &ok);
    assert_true(ok);
}

static void many_entry(void *opaque)
{
    int *count = opaque;

    coroutine_yield_to_loop();
    (*count)++;
}

static void test_many_coroutines_in_flight(void **state)
{
    int count = 0;

    for (int i = 0; i < 1000; i++)
        coroutine_start(many_entry, &count);
    while (count < 1000)
        sd_event_run(aio_loop(), UINT64_MAX);
    assert_int_equal(count, 1000);
    assert_int_equal(coroutine_count_alive(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enter_yield_reenter),
        cmocka_unit_test(test_nested_enter_returns_to_caller),
        cmocka_unit_test(test_mutex_excludes_and_wakes_all),
        cmocka_unit_test(test_sleep_resumes_after_deadline),
        cmocka_unit_test(test_large_stack_use),
        cmocka_unit_test(test_many_coroutines_in_flight),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
