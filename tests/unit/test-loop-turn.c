/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Turns (aio/loop.c): a coroutine that keeps its loop busy and asks
 * aio_loop_yield_wanted() lets a ready event of its loop run in the middle
 * of its work, on the main loop and on an iothread; alone on its loop it is
 * never asked to yield.  A coroutine that yields to the loop until an event
 * of its loop came lets that event run.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

/* Without turns the busy coroutine ran this long and the timer only after it. */
#define BUSY_LIMIT_US (2 * G_USEC_PER_SEC)
#define ALONE_US 5000           /* ten turns with nothing else ready */
/* Long enough that the busy coroutine has begun its work, even under ThreadSanitizer. */
#define TIMER_US 50000

typedef struct Turn {
    bool with_timer;
    bool yield_each;            /* yields after each step without asking */
    sd_event_source *timer;     /* on the loop under test */
    atomic_bool timer_fired;
    atomic_bool fired_during;   /* the timer ran while the busy coroutine had work left */
    atomic_bool busy_done;
    atomic_uint yields;
    bool done;                  /* main loop */
} Turn;

static void set_done(void *opaque)
{
    ((Turn *)opaque)->done = true;
}

static int turn_timer(sd_event_source *s, uint64_t usec, void *opaque)
{
    Turn *t = opaque;

    atomic_store(&t->fired_during, !atomic_load(&t->busy_done));
    atomic_store(&t->timer_fired, true);
    return 0;
}

static void spin_us(int64_t us)
{
    int64_t end = g_get_monotonic_time() + us;

    while (g_get_monotonic_time() < end)
        ;
}

static void busy_co(void *opaque)
{
    Turn *t = opaque;

    /* Into the next iteration: its prepare arms the timer added by start_busy. */
    coroutine_yield_to_loop();
    int64_t end = g_get_monotonic_time() + (t->with_timer ? BUSY_LIMIT_US : ALONE_US);
    while (g_get_monotonic_time() < end && !atomic_load(&t->timer_fired)) {
        spin_us(20);
        if (t->yield_each || aio_loop_yield_wanted()) {
            atomic_fetch_add(&t->yields, 1);
            coroutine_yield_to_loop();
        }
    }
    atomic_store(&t->busy_done, true);
    sd_event_source_disable_unref(t->timer);
    aio_loop_call(aio_loop_main(), set_done, t);
}

/* In a dispatch of the loop under test. */
static void start_busy(void *opaque)
{
    Turn *t = opaque;

    if (t->with_timer)
        assert_int_equal(sd_event_add_time_relative(aio_loop(), &t->timer, CLOCK_MONOTONIC,
                                                    TIMER_US, 1, turn_timer, t), 0);
    coroutine_start(busy_co, t);
}

static void run_busy(AioLoop *l, Turn *t)
{
    aio_loop_call(l, start_busy, t);
    assert_int_equal(aio_run_until(&t->done), 0);
}

/* Each case runs on the main loop and on an iothread: *state is the loop. */
static int on_main(void **state)
{
    *state = aio_loop_main();
    return 0;
}

static int on_iothread(void **state)
{
    *state = aio_iothread_start("io-turn", NULL);
    return *state ? 0 : -1;
}

static int iothread_stop(void **state)
{
    aio_iothread_stop(*state);
    return 0;
}

static void test_timer_runs_between_turns(void **state)
{
    Turn t = { .with_timer = true };

    run_busy(*state, &t);
    assert_true(atomic_load(&t.timer_fired));
    assert_true(atomic_load(&t.fired_during));
    assert_true(atomic_load(&t.yields) >= 1);
}

/* Before, the yielded coroutine came back before the timer every time. */
static void test_yielder_lets_timer_run(void **state)
{
    Turn t = { .with_timer = true, .yield_each = true };

    run_busy(*state, &t);
    assert_true(atomic_load(&t.fired_during));
}

static void test_alone_goes_on(void **state)
{
    Turn t = { .with_timer = false };

    run_busy(*state, &t);
    assert_int_equal(atomic_load(&t.yields), 0);
}

#define ON_BOTH_LOOPS(test) \
    cmocka_unit_test_setup(test, on_main), \
    cmocka_unit_test_setup_teardown(test, on_iothread, iothread_stop)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_BOTH_LOOPS(test_timer_runs_between_turns),
        ON_BOTH_LOOPS(test_yielder_lets_timer_run),
        ON_BOTH_LOOPS(test_alone_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
