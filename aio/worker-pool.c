/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The worker pool: threads for blocking system calls.
 *
 * A coroutine hands a job to the pool and yields.  The job lives on the
 * coroutine's stack (it cannot go away while the coroutine waits), so a
 * request costs no allocation.  Workers take jobs from a FIFO under a mutex,
 * run them and push them on the lock-free completion stack of the loop that
 * submitted them (each event loop has its own, with its eventfd); the worker
 * that makes that stack non-empty writes the eventfd.  The loop's handler
 * for that eventfd takes the whole stack with one atomic exchange and enters
 * each job's coroutine, oldest first.  Calls that can be abandoned (opens)
 * are the main loop's only; on an iothread they are plain calls.
 *
 * How many threads run.  Jobs that do not sleep (page cache, tmpfs) are
 * pure CPU work: on a small machine the loop thread and the client need
 * the CPUs, and many workers only wake each other, so a worker that
 * finishes a job takes the next without sleeping, and a sleeping worker
 * is woken (or a new one created) only when more jobs wait than workers
 * are awake, and only up to a few threads (CPUs / 2 - 1, at least one,
 * or one per iothread that submits jobs; at most the CPUs).
 * Jobs that sleep for a while (a disk read, dirty page throttling, fsync)
 * are noticed by the worker through its voluntary context switch count
 * (getrusage); for WORKER_POOL_BLOCKING_US after that, every waiting job
 * gets a thread, up to WORKER_POOL_MAX_THREADS, as in QEMU's pool.  A
 * thread stuck in an abandoned call does not count: the pool grows past it,
 * and at most WORKER_POOL_MAX_ABANDONED calls are abandoned at once (more
 * are refused), so that stuck calls cannot leave I/O without threads.  (The
 * price: a fast SSD whose reads miss the page cache in under 50 us gets
 * the few threads only; aio=native suits it better anyway.)  A job that never finishes
 * (a hung NFS server) is caught by a timer on the loop: jobs wait and none
 * has finished for WORKER_POOL_STALL_US.
 *
 * Idle threads stay (blocked on a condition variable they cost a stack and
 * nothing else) until worker_pool_shutdown(), which lets them finish the
 * queued jobs and joins them.  Workers block all signals so that the
 * loop's signal sources work.
 */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "aio/loop.h"
#include "aio/worker-pool.h"

#define WORKER_POOL_MAX_THREADS 64
/* Threads stuck in abandoned calls come on top (they serve nobody). */
#define WORKER_POOL_THREAD_SLOTS (WORKER_POOL_MAX_THREADS + WORKER_POOL_MAX_ABANDONED)
#define WORKER_POOL_STALL_US    50000   /* no job finished for this long: add threads */
#define WORKER_POOL_BLOCKING_US 500000  /* a job slept: grow freely for this long */
#define WORKER_POOL_SLOW_JOB_US 50      /* shorter jobs never count as sleeping */

typedef struct PoolReturn PoolReturn;

typedef struct WorkerJob {
    WorkerFunc *fn;
    void *opaque;
    long ret;
    Coroutine *co;
    PoolReturn *home;           /* the submitting loop's way back */
    bool done;                  /* the submitting loop only */
    /* Main thread, instead of entering co (abandonable calls). */
    void (*complete)(struct WorkerJob *job);
    bool detached;              /* nobody waits: the worker frees the job */
    struct WorkerJob *next;
} WorkerJob;

typedef enum CallState {
    CALL_WAITING,
    CALL_DONE,
    CALL_ABANDONED,             /* running in a thread; the pool releases it */
    CALL_CANCELLED,             /* abandoned before a thread took it: released */
} CallState;

/* A call the caller may stop waiting for; on the heap, it outlives the caller. */
typedef struct AbandonableCall {
    WorkerJob job;              /* first: the pool hands back &call->job */
    GDestroyNotify release;     /* frees job.opaque once abandoned */
    CallState state;
    long ret;                   /* for the waiter */
    sd_event_source *timer;
    GList link;                 /* in pool.waiting while CALL_WAITING */
} AbandonableCall;

typedef struct WorkerPool {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* a job was queued, or stopping */
    WorkerJob *queue_head;      /* jobs to run, FIFO */
    WorkerJob **queue_tail;
    unsigned queued;
    unsigned idle;              /* threads in pthread_cond_wait */
    unsigned running;           /* threads running a job */
    unsigned wakeups;           /* of those, signalled but not yet running */
    unsigned n_threads;
    unsigned cpus;
    unsigned iothread_loops;    /* iothreads that submitted jobs and still run */
    bool stopping;
    pthread_t threads[WORKER_POOL_THREAD_SLOTS];

    bool initialized;
    unsigned abandoned;         /* abandoned calls still running in a thread */

    atomic_uint finished;       /* jobs finished so far, for stall detection */
    _Atomic uint64_t slept_us;  /* when a job last slept (coarse_now_us) */

    /* Main thread only. */
    GQueue waiting;             /* AbandonableCall: waiters not yet answered */
} WorkerPool;

static WorkerPool pool = {
    .lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP,  /* spins briefly: sections are short */
    .cond = PTHREAD_COND_INITIALIZER,
};

/* An event loop's completions: one per loop, in a thread-local variable. */
struct PoolReturn {
    WorkerJob *_Atomic done;    /* finished jobs, LIFO, lock-free */
    bool initialized;
    int efd;
    sd_event_source *source;
    sd_event_source *stall_timer;
    unsigned stall_mark;        /* `finished` when the timer was armed */
    atomic_uint notifying;      /* workers between publishing a job and the eventfd write */
};

static __thread PoolReturn loop_return = { .efd = -1 };

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The cheap clock (no TSC read, millisecond steps) for the per-job check. */
static uint64_t coarse_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- worker threads ---- */

/* Returns the next job, or NULL when stopping; *slept: waited for one. */
static WorkerJob *worker_take_job(bool *slept)
{
    WorkerJob *job;

    *slept = false;
    while (!pool.queue_head && !pool.stopping) {
        pool.idle++;
        pthread_cond_wait(&pool.cond, &pool.lock);
        pool.idle--;
        if (pool.wakeups > 0)
            pool.wakeups--;
        *slept = true;
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

/* Lock-free push; the first job on an empty stack signals the loop. */
static void worker_finish_job(WorkerJob *job)
{
    PoolReturn *home = job->home;
    WorkerJob *head = atomic_load_explicit(&home->done, memory_order_relaxed);
    uint64_t one = 1;

    /*
     * Once the job is published its loop may take it, finish and end (an
     * iothread): its teardown waits for `notifying` before it closes the
     * eventfd, so the write never hits a closed or reused descriptor.
     */
    atomic_fetch_add_explicit(&home->notifying, 1, memory_order_relaxed);
    do {
        job->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&home->done, &head, job,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    if (!head) {
        /* The eventfd counter cannot overflow here; EINTR is not possible. */
        ssize_t n = write(home->efd, &one, sizeof(one));
        (void)n;
    }
    atomic_fetch_sub_explicit(&home->notifying, 1, memory_order_release);
}

static long thread_voluntary_switches(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : 0;
}

/*
 * Runs one job and notes when it slept (blocked on I/O): it took at least
 * WORKER_POOL_SLOW_JOB_US and the thread's voluntary context switches went
 * up.  Short jobs cost no extra system call, and the short waits of
 * workers for each other in the kernel (tmpfs writers share an inode lock)
 * do not count; *switches is the count as of the last check.
 */
static void worker_run_job(WorkerJob *job, long *switches)
{
    uint64_t start = now_us();

    job->ret = job->fn(job->opaque);
    if (now_us() - start >= WORKER_POOL_SLOW_JOB_US) {
        long n = thread_voluntary_switches();

        if (n != *switches)
            atomic_store_explicit(&pool.slept_us, coarse_now_us(), memory_order_relaxed);
        *switches = n;
    }
    atomic_fetch_add_explicit(&pool.finished, 1, memory_order_relaxed);
}

static void *worker_thread(void *arg)
{
    long switches = thread_voluntary_switches();
    bool slept;

    /* Not the name of the thread that happened to create it (an iothread's). */
    pthread_setname_np(pthread_self(), "worker");
    aio_thread_set_slice(0);    /* nor its slice (the main thread's is short) */
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        WorkerJob *job = worker_take_job(&slept);

        if (!job)
            break;  /* stopping and nothing left */
        pool.running++;
        pthread_mutex_unlock(&pool.lock);
        if (slept)
            switches = thread_voluntary_switches();     /* not the job's sleep */
        worker_run_job(job, &switches);
        if (job->detached)
            g_free(job);
        else
            worker_finish_job(job);
        pthread_mutex_lock(&pool.lock);
        pool.running--;
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* ---- thread supply (lock held) ---- */

static bool worker_pool_spawn_locked(void)
{
    sigset_t all, old;
    pthread_attr_t attr;
    bool ok;

    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ok = pthread_create(&pool.threads[pool.n_threads], &attr, worker_thread, NULL) == 0;
    if (ok)
        pool.n_threads++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return ok;
}

/*
 * Threads that are running or about to run and will look at the queue; a
 * thread stuck in an abandoned call will not (it may never return).
 */
static unsigned worker_pool_awake_locked(void)
{
    unsigned awake = pool.n_threads - (pool.idle - pool.wakeups);

    return awake > pool.abandoned ? awake - pool.abandoned : 0;
}

/*
 * Puts up to `want` more threads on the queue: sleepers first, then new
 * ones, up to limit threads that serve the queue (stuck ones not counted).
 */
static void worker_pool_provide_locked(unsigned want, unsigned limit)
{
    for (; want > 0 && pool.idle > pool.wakeups; want--) {
        pool.wakeups++;
        pthread_cond_signal(&pool.cond);
    }
    limit = MIN(limit + pool.abandoned, WORKER_POOL_THREAD_SLOTS);
    for (; want > 0 && pool.n_threads < limit; want--) {
        if (!worker_pool_spawn_locked())
            break;
    }
}

/*
 * Enough threads for jobs that do not sleep: CPUs / 2 - 1 (the loop and
 * the client need the others), but one per iothread that submits, so that
 * each iothread's large copies run beside it (4 clients on 2 iothreads
 * waited for a single worker), never more than the CPUs.
 */
static unsigned worker_pool_eager_locked(void)
{
    unsigned want = MAX(pool.cpus / 2, 1) - 1;

    want = MAX(want, pool.iothread_loops);
    return CLAMP(want, 1, MIN(MAX(pool.cpus, 1), 8));
}

/* Jobs that no awake thread is about to take. */
static unsigned worker_pool_unserved_locked(void)
{
    unsigned awake = worker_pool_awake_locked();

    return pool.queued > awake ? pool.queued - awake : 0;
}

/* ---- loop side (each loop its own PoolReturn) ---- */

/* Delivers every finished job to its coroutine. */
static int worker_pool_on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    WorkerJob *job, *fifo = NULL;

    /*
     * The eventfd is watched edge-triggered and never read: every write is
     * a new edge, and the counter cannot overflow in practice (2^64 writes).
     */
    job = atomic_exchange_explicit(&loop_return.done, NULL, memory_order_acquire);
    while (job) {               /* newest first: reverse into completion order */
        WorkerJob *next = job->next;

        job->next = fifo;
        fifo = job;
        job = next;
    }
    while (fifo) {
        WorkerJob *next = fifo->next;   /* fifo dies once its coroutine runs on */

        if (fifo->complete) {
            fifo->complete(fifo);
        } else {
            fifo->done = true;
            coroutine_enter(fifo->co);
        }
        fifo = next;
    }
    return 0;
}

static void worker_pool_arm_stall_timer(void)
{
    PoolReturn *lr = &loop_return;

    lr->stall_mark = atomic_load_explicit(&pool.finished, memory_order_relaxed);
    (void)sd_event_source_set_time(lr->stall_timer, now_us() + WORKER_POOL_STALL_US);
    (void)sd_event_source_set_enabled(lr->stall_timer, SD_EVENT_ONESHOT);
}

/* Jobs wait and none finished for a while: the threads are blocked, add some. */
static int worker_pool_on_stall(sd_event_source *s, uint64_t usec, void *userdata)
{
    bool stalled = atomic_load_explicit(&pool.finished, memory_order_relaxed) ==
                   loop_return.stall_mark;
    bool waiting;

    pthread_mutex_lock(&pool.lock);
    if (stalled && pool.queued > 0)
        worker_pool_provide_locked(pool.queued, WORKER_POOL_MAX_THREADS);
    waiting = pool.queued > 0;
    pthread_mutex_unlock(&pool.lock);

    if (waiting)
        worker_pool_arm_stall_timer();
    return 0;
}

static void loop_return_teardown(PoolReturn *lr)
{
    /* A worker that published our last job may not have written the eventfd yet. */
    while (atomic_load_explicit(&lr->notifying, memory_order_acquire))
        sched_yield();
    lr->source = sd_event_source_disable_unref(lr->source);
    lr->stall_timer = sd_event_source_disable_unref(lr->stall_timer);
    if (lr->efd >= 0)
        close(lr->efd);
    lr->efd = -1;
    lr->initialized = false;
}

/* An iothread ends: nothing of it is in the pool any more. */
static void loop_return_exit(void *opaque)
{
    worker_pool_on_event(NULL, -1, 0, NULL);
    loop_return_teardown(&loop_return);
    pthread_mutex_lock(&pool.lock);
    pool.iothread_loops--;
    pthread_mutex_unlock(&pool.lock);
}

static int loop_return_init(void)
{
    PoolReturn *lr = &loop_return;
    int r;

    if (lr->initialized)
        return 0;
    lr->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (lr->efd < 0)
        return -errno;
    r = sd_event_add_io(aio_loop(), &lr->source, lr->efd, EPOLLIN | EPOLLET,
                        worker_pool_on_event, NULL);
    if (r >= 0)
        r = sd_event_add_time(aio_loop(), &lr->stall_timer, CLOCK_MONOTONIC, 0, 100,
                              worker_pool_on_stall, NULL);
    if (r >= 0)
        r = sd_event_source_set_enabled(lr->stall_timer, SD_EVENT_OFF);
    if (r < 0) {
        loop_return_teardown(lr);
        return r;
    }
    (void)sd_event_source_set_description(lr->source, "worker-pool");
    (void)sd_event_source_set_description(lr->stall_timer, "worker-pool-stall");
    atomic_store(&lr->done, NULL);
    lr->initialized = true;
    if (!aio_loop_is_main(aio_loop_self())) {
        pthread_mutex_lock(&pool.lock);
        pool.iothread_loops++;
        pthread_mutex_unlock(&pool.lock);
        aio_loop_at_exit(loop_return_exit, NULL);
    }
    return 0;
}

static int worker_pool_init(void)
{
    int r = loop_return_init();

    if (r < 0)
        return r;
    pthread_mutex_lock(&pool.lock);
    if (!pool.initialized) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        pool.queue_head = NULL;
        pool.queue_tail = &pool.queue_head;
        pool.cpus = (unsigned)CLAMP(cpus, 1, 1024);
        pool.stopping = false;
        pool.initialized = true;
    }
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

static bool worker_pool_queue(WorkerJob *job)
{
    uint64_t slept = atomic_load_explicit(&pool.slept_us, memory_order_relaxed);
    bool sleeping_jobs = slept && coarse_now_us() - slept < WORKER_POOL_BLOCKING_US;
    bool stalled_possible;
    int enabled = SD_EVENT_OFF;

    job->next = NULL;
    pthread_mutex_lock(&pool.lock);
    *pool.queue_tail = job;
    pool.queue_tail = &job->next;
    pool.queued++;
    if (sleeping_jobs) {
        /* Awake workers are probably asleep in their jobs: one thread per job. */
        if (pool.queued > pool.wakeups)
            worker_pool_provide_locked(1, WORKER_POOL_MAX_THREADS);
    } else if (worker_pool_unserved_locked() > 0 &&
               worker_pool_awake_locked() < worker_pool_eager_locked()) {
        /* Threads left from a sleeping spell stay asleep: few awake ones are best. */
        worker_pool_provide_locked(1, worker_pool_eager_locked());
    }
    if (pool.n_threads == 0) {
        /* Could not create any thread: take the job back. */
        pool.queue_head = NULL;
        pool.queue_tail = &pool.queue_head;
        pool.queued = 0;
        pthread_mutex_unlock(&pool.lock);
        return false;
    }
    /* Awake threads may be stuck in their jobs: the timer checks later. */
    stalled_possible = pool.queued > 0;
    pthread_mutex_unlock(&pool.lock);

    if (stalled_possible &&
        sd_event_source_get_enabled(loop_return.stall_timer, &enabled) >= 0 &&
        enabled == SD_EVENT_OFF)
        worker_pool_arm_stall_timer();
    return true;
}

bool worker_pool_busy(void)
{
    bool busy;

    pthread_mutex_lock(&pool.lock);
    busy = pool.initialized && pool.running + pool.queued >= 2 * worker_pool_eager_locked();
    pthread_mutex_unlock(&pool.lock);
    return busy;
}

static bool pool_inline;     /* worker_pool_set_inline */

void worker_pool_set_inline(bool run_inline)
{
    pool_inline = run_inline;
}

long coroutine_fn worker_pool_co_run(WorkerFunc *fn, void *opaque)
{
    WorkerJob job = {
        .fn = fn,
        .opaque = opaque,
        .co = coroutine_self(),
        .home = &loop_return,
    };

    /* Outside a coroutine (or without a loop) there is nothing to yield to. */
    if (pool_inline || !job.co || worker_pool_init() < 0 || !worker_pool_queue(&job))
        return fn(opaque);

    while (!job.done)
        coroutine_yield();
    return job.ret;
}

void worker_pool_run_detached(WorkerFunc *fn, void *opaque)
{
    WorkerJob *job = g_new0(WorkerJob, 1);

    job->fn = fn;
    job->opaque = opaque;
    job->detached = true;
    if (pool_inline || worker_pool_init() < 0 || !worker_pool_queue(job)) {
        fn(opaque);
        g_free(job);
    }
}

/* ---- calls that can be abandoned ---- */

/* Takes job out of the queue if no thread has taken it yet. */
static bool worker_pool_unqueue(WorkerJob *job)
{
    bool found = false;

    pthread_mutex_lock(&pool.lock);
    for (WorkerJob **p = &pool.queue_head; *p; p = &(*p)->next) {
        if (*p == job) {
            *p = job->next;
            if (!*p)
                pool.queue_tail = p;
            pool.queued--;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&pool.lock);
    return found;
}

static void abandonable_finish(AbandonableCall *call, CallState state, long ret)
{
    g_queue_unlink(&pool.waiting, &call->link);
    call->timer = sd_event_source_disable_unref(call->timer);
    if (state == CALL_ABANDONED && worker_pool_unqueue(&call->job)) {
        state = CALL_CANCELLED;     /* never ran: nothing to wait for */
        call->release(call->job.opaque);
    }
    call->state = state;
    call->ret = ret;
    if (state == CALL_ABANDONED) {
        pthread_mutex_lock(&pool.lock);     /* read by other loops' queueing */
        pool.abandoned++;
        pthread_mutex_unlock(&pool.lock);
    }
    coroutine_enter(call->job.co);
}

/* The thread returned: answer the waiter, or clean up behind one that left. */
static void abandonable_complete(WorkerJob *job)
{
    AbandonableCall *call = (AbandonableCall *)job;

    if (call->state == CALL_WAITING) {
        abandonable_finish(call, CALL_DONE, job->ret);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.abandoned--;
    pthread_mutex_unlock(&pool.lock);
    call->release(job->opaque);
    g_free(call);
}

static int abandonable_on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    abandonable_finish(userdata, CALL_ABANDONED, -ETIMEDOUT);
    return 0;
}

bool worker_pool_may_abandon(void)
{
    return pool.abandoned + g_queue_get_length(&pool.waiting) < WORKER_POOL_MAX_ABANDONED;
}

long coroutine_fn worker_pool_co_run_abandonable(WorkerFunc *fn, void **opaque,
                                                 GDestroyNotify release, uint64_t timeout_us)
{
    AbandonableCall *call;
    long ret;

    if (pool_inline || !coroutine_self() || worker_pool_init() < 0)
        return fn(*opaque);
    /* Abandoned calls are the main loop's business (opens, at graph changes). */
    if (!aio_loop_is_main(aio_loop_self()))
        return worker_pool_co_run(fn, *opaque);
    /* Each may come to hold a thread for good: beyond the bound, refuse. */
    if (!worker_pool_may_abandon())
        return -EAGAIN;
    call = g_new0(AbandonableCall, 1);
    call->job = (WorkerJob){ .fn = fn, .opaque = *opaque, .co = coroutine_self(),
                             .home = &loop_return, .complete = abandonable_complete };
    call->release = release;
    call->link.data = call;
    if (sd_event_add_time_relative(aio_loop(), &call->timer, CLOCK_MONOTONIC, timeout_us, 0,
                                   abandonable_on_timeout, call) < 0 ||
        !worker_pool_queue(&call->job)) {
        call->timer = sd_event_source_disable_unref(call->timer);
        g_free(call);
        return fn(*opaque);
    }
    g_queue_push_tail_link(&pool.waiting, &call->link);
    while (call->state == CALL_WAITING)
        coroutine_yield();
    ret = call->ret;
    if (call->state != CALL_DONE)
        *opaque = NULL;     /* released, or the pool releases it when the thread returns */
    if (call->state != CALL_ABANDONED)
        g_free(call);
    return ret;
}

void worker_pool_abandon_all(void)
{
    GList *l;

    while ((l = g_queue_peek_head_link(&pool.waiting)))
        abandonable_finish(l->data, CALL_ABANDONED, -ECANCELED);
}

void worker_pool_shutdown(void)
{
    if (!pool.initialized)
        return;

    pthread_mutex_lock(&pool.lock);
    pool.stopping = true;
    pthread_cond_broadcast(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
    if (pool.abandoned > 0) {
        /*
         * A thread is stuck in a call nobody waits for (a hung file system):
         * joining could wait forever.  Leave the threads and the eventfd to
         * the process exit.
         */
        g_warning("%u abandoned system call(s) still blocked at exit", pool.abandoned);
        return;
    }
    for (unsigned i = 0; i < pool.n_threads; i++)
        pthread_join(pool.threads[i], NULL);
    pool.n_threads = 0;
    pool.idle = pool.wakeups = 0;

    /* Jobs that finished after the last dispatch still have waiters. */
    worker_pool_on_event(NULL, -1, 0, NULL);
    loop_return_teardown(&loop_return);
    pool.initialized = false;
}
