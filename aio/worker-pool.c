/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The worker pool: threads for blocking system calls.
 *
 * A coroutine hands a job to the pool and yields.  The job lives on the
 * coroutine's stack (it cannot go away while the coroutine waits), so a
 * request costs no allocation.  Workers take jobs from a FIFO, run them and
 * append them to a completion list; the worker that makes that list
 * non-empty writes the pool's one eventfd.  The main loop's handler for that
 * eventfd takes the whole list at once and enters each job's coroutine.
 *
 * Threads are created lazily, when a job is queued and no thread is idle,
 * up to WORKER_POOL_MAX_THREADS.  Idle threads stay (blocked on a condition
 * variable, they cost a stack and nothing else) until worker_pool_shutdown(),
 * which lets them finish the queued jobs and joins them.  Workers block all
 * signals so that signal sources of the main loop keep working.
 */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "aio/loop.h"
#include "aio/worker-pool.h"

#define WORKER_POOL_MAX_THREADS 16

typedef struct WorkerJob {
    WorkerFunc *fn;
    void *opaque;
    long ret;
    Coroutine *co;
    bool done;                  /* main thread only */
    struct WorkerJob *next;
} WorkerJob;

typedef struct WorkerPool {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* a job was queued, or stopping */
    WorkerJob *queue_head;      /* jobs to run, FIFO */
    WorkerJob **queue_tail;
    WorkerJob *done_head;       /* finished jobs, FIFO */
    WorkerJob **done_tail;
    unsigned queued;
    unsigned idle;
    unsigned n_threads;
    bool stopping;
    pthread_t threads[WORKER_POOL_MAX_THREADS];

    /* Main thread only. */
    bool initialized;
    int efd;
    sd_event_source *source;
} WorkerPool;

static WorkerPool pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .efd = -1,
};

static WorkerJob *worker_take_job(void)
{
    WorkerJob *job;

    while (!pool.queue_head && !pool.stopping) {
        pool.idle++;
        pthread_cond_wait(&pool.cond, &pool.lock);
        pool.idle--;
    }
    job = pool.queue_head;
    if (job) {
        pool.queue_head = job->next;
        if (!pool.queue_head)
            pool.queue_tail = &pool.queue_head;
        pool.queued--;
    }
    return job;
}

static void worker_finish_job(WorkerJob *job)
{
    bool was_empty = !pool.done_head;
    uint64_t one = 1;

    job->next = NULL;
    *pool.done_tail = job;
    pool.done_tail = &job->next;
    if (was_empty) {
        /* The eventfd counter cannot overflow here; EINTR is not possible. */
        ssize_t n = write(pool.efd, &one, sizeof(one));
        (void)n;
    }
}

static void *worker_thread(void *arg)
{
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        WorkerJob *job = worker_take_job();

        if (!job)
            break;  /* stopping and nothing left */
        pthread_mutex_unlock(&pool.lock);
        job->ret = job->fn(job->opaque);
        pthread_mutex_lock(&pool.lock);
        worker_finish_job(job);
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Main thread: delivers every finished job to its coroutine. */
static int worker_pool_on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    uint64_t count;
    WorkerJob *job;

    if (read(pool.efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return 0;

    pthread_mutex_lock(&pool.lock);
    job = pool.done_head;
    pool.done_head = NULL;
    pool.done_tail = &pool.done_head;
    pthread_mutex_unlock(&pool.lock);

    while (job) {
        WorkerJob *next = job->next;   /* job dies once its coroutine runs on */

        job->done = true;
        coroutine_enter(job->co);
        job = next;
    }
    return 0;
}

static int worker_pool_init(void)
{
    int r;

    if (pool.initialized)
        return 0;
    pool.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pool.efd < 0)
        return -errno;
    r = sd_event_add_io(aio_loop(), &pool.source, pool.efd, EPOLLIN,
                        worker_pool_on_event, NULL);
    if (r < 0) {
        close(pool.efd);
        pool.efd = -1;
        return r;
    }
    (void)sd_event_source_set_description(pool.source, "worker-pool");
    pool.queue_head = NULL;
    pool.queue_tail = &pool.queue_head;
    pool.done_head = NULL;
    pool.done_tail = &pool.done_head;
    pool.stopping = false;
    pool.initialized = true;
    return 0;
}

/* Called with the lock held. */
static void worker_pool_spawn_locked(void)
{
    sigset_t all, old;
    pthread_attr_t attr;

    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&pool.threads[pool.n_threads], &attr, worker_thread, NULL) == 0)
        pool.n_threads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

static bool worker_pool_queue(WorkerJob *job)
{
    pthread_mutex_lock(&pool.lock);
    job->next = NULL;
    *pool.queue_tail = job;
    pool.queue_tail = &job->next;
    pool.queued++;
    if (pool.idle < pool.queued && pool.n_threads < WORKER_POOL_MAX_THREADS)
        worker_pool_spawn_locked();
    if (pool.n_threads == 0) {
        /* Could not create any thread: take the job back. */
        pool.queue_head = NULL;
        pool.queue_tail = &pool.queue_head;
        pool.queued = 0;
        pthread_mutex_unlock(&pool.lock);
        return false;
    }
    if (pool.idle > 0)
        pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    return true;
}

long coroutine_fn worker_pool_co_run(WorkerFunc *fn, void *opaque)
{
    WorkerJob job = {
        .fn = fn,
        .opaque = opaque,
        .co = coroutine_self(),
    };

    /* Outside a coroutine (or without a loop) there is nothing to yield to. */
    if (!job.co || worker_pool_init() < 0 || !worker_pool_queue(&job))
        return fn(opaque);

    while (!job.done)
        coroutine_yield();
    return job.ret;
}

void worker_pool_shutdown(void)
{
    if (!pool.initialized)
        return;

    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    for (unsigned i = 0; i < pool.n_threads; i++)
        pthread_join(pool.threads[i], NULL);
    pool.n_threads = 0;

    /* Jobs that finished after the last dispatch still have waiters. */
    worker_pool_on_event(pool.source, pool.efd, EPOLLIN, NULL);

    pool.source = sd_event_source_disable_unref(pool.source);
    close(pool.efd);
    pool.efd = -1;
    pool.initialized = false;
}
