/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Iothreads (aio/loop.h): coroutines run on their own loop's thread, worker
 * pool completions come back to the loop that submitted, wakes cross to the
 * waiter's loop, the main loop never dispatches while an iothread does,
 * except its unlocked sources, and a long dispatch yields when the main loop waits.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "aio/worker-pool.h"

typedef struct Probe {
    AioLoop *loop;
    pthread_t loop_thread;      /* where the coroutine ran first */
    pthread_t job_thread;
    pthread_t resumed_thread;   /* where it ran after the worker's job */
    long ret;
    bool done;                  /* set on the main loop */
} Probe;

static void set_done(void *opaque)
{
    *(bool *)opaque = true;
}

static long probe_job(void *opaque)
{
    Probe *p = opaque;

    p->job_thread = pthread_self();
    return 42;
}

static void probe_co(void *opaque)
{
    Probe *p = opaque;

    p->loop_thread = pthread_self();
    p->ret = worker_pool_co_run(probe_job, p);
    p->resumed_thread = pthread_self();
    aio_loop_call(aio_loop_main(), set_done, &p->done);
}

static void start_probe(void *opaque)
{
    coroutine_start(probe_co, opaque);
}

/* Several iothreads' jobs come back to each one's own thread. */
static void test_worker_pool_returns_home(void **state)
{
    Probe probes[3] = { 0 };

    for (unsigned i = 0; i < 3; i++) {
        g_autofree char *id = g_strdup_printf("io%u", i);

        probes[i].loop = aio_iothread_start(id, NULL);
        assert_non_null(probes[i].loop);
        assert_ptr_equal(aio_iothread_find(id), probes[i].loop);
        aio_loop_call(probes[i].loop, start_probe, &probes[i]);
    }
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(aio_run_until(&probes[i].done), 0);
        assert_int_equal(probes[i].ret, 42);
        assert_false(pthread_equal(probes[i].loop_thread, pthread_self()));
        assert_false(pthread_equal(probes[i].job_thread, probes[i].loop_thread));
        assert_true(pthread_equal(probes[i].resumed_thread, probes[i].loop_thread));
    }
    for (unsigned i = 0; i < 3; i++)
        aio_iothread_stop(probes[i].loop);
    assert_int_equal(aio_iothreads()->len, 0);
    assert_int_equal(coroutine_count_alive(), 0);
}

/* The calling thread's scheduler slice in ns (sched_getattr's sched_runtime), 0 if unknown. */
static uint64_t thread_slice(void)
{
    struct {
        uint32_t size, sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime, sched_deadline, sched_period;
    } attr = { 0 };

    if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) < 0)
        return 0;
    return attr.sched_runtime;
}

typedef struct SliceProbe {
    uint64_t loop_slice, job_slice;
    bool done;
} SliceProbe;

static long slice_job(void *opaque)
{
    ((SliceProbe *)opaque)->job_slice = thread_slice();
    return 0;
}

static void slice_co(void *opaque)
{
    SliceProbe *p = opaque;

    p->loop_slice = thread_slice();
    worker_pool_co_run(slice_job, p);
    aio_loop_call(aio_loop_main(), set_done, &p->done);
}

static void start_slice_probe(void *opaque)
{
    coroutine_start(slice_co, opaque);
}

/*
 * While an iothread runs the main thread has a short slice, and it stays
 * its own: the iothread and a pool worker started afterwards run with the
 * default; without iothreads the main thread has the default again.  First
 * in the list, so that the pool has no worker yet and starts one here.
 */
static void test_threads_start_with_default_slice(void **state)
{
    uint64_t normal = thread_slice();
    SliceProbe p = { 0 };

    aio_thread_set_slice(200000);
    bool supported = normal != 0 && normal != 200000 && thread_slice() == 200000;
    aio_thread_set_slice(0);
    if (!supported)
        skip();     /* a kernel without custom slices (before 6.12) */
    AioLoop *io = aio_iothread_start("io-slice", NULL);
    assert_non_null(io);
    assert_true(thread_slice() < normal);
    aio_loop_call(io, start_slice_probe, &p);
    assert_int_equal(aio_run_until(&p.done), 0);
    aio_iothread_stop(io);
    assert_int_equal(p.loop_slice, normal);
    assert_int_equal(p.job_slice, normal);
    assert_int_equal(thread_slice(), normal);
}

/* A main-loop coroutine woken by an iothread's coroutine runs on the main thread. */
typedef struct Waiter {
    CoQueue queue;
    bool waiting;               /* the main coroutine waits */
    pthread_t resumed_thread;
    bool done;
} Waiter;

static void waiter_co(void *opaque)
{
    Waiter *w = opaque;

    w->waiting = true;
    co_queue_wait(&w->queue);
    w->resumed_thread = pthread_self();
    w->done = true;
}

static void waker_co(void *opaque)
{
    Waiter *w = opaque;

    assert_true(co_queue_wake_next(&w->queue));
}

static void start_waker(void *opaque)
{
    coroutine_start(waker_co, opaque);
}

static void test_cross_loop_wake(void **state)
{
    AioLoop *io = aio_iothread_start("io-wake", NULL);
    Waiter w = { 0 };

    co_queue_init(&w.queue);
    coroutine_start(waiter_co, &w);
    assert_true(w.waiting);
    aio_loop_call(io, start_waker, &w);
    assert_int_equal(aio_run_until(&w.done), 0);
    assert_true(pthread_equal(w.resumed_thread, pthread_self()));
    aio_iothread_stop(io);
}

/* An iothread's timer never fires while the main loop dispatches. */
typedef struct Exclusion {
    atomic_bool main_dispatching;
    atomic_uint ticks;
    atomic_uint overlaps;
    sd_event_source *timer;
    unsigned busy_runs;
    bool busy_done;
    bool done;
} Exclusion;

static int exclusion_tick(sd_event_source *s, uint64_t usec, void *opaque)
{
    Exclusion *x = opaque;

    if (atomic_load(&x->main_dispatching))
        atomic_fetch_add(&x->overlaps, 1);
    atomic_fetch_add(&x->ticks, 1);
    return sd_event_source_set_time_relative(s, 100);
}

static void start_ticks(void *opaque)
{
    Exclusion *x = opaque;

    assert_int_equal(sd_event_add_time_relative(aio_loop(), &x->timer, CLOCK_MONOTONIC, 100, 0,
                                                exclusion_tick, x), 0);
    assert_int_equal(sd_event_source_set_enabled(x->timer, SD_EVENT_ON), 0);
}

static void stop_ticks(void *opaque)
{
    Exclusion *x = opaque;

    x->timer = sd_event_source_disable_unref(x->timer);
    aio_loop_call(aio_loop_main(), set_done, &x->done);
}

static int main_busy(sd_event_source *s, uint64_t usec, void *opaque)
{
    Exclusion *x = opaque;

    atomic_store(&x->main_dispatching, true);
    usleep(20000);
    atomic_store(&x->main_dispatching, false);
    if (++x->busy_runs == 10) {
        x->busy_done = true;
        return sd_event_source_set_enabled(s, SD_EVENT_OFF);
    }
    return sd_event_source_set_time_relative(s, 1000);
}

static void test_main_excludes_iothread(void **state)
{
    AioLoop *io = aio_iothread_start("io-excl", NULL);
    sd_event_source *busy = NULL;
    Exclusion x = { 0 };

    aio_loop_call(io, start_ticks, &x);
    assert_int_equal(sd_event_add_time_relative(aio_loop(), &busy, CLOCK_MONOTONIC, 1000, 0,
                                                main_busy, &x), 0);
    assert_int_equal(sd_event_source_set_enabled(busy, SD_EVENT_ON), 0);
    assert_int_equal(aio_run_until(&x.busy_done), 0);
    sd_event_source_unref(busy);
    aio_loop_call(io, stop_ticks, &x);
    assert_int_equal(aio_run_until(&x.done), 0);
    assert_true(atomic_load(&x.ticks) > 0);
    assert_int_equal(atomic_load(&x.overlaps), 0);
    aio_iothread_stop(io);
}

/* ---- unlocked sources ---- */

#define STALL_LIMIT_MS 30000    /* a main loop that waits for the stall fails, not hangs */

typedef struct Stall {
    atomic_bool entered;        /* the iothread is in its long dispatch */
    atomic_bool answered;       /* the main loop's unlocked source ran */
    atomic_bool left;           /* the long dispatch ended */
    atomic_bool saw_yield;      /* it ended because aio_loop_yield_wanted() said so */
    bool answered_during;       /* main loop: the unlocked source ran while it lasted */
    bool acquired_after;        /* main loop: aio_loop_acquire() returned after it ended */
    bool done;
    AioLoop *io;
} Stall;

/* On the iothread: one dispatch that lasts until the main loop answers (or asks for the lock). */
static void stall_dispatch(void *opaque)
{
    Stall *st = opaque;

    atomic_store(&st->entered, true);
    for (int i = 0; i < STALL_LIMIT_MS && !atomic_load(&st->answered); i++) {
        if (aio_loop_yield_wanted()) {
            atomic_store(&st->saw_yield, true);
            break;
        }
        usleep(1000);
    }
    atomic_store(&st->left, true);
}

static void wait_entered(Stall *st)
{
    for (int i = 0; i < STALL_LIMIT_MS && !atomic_load(&st->entered); i++)
        usleep(1000);
    assert_true(atomic_load(&st->entered));
}

static int unlocked_run(sd_event_source *s, void *opaque)
{
    Stall *st = opaque;

    st->answered_during = !atomic_load(&st->left);
    atomic_store(&st->answered, true);
    aio_loop_acquire(st->io);   /* waits for the end of the long dispatch */
    st->acquired_after = atomic_load(&st->left);
    st->done = true;
    return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

/* An unlocked source runs while an iothread dispatches; aio_loop_acquire waits for it. */
static void test_unlocked_source_runs_during_dispatch(void **state)
{
    Stall st = { .io = aio_iothread_start("io-unl", NULL) };
    sd_event_source *s = NULL;

    aio_loop_call(st.io, stall_dispatch, &st);
    wait_entered(&st);
    assert_int_equal(sd_event_add_defer(aio_loop(), &s, unlocked_run, &st), 0);
    assert_int_equal(aio_main_add_unlocked(s), 0);
    assert_int_equal(aio_run_until(&st.done), 0);
    assert_true(st.answered_during);
    assert_true(st.acquired_after);
    assert_false(atomic_load(&st.saw_yield));
    aio_main_remove_unlocked(s);
    sd_event_source_unref(s);
    aio_iothread_stop(st.io);
}

static int locked_run(sd_event_source *s, void *opaque)
{
    Stall *st = opaque;

    st->acquired_after = atomic_load(&st->left);
    st->done = true;
    return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

/* A source of the main loop that is not unlocked waits; the iothread hears that it should yield. */
static void test_locked_source_asks_iothread_to_yield(void **state)
{
    Stall st = { .io = aio_iothread_start("io-yield", NULL) };
    sd_event_source *s = NULL;

    aio_loop_call(st.io, stall_dispatch, &st);
    wait_entered(&st);
    assert_int_equal(sd_event_add_defer(aio_loop(), &s, locked_run, &st), 0);
    assert_int_equal(aio_run_until(&st.done), 0);
    assert_true(st.acquired_after);
    assert_true(atomic_load(&st.saw_yield));
    assert_false(atomic_load(&st.answered));
    sd_event_source_unref(s);
    aio_iothread_stop(st.io);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_start_with_default_slice),
        cmocka_unit_test(test_worker_pool_returns_home),
        cmocka_unit_test(test_cross_loop_wake),
        cmocka_unit_test(test_main_excludes_iothread),
        cmocka_unit_test(test_unlocked_source_runs_during_dispatch),
        cmocka_unit_test(test_locked_source_asks_iothread_to_yield),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);

    worker_pool_shutdown();
    aio_loop_shutdown();
    return r;
}
