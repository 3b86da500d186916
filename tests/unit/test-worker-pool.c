/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The worker pool: many jobs in flight, results delivered, any resume order. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <cmocka.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "aio/worker-pool.h"

typedef struct Batch Batch;

typedef struct Task {
    Batch *batch;
    unsigned index;
    long result;
    pthread_t thread;
} Task;

struct Batch {
    unsigned n;
    unsigned finished;          /* main thread */
    bool done;
    unsigned order[256];        /* resume order, main thread */
    bool reverse;               /* jobs finish in reverse order of submission */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned started;
    unsigned running;
    unsigned max_running;
    unsigned turn;              /* reverse mode: index allowed to finish */
};

static long task_job(void *opaque)
{
    Task *t = opaque;
    Batch *b = t->batch;

    t->thread = pthread_self();
    pthread_mutex_lock(&b->lock);
    b->started++;
    b->running++;
    if (b->running > b->max_running)
        b->max_running = b->running;
    pthread_cond_broadcast(&b->cond);
    /* Reverse mode: once everyone runs, finish after the next index was resumed. */
    while (b->reverse && (b->started < b->n || b->turn != t->index))
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);

    if (!b->reverse)
        usleep(200 + (t->index * 7919) % 500);

    pthread_mutex_lock(&b->lock);
    b->running--;
    pthread_mutex_unlock(&b->lock);
    return (long)t->index * 3 + 1;
}

static void task_co(void *opaque)
{
    Task *t = opaque;
    Batch *b = t->batch;

    assert_true(coroutine_in_coroutine());
    t->result = worker_pool_co_run(task_job, t);
    b->order[b->finished++] = t->index;
    pthread_mutex_lock(&b->lock);
    if (b->turn > 0)
        b->turn--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (b->finished == b->n)
        b->done = true;
}

static void run_batch(Batch *b, Task *tasks, unsigned n, bool reverse)
{
    *b = (Batch){ .n = n, .reverse = reverse, .turn = n - 1 };
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    for (unsigned i = 0; i < n; i++) {
        tasks[i] = (Task){ .batch = b, .index = i, .result = -1 };
        coroutine_start(task_co, &tasks[i]);
    }
    assert_int_equal(aio_run_until(&b->done), 0);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
}

static void test_many_jobs_in_flight(void **state)
{
    static Task tasks[256];
    Batch b;
    bool seen[256] = { false };

    run_batch(&b, tasks, 256, false);
    assert_int_equal(b.finished, 256);
    for (unsigned i = 0; i < 256; i++) {
        assert_int_equal(tasks[i].result, (long)i * 3 + 1);
        assert_false(seen[b.order[i]]);
        seen[b.order[i]] = true;
    }
    /* Queue depth 256 on a pool of threads: several ran at once. */
    assert_true(b.max_running > 1);
    assert_int_equal(coroutine_count_alive(), 0);
}

static void test_resume_in_completion_order(void **state)
{
    static Task tasks[8];
    Batch b;

    /*
     * Each job blocks until all eight run: more than the threads created
     * for jobs that do not sleep, so this also checks that a stalled queue
     * gets more threads.
     */
    run_batch(&b, tasks, 8, true);
    /* All eight ran at the same time, and were resumed last-first. */
    assert_int_equal(b.max_running, 8);
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(b.order[i], 7 - i);
        assert_int_equal(tasks[i].result, (long)i * 3 + 1);
        assert_false(pthread_equal(tasks[i].thread, pthread_self()));
    }
}

static long negative_job(void *opaque)
{
    return -(long)(intptr_t)opaque;
}

static void error_co(void *opaque)
{
    long *ret = opaque;

    *ret = worker_pool_co_run(negative_job, (void *)(intptr_t)5);
}

static void test_error_result(void **state)
{
    long ret = 0;

    aio_run_coroutine(error_co, &ret);
    assert_int_equal(ret, -5);
}

static void test_outside_coroutine_runs_inline(void **state)
{
    assert_int_equal(worker_pool_co_run(negative_job, (void *)(intptr_t)7), -7);
}

static void test_shutdown_and_restart(void **state)
{
    static Task tasks[40];
    Batch b;

    run_batch(&b, tasks, 40, false);
    worker_pool_shutdown();
    worker_pool_shutdown();     /* twice is harmless */
    /* The pool comes back on the next job. */
    run_batch(&b, tasks, 40, false);
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(tasks[i].result, (long)i * 3 + 1);
}

/* ---- calls that can be abandoned ---- */

typedef struct Blocker {
    int pipe[2];                /* the job blocks reading [0] */
    long result;
    bool *released;             /* set by release on the loop thread */
    bool started;               /* set by the worker thread (atomic) */
} Blocker;

static long blocker_job(void *opaque)
{
    Blocker *b = opaque;
    char c;

    __atomic_store_n(&b->started, true, __ATOMIC_RELEASE);
    return read(b->pipe[0], &c, 1) == 1 ? c : -EIO;
}

static void blocker_release(void *opaque)
{
    Blocker *b = opaque;

    *b->released = true;
    close(b->pipe[0]);
    close(b->pipe[1]);
    g_free(b);
}

/*
 * Waits until a thread runs the job: one abandoned while still queued is
 * cancelled instead, which a loaded machine would otherwise make happen.
 */
static void blocker_wait_started(Blocker *b)
{
    for (int i = 0; i < 60000 && !__atomic_load_n(&b->started, __ATOMIC_ACQUIRE); i++)
        g_usleep(1000);
    assert_true(__atomic_load_n(&b->started, __ATOMIC_ACQUIRE));
}

static Blocker *blocker_new(bool *released)
{
    Blocker *b = g_new0(Blocker, 1);

    assert_int_equal(pipe(b->pipe), 0);
    b->released = released;
    return b;
}

typedef struct Waiter {
    Blocker *job;               /* NULL once the pool took it */
    uint64_t timeout_us;
    long ret;
    bool done;
} Waiter;

static void waiter_co(void *opaque)
{
    Waiter *w = opaque;

    w->ret = worker_pool_co_run_abandonable(blocker_job, (void **)&w->job, blocker_release,
                                            w->timeout_us);
    w->done = true;
}

static void test_abandonable_in_time(void **state)
{
    bool released = false;
    Waiter w = { .timeout_us = 10 * G_USEC_PER_SEC };

    w.job = blocker_new(&released);
    assert_int_equal(write(w.job->pipe[1], "x", 1), 1);
    coroutine_start(waiter_co, &w);
    assert_int_equal(aio_run_until(&w.done), 0);
    assert_int_equal(w.ret, 'x');
    assert_non_null(w.job);             /* the caller keeps its job */
    assert_false(released);
    blocker_release(w.job);
}

/* A call that hangs: the waiter goes on, the job is released once it returns. */
static void test_abandonable_timeout(void **state)
{
    bool released = false;
    /* Long enough for a thread to take the call: one abandoned while queued is cancelled. */
    Waiter w = { .timeout_us = G_USEC_PER_SEC };
    int wfd;

    w.job = blocker_new(&released);
    wfd = w.job->pipe[1];
    coroutine_start(waiter_co, &w);
    blocker_wait_started(w.job);
    assert_int_equal(aio_run_until(&w.done), 0);
    assert_int_equal(w.ret, -ETIMEDOUT);
    assert_null(w.job);
    assert_false(released);
    assert_int_equal(write(wfd, "y", 1), 1);    /* the hung call returns at last */
    assert_int_equal(aio_run_until(&released), 0);
}

static void abandon_co(void *opaque)
{
    worker_pool_abandon_all();
}

static void test_abandon_all(void **state)
{
    bool released[2] = { false, false };
    Waiter w[2] = { { .timeout_us = 60 * G_USEC_PER_SEC }, { .timeout_us = 60 * G_USEC_PER_SEC } };
    int wfd[2];

    for (int i = 0; i < 2; i++) {
        w[i].job = blocker_new(&released[i]);
        wfd[i] = w[i].job->pipe[1];
        coroutine_start(waiter_co, &w[i]);
        blocker_wait_started(w[i].job);
    }
    aio_run_coroutine(abandon_co, NULL);
    for (int i = 0; i < 2; i++) {
        assert_true(w[i].done);
        assert_int_equal(w[i].ret, -ECANCELED);
        assert_null(w[i].job);
        assert_int_equal(write(wfd[i], "z", 1), 1);
        assert_int_equal(aio_run_until(&released[i]), 0);
    }
}

typedef struct BusyRun {
    Blocker *job;
    bool done;
} BusyRun;

static void busy_co(void *opaque)
{
    BusyRun *r = opaque;

    worker_pool_co_run(blocker_job, r->job);
    r->done = true;
}

/* Waits up to a minute for worker_pool_busy() to say `want`. */
static bool busy_becomes(bool want)
{
    for (int i = 0; i < 60000 && worker_pool_busy() != want; i++)
        g_usleep(1000);
    return worker_pool_busy() == want;
}

/* Busy while the threads kept for quick jobs (at most 8) all run one with the next queued, not after. */
static void test_busy(void **state)
{
    enum { N = 16 };
    BusyRun runs[N];
    bool released = false;

    assert_true(busy_becomes(false));
    for (int i = 0; i < N; i++) {
        runs[i] = (BusyRun){ .job = blocker_new(&released) };
        coroutine_start(busy_co, &runs[i]);
    }
    blocker_wait_started(runs[0].job);
    assert_true(worker_pool_busy());
    for (int i = 0; i < N; i++) {
        assert_int_equal(write(runs[i].job->pipe[1], "b", 1), 1);
        assert_int_equal(aio_run_until(&runs[i].done), 0);
        blocker_release(runs[i].job);
    }
    assert_true(busy_becomes(false));
}

typedef struct Detached {
    pthread_t thread;
    unsigned delay_us;
    atomic_bool ran;
} Detached;

static long detached_job(void *opaque)
{
    Detached *d = opaque;

    usleep(d->delay_us);
    d->thread = pthread_self();
    atomic_store(&d->ran, true);
    return 0;
}

/* A detached job runs on a worker, and shutdown waits for the ones still queued or running. */
static void test_detached(void **state)
{
    enum { N = 20 };
    static Detached d[N];

    for (int i = 0; i < N; i++) {
        d[i] = (Detached){ .delay_us = 20000 };
        worker_pool_run_detached(detached_job, &d[i]);
    }
    worker_pool_shutdown();
    for (int i = 0; i < N; i++) {
        assert_true(atomic_load(&d[i].ran));
        assert_false(pthread_equal(d[i].thread, pthread_self()));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while no job has slept yet: the stall timer must add threads. */
        cmocka_unit_test(test_resume_in_completion_order),
        cmocka_unit_test(test_many_jobs_in_flight),
        cmocka_unit_test(test_error_result),
        cmocka_unit_test(test_outside_coroutine_runs_inline),
        cmocka_unit_test(test_shutdown_and_restart),
        cmocka_unit_test(test_abandonable_in_time),
        cmocka_unit_test(test_abandonable_timeout),
        cmocka_unit_test(test_abandon_all),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_detached),
    };
    int ret = cmocka_run_group_tests(tests, NULL, NULL);

    worker_pool_shutdown();
    aio_loop_shutdown();
    return ret;
}
