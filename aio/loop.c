/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The main loop and iothreads (aio/loop.h).
 *
 * Each loop has a lock: a ticket lock (FIFO), so that an iothread that is
 * busy every iteration cannot take it again before the main loop, which
 * waits for it, had its turn.  An iothread holds its own lock except while
 * it waits for events: it polls the sd-event loop's descriptor unlocked and
 * then runs sd_event_wait(0) and sd_event_dispatch() locked; when events
 * are pending already it lets go and takes the lock again, so that the main
 * loop waits for one dispatch (one event source) at most, and code in a long
 * dispatch asks aio_loop_yield_wanted() to end it early when the main loop
 * waits.  The main loop takes every iothread's lock around its own dispatch,
 * except for its unlocked sources (the bus connection's, at a priority above
 * all others so that one pending is the one dispatched next): what those run
 * takes the locks it needs itself (aio_loop_acquire()), and the main loop
 * lets go of them when the dispatch ends.  After a dispatch it kicks each
 * iothread it held (its call eventfd), so that an iothread waiting in poll()
 * arms again for what the main loop may have added to it (a timer, an
 * export's socket).
 *
 * A dispatch of any loop is one turn, and a turn that runs long keeps the
 * loop from everything else it serves: the main loop from the bus (and,
 * holding the iothreads' locks, the iothreads from their work), an iothread
 * from the other exports' clients and the completions of its own.  Code that
 * can run long (an NBD client that keeps sending, a batch of woken
 * coroutines) asks aio_loop_yield_wanted() and ends its turn when the main
 * loop waits for the lock or the turn has lasted AIO_TURN_US while other
 * events of the loop are ready; alone on its loop it goes on.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <stdatomic.h>
#include <unistd.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

typedef struct LoopCall {
    void (*fn)(void *opaque);
    void *opaque;
    struct LoopCall *next;
} LoopCall;

typedef struct ExitFn {
    void (*fn)(void *opaque);
    void *opaque;
} ExitFn;

struct AioLoop {
    char *name;
    sd_event *event;
    bool is_main;
    pthread_t thread;
    atomic_bool stopping;

    /* The ticket lock. */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t next_ticket;
    uint64_t serving;
    bool held_by_main;          /* main loop only */
    atomic_bool main_waiting;   /* the main loop waits for the lock */

    /* Calls from other threads, FIFO, and the eventfd that announces them. */
    pthread_mutex_t calls_lock;
    LoopCall *calls_head;
    LoopCall **calls_tail;
    int call_fd;
    sd_event_source *call_source;

    GSList *at_exit;            /* ExitFn, newest first; the loop's thread only */
};

static AioLoop main_loop;
static __thread AioLoop *self_loop;
static GPtrArray *iothreads;    /* AioLoop, main loop only */
static bool main_holding;       /* the main loop holds every iothread's lock */
static bool main_dispatching;   /* in a dispatch of the main loop (it may acquire locks) */
static GPtrArray *unlocked_sources;     /* sd_event_source*, main loop only */

/*
 * Long enough that a busy loop pays one more iteration (a few µs) per turn,
 * short enough for the bus's p99 target (5 ms) with room for the scheduler:
 * an NBD client pipelining 4k reads at qd32 into an export on the main loop
 * kept the transmit coroutine in one dispatch while the client never let
 * the socket empty, and a property Get waited 13.7-15.4 ms at p99; with
 * turns, 1.7-3.1 ms (docs/architecture.md).
 */
#define AIO_TURN_US 500
static __thread int64_t turn_start_us;  /* the current dispatch's start; 0 outside one */

static void loop_lock(AioLoop *l)
{
    uint64_t ticket;

    pthread_mutex_lock(&l->mutex);
    ticket = l->next_ticket++;
    while (ticket != l->serving)
        pthread_cond_wait(&l->cond, &l->mutex);
    pthread_mutex_unlock(&l->mutex);
}

static void loop_unlock(AioLoop *l)
{
    pthread_mutex_lock(&l->mutex);
    l->serving++;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mutex);
}

static void loop_kick(AioLoop *l)
{
    uint64_t one = 1;
    /* The counter cannot overflow in practice; EINTR is not possible. */
    ssize_t n = write(l->call_fd, &one, sizeof(one));

    (void)n;
}

static LoopCall *loop_take_calls(AioLoop *l)
{
    LoopCall *calls;

    pthread_mutex_lock(&l->calls_lock);
    calls = l->calls_head;
    l->calls_head = NULL;
    l->calls_tail = &l->calls_head;
    pthread_mutex_unlock(&l->calls_lock);
    return calls;
}

static int loop_on_call(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    AioLoop *l = userdata;
    uint64_t count;
    ssize_t n = read(l->call_fd, &count, sizeof(count));

    (void)n;
    for (LoopCall *c = loop_take_calls(l), *next; c; c = next) {
        next = c->next;
        c->fn(c->opaque);
        g_free(c);
    }
    return 0;
}

/* The parts every loop has; event is the loop's sd-event loop (taken). */
static int loop_init(AioLoop *l, const char *name, sd_event *event)
{
    int r;

    l->name = g_strdup(name);
    l->event = event;
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->cond, NULL);
    pthread_mutex_init(&l->calls_lock, NULL);
    l->calls_tail = &l->calls_head;
    l->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->call_fd < 0)
        return -errno;
    r = sd_event_add_io(event, &l->call_source, l->call_fd, EPOLLIN, loop_on_call, l);
    if (r < 0)
        return r;
    (void)sd_event_source_set_description(l->call_source, "loop-call");
    return 0;
}

static void loop_fini(AioLoop *l)
{
    g_assert(!l->calls_head);
    l->call_source = sd_event_source_disable_unref(l->call_source);
    if (l->call_fd >= 0)
        close(l->call_fd);
    l->call_fd = -1;
    l->event = sd_event_unref(l->event);
    pthread_mutex_destroy(&l->calls_lock);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mutex);
    g_clear_pointer(&l->name, g_free);
}

AioLoop *aio_loop_main(void)
{
    if (!main_loop.event) {
        sd_event *event = NULL;
        int r = sd_event_default(&event);

        if (r >= 0) {
            main_loop.is_main = true;
            r = loop_init(&main_loop, "main", event);
        }
        if (r < 0)
            g_error("Failed to create the event loop: %s", g_strerror(-r));
    }
    return &main_loop;
}

AioLoop *aio_loop_self(void)
{
    return self_loop ? self_loop : aio_loop_main();
}

sd_event *aio_loop(void)
{
    return aio_loop_self()->event;
}

sd_event *aio_loop_event(AioLoop *l)
{
    return l->event;
}

const char *aio_loop_name(const AioLoop *l)
{
    return l->name;
}

bool aio_loop_is_main(const AioLoop *l)
{
    return l->is_main;
}

void aio_loop_call(AioLoop *l, void (*fn)(void *opaque), void *opaque)
{
    LoopCall *c = g_new(LoopCall, 1);
    bool first;

    *c = (LoopCall){ .fn = fn, .opaque = opaque };
    pthread_mutex_lock(&l->calls_lock);
    first = !l->calls_head;
    *l->calls_tail = c;
    l->calls_tail = &c->next;
    pthread_mutex_unlock(&l->calls_lock);
    if (first)
        loop_kick(l);
}

void aio_loop_at_exit(void (*fn)(void *opaque), void *opaque)
{
    AioLoop *l = aio_loop_self();
    ExitFn *e = g_new(ExitFn, 1);

    *e = (ExitFn){ fn, opaque };
    l->at_exit = g_slist_prepend(l->at_exit, e);
}

static void loop_run_at_exit(AioLoop *l)
{
    while (l->at_exit) {
        ExitFn *e = l->at_exit->data;

        l->at_exit = g_slist_delete_link(l->at_exit, l->at_exit);
        e->fn(e->opaque);
        g_free(e);
    }
}

/* ---- the main loop's iterations ---- */

/* Waits until l's iothread is between dispatches and holds it (main loop). */
static void main_lock_one(AioLoop *l)
{
    if (l->held_by_main)
        return;
    atomic_store_explicit(&l->main_waiting, true, memory_order_relaxed);
    loop_lock(l);
    atomic_store_explicit(&l->main_waiting, false, memory_order_relaxed);
    l->held_by_main = true;
}

static void main_lock_iothreads(void)
{
    for (guint i = 0; i < iothreads->len; i++)
        main_lock_one(iothreads->pdata[i]);
    main_holding = true;
}

static void main_unlock_iothreads(void)
{
    main_holding = false;
    for (guint i = 0; i < iothreads->len; i++) {
        AioLoop *l = iothreads->pdata[i];

        if (l->held_by_main) {
            l->held_by_main = false;
            loop_unlock(l);
            loop_kick(l);
        }
    }
}

void aio_loop_acquire(AioLoop *l)
{
    g_assert(!self_loop);
    if (l->is_main || l->held_by_main)
        return;
    g_assert(main_dispatching);     /* let go of when the dispatch ends */
    main_lock_one(l);
}

void aio_iothreads_acquire(void)
{
    g_assert(!self_loop);
    if (!iothreads || main_holding)
        return;
    g_assert(main_dispatching);
    main_lock_iothreads();
}

bool aio_loop_yield_wanted(void)
{
    if (self_loop && atomic_load_explicit(&self_loop->main_waiting, memory_order_relaxed))
        return true;
    if (!turn_start_us)
        return false;
    int64_t now = g_get_monotonic_time();
    if (now - turn_start_us < AIO_TURN_US)
        return false;
    /* The epoll set of the loop: readable when one of its sources is ready. */
    struct pollfd pfd = { .fd = sd_event_get_fd(aio_loop()), .events = POLLIN };
    if (poll(&pfd, 1, 0) > 0)
        return true;
    turn_start_us = now;        /* nothing else waits: one more turn */
    return false;
}

/* sd_event_dispatch() as one turn. */
static int loop_dispatch_turn(sd_event *e)
{
    turn_start_us = g_get_monotonic_time();
    int r = sd_event_dispatch(e);
    turn_start_us = 0;
    return r;
}

int aio_main_add_unlocked(sd_event_source *s)
{
    g_assert(!self_loop);
    if (!unlocked_sources)
        unlocked_sources = g_ptr_array_new();
    g_ptr_array_add(unlocked_sources, s);
    return sd_event_source_set_priority(s, AIO_PRIORITY_UNLOCKED);
}

void aio_main_remove_unlocked(sd_event_source *s)
{
    if (unlocked_sources)
        g_ptr_array_remove(unlocked_sources, s);
}

/* The dispatch to come is an unlocked source's (they come first when pending). */
static bool main_next_unlocked(sd_event *e)
{
    int code, enabled;

    if (!unlocked_sources || sd_event_get_exit_code(e, &code) >= 0)
        return false;   /* exit sources run next */
    for (guint i = 0; i < unlocked_sources->len; i++) {
        sd_event_source *s = unlocked_sources->pdata[i];

        if (sd_event_source_get_pending(s) > 0 && sd_event_source_get_enabled(s, &enabled) > 0)
            return true;
    }
    return false;
}

static int main_dispatch(sd_event *e)
{
    int r;

    if (!main_next_unlocked(e))
        main_lock_iothreads();
    main_dispatching = true;
    r = loop_dispatch_turn(e);
    main_dispatching = false;
    main_unlock_iothreads();
    return r;
}

static int main_iterate(uint64_t timeout)
{
    sd_event *e = aio_loop_main()->event;
    int r;

    r = sd_event_prepare(e);
    if (r == 0)
        r = sd_event_wait(e, timeout);
    if (r <= 0)
        return r;
    if (!iothreads || iothreads->len == 0) {
        main_dispatching = true;
        r = loop_dispatch_turn(e);
        main_dispatching = false;
        if (iothreads)
            main_unlock_iothreads();    /* one may have started in that dispatch */
        return r;
    }
    return main_dispatch(e);
}

int aio_run_until(const bool *done)
{
    g_assert(!coroutine_in_coroutine());
    g_assert(!self_loop);
    while (!*done) {
        int r = main_iterate(UINT64_MAX);
        if (r < 0)
            return r;
    }
    return 0;
}

typedef struct RunCo {
    void (*entry)(void *opaque);
    void *opaque;
    bool done;
} RunCo;

static void run_co_entry(void *opaque)
{
    RunCo *rc = opaque;

    rc->entry(rc->opaque);
    rc->done = true;
}

void aio_run_coroutine(void (*entry)(void *opaque), void *opaque)
{
    RunCo rc = { .entry = entry, .opaque = opaque };

    if (iothreads)
        main_lock_iothreads();
    coroutine_start(run_co_entry, &rc);
    if (iothreads)
        main_unlock_iothreads();
    aio_run_until(&rc.done);
}

int aio_run_main(void)
{
    sd_event *e = aio_loop_main()->event;
    int code = 0;

    while (sd_event_get_state(e) != SD_EVENT_FINISHED) {
        int r = main_iterate(UINT64_MAX);

        if (r < 0)
            return r;
    }
    (void)sd_event_get_exit_code(e, &code);
    return code;
}

/* ---- iothreads ---- */

/* One iteration: waits for events unlocked, dispatches them locked. */
static int iothread_iterate(AioLoop *l)
{
    int r = sd_event_prepare(l->event);

    if (r == 0) {
        struct pollfd pfd = { .fd = sd_event_get_fd(l->event), .events = POLLIN };

        loop_unlock(l);
        r = poll(&pfd, 1, -1);
        loop_lock(l);
        if (r < 0 && errno != EINTR)
            return -errno;
        r = sd_event_wait(l->event, 0);
    } else if (r > 0) {
        /* Busy every iteration: the main loop, if it waits, goes first (FIFO). */
        loop_unlock(l);
        loop_lock(l);
    }
    if (r > 0)
        r = loop_dispatch_turn(l->event);
    return r;
}

/* sched_setattr(2)'s argument (glibc 2.36 has neither it nor the call). */
struct loop_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

void aio_thread_set_slice(uint64_t ns)
{
    struct loop_sched_attr attr = {
        .size = sizeof(attr),
        .sched_policy = SCHED_OTHER,
        .sched_runtime = ns,
    };

    errno = 0;
    attr.sched_nice = getpriority(PRIO_PROCESS, 0);     /* this thread's: kept */
    if (errno == 0 && syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
        g_debug("sched_setattr (a slice of %" PRIu64 " ns): %s", ns, g_strerror(errno));
}

/*
 * While iothreads exist the main thread runs with a short slice: it answers
 * the bus, little work per wake-up, and a caller waits for how soon it runs.
 * With the CPUs kept busy by iothreads and clients, the scheduler let it
 * wait after a wake-up until the running thread's slice (1.4 ms on 2 CPUs)
 * ended: a property Get's p99 was 3-6 ms with fio reading through an
 * iothread (docs/architecture.md).  Not without iothreads: the main thread
 * then serves the data path too, and preempted after each short slice it
 * spent ~20 % more CPU per 4k request.
 */
#define MAIN_SLICE_NS (100 * 1000)

static void main_slice_update(void)
{
    aio_thread_set_slice(iothreads && iothreads->len ? MAIN_SLICE_NS : 0);
}

static void *iothread_run(void *opaque)
{
    AioLoop *l = opaque;

    aio_thread_set_slice(0);    /* not the main thread's (main_slice_update) */
    self_loop = l;
    loop_lock(l);
    while (!atomic_load(&l->stopping)) {
        int r = iothread_iterate(l);

        if (r < 0)
            g_error("iothread '%s': event loop failed: %s", l->name, g_strerror(-r));
    }
    loop_run_at_exit(l);
    loop_unlock(l);
    return NULL;
}

static void iothread_free(AioLoop *l)
{
    loop_fini(l);
    g_free(l);
}

static int iothread_spawn(AioLoop *l)
{
    sigset_t all, old;
    int r;

    /* Signals belong to the main loop's signal sources. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = -pthread_create(&l->thread, NULL, iothread_run, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r == 0) {
        /* Named here, before anyone looks: io-<id> (the kernel keeps 15 bytes). */
        g_autofree char *name = g_strdup_printf("io-%s", l->name);

        name[MIN(strlen(name), 15)] = '\0';
        pthread_setname_np(l->thread, name);
    }
    return r;
}

AioLoop *aio_iothread_start(const char *id, GError **errp)
{
    AioLoop *l = g_new0(AioLoop, 1);
    sd_event *event = NULL;
    int r;

    g_assert(!self_loop);
    aio_loop_main();
    l->call_fd = -1;
    r = sd_event_new(&event);
    if (r >= 0)
        r = loop_init(l, id, event);
    /* Taken before the thread runs: the main loop may be dispatching. */
    if (r >= 0)
        loop_lock(l);
    if (r >= 0 && (r = iothread_spawn(l)) < 0)
        loop_unlock(l);
    if (r < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(-r),
                    "Failed to start iothread '%s': %s", id, g_strerror(-r));
        iothread_free(l);
        return NULL;
    }
    l->held_by_main = true;
    if (!iothreads)
        iothreads = g_ptr_array_new();
    g_ptr_array_add(iothreads, l);
    main_slice_update();
    /* Outside a dispatch (tests) the main loop holds nothing. */
    if (!main_holding) {
        l->held_by_main = false;
        loop_unlock(l);
    }
    return l;
}

void aio_iothread_stop(AioLoop *l)
{
    g_assert(!self_loop && !l->is_main);
    atomic_store(&l->stopping, true);
    if (l->held_by_main) {
        l->held_by_main = false;
        loop_unlock(l);
    }
    loop_kick(l);
    pthread_join(l->thread, NULL);
    g_ptr_array_remove(iothreads, l);
    iothread_free(l);
    main_slice_update();
}

const GPtrArray *aio_iothreads(void)
{
    if (!iothreads)
        iothreads = g_ptr_array_new();
    return iothreads;
}

AioLoop *aio_iothread_find(const char *id)
{
    for (guint i = 0; iothreads && i < iothreads->len; i++) {
        AioLoop *l = iothreads->pdata[i];

        if (g_str_equal(l->name, id))
            return l;
    }
    return NULL;
}

void aio_loop_shutdown(void)
{
    while (iothreads && iothreads->len > 0)
        aio_iothread_stop(iothreads->pdata[iothreads->len - 1]);
    g_clear_pointer(&iothreads, g_ptr_array_unref);
    if (!main_loop.event)
        return;
    loop_run_at_exit(&main_loop);
    /* Calls still posted to the main loop have nobody left to serve. */
    loop_on_call(NULL, -1, 0, &main_loop);
    loop_fini(&main_loop);
    main_loop = (AioLoop){ 0 };
}
