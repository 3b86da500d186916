/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Coroutines with ucontext for the first entry and sigsetjmp/siglongjmp for
 * every later switch (a switch then costs no system call).  Stack switches
 * are announced to AddressSanitizer, each coroutine is a fiber of
 * ThreadSanitizer (switched to before every jump, so TSan keeps one shadow
 * stack and one jump-buffer list per coroutine) and stacks are registered
 * with valgrind.
 * Finished coroutines go to a small pool and keep their stack.
 */

#include "config.h"

#include <assert.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

#if HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CO_ASAN 1
#endif
#endif
#ifdef CO_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define CO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CO_TSAN 1
#endif
#endif
#ifdef CO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define COROUTINE_STACK_SIZE (1024 * 1024)
#define COROUTINE_POOL_MAX 256

typedef enum CoroutineAction {
    COROUTINE_ENTER = 1,
    COROUTINE_YIELD = 2,
    COROUTINE_TERMINATE = 3,
} CoroutineAction;

struct Coroutine {
    CoroutineEntry *entry;
    void *opaque;
    Coroutine *caller;
    sigjmp_buf env;
    void *stack;            /* usable part, above the guard page */
    size_t stack_size;
    bool scheduled;         /* on a wake list */
    unsigned valgrind_stack_id;
    sigjmp_buf *creator_env;
    AioLoop *home;          /* the loop whose thread runs it */
    void *tsan_fiber;       /* ThreadSanitizer's fiber; the leader's: its thread's */
    void *local;            /* coroutine_local(): NULL when it starts */
};

/*
 * Coroutines to enter on a loop's next iterations, and the defer source that
 * enters them.  Woken ones run at the loop's normal priority; those that
 * yielded to the loop one lower, after every event that is ready.  At the
 * same priority they would starve the others: sd-event dispatches pending
 * sources of one priority oldest first, and a defer source stays pending
 * from its creation on, so a coroutine that yields to wait for an event of
 * its loop (a socket, a timer) ran again and again before that event.
 */
typedef struct WakeList {
    GQueue queue;
    sd_event_source *source;
    int64_t priority;
    const char *description;
} WakeList;

#define WAKE_LIST_WOKEN   { G_QUEUE_INIT, NULL, SD_EVENT_PRIORITY_NORMAL, "coroutine-wake" }
#define WAKE_LIST_YIELDED { G_QUEUE_INIT, NULL, SD_EVENT_PRIORITY_NORMAL + 1, "coroutine-turn" }

/*
 * Per thread (each event loop has its own): the loop's own stack (no
 * coroutine of ours, but a switch partner), the running coroutine, the
 * pool of finished coroutines and the wake lists.  A coroutine runs on the
 * thread that created it, always.
 */
static __thread Coroutine leader;
static __thread Coroutine *current;
static __thread GQueue pool = G_QUEUE_INIT;
static __thread WakeList woken = WAKE_LIST_WOKEN;
static __thread WakeList yielded = WAKE_LIST_YIELDED;
static __thread bool thread_exit_registered;
static atomic_uint alive;

static Coroutine *current_co(void)
{
    return current ? current : &leader;
}

static void start_switch_fiber(CoroutineAction action, void **fake_stack_save,
                               const void *bottom, size_t size)
{
#ifdef CO_ASAN
    __sanitizer_start_switch_fiber(action == COROUTINE_TERMINATE ? NULL : fake_stack_save,
                                   bottom, size);
#endif
}

static void finish_switch_fiber(void *fake_stack_save)
{
#ifdef CO_ASAN
    const void *bottom_old;
    size_t size_old;

    __sanitizer_finish_switch_fiber(fake_stack_save, &bottom_old, &size_old);
    if (!leader.stack) {
        leader.stack = (void *)bottom_old;
        leader.stack_size = size_old;
    }
#endif
}

/* ThreadSanitizer: from now on the running fiber is to's (before the jump). */
static void tsan_switch_fiber(Coroutine *from, Coroutine *to)
{
#ifdef CO_TSAN
    if (!from->tsan_fiber)
        from->tsan_fiber = __tsan_get_current_fiber();     /* the leader, first time */
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

static void tsan_create_fiber(Coroutine *co)
{
#ifdef CO_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
}

static void tsan_destroy_fiber(Coroutine *co)
{
#ifdef CO_TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
}

static CoroutineAction coroutine_switch(Coroutine *from, Coroutine *to, CoroutineAction action)
{
    void *fake_stack_save = NULL;
    int ret;

    current = to;
    ret = sigsetjmp(from->env, 0);
    if (ret == 0) {
        start_switch_fiber(action, &fake_stack_save, to->stack, to->stack_size);
        tsan_switch_fiber(from, to);
        siglongjmp(to->env, action);
    }
    finish_switch_fiber(fake_stack_save);
    return ret;
}

static void coroutine_trampoline(int lo, int hi)
{
    Coroutine *self = (Coroutine *)(((uintptr_t)(unsigned)hi << 32) | (uintptr_t)(unsigned)lo);
    void *fake_stack_save = NULL;

    finish_switch_fiber(NULL);
    /* Set up the jump target for later entries, then return to the creator. */
    if (!sigsetjmp(self->env, 0)) {
        start_switch_fiber(COROUTINE_YIELD, &fake_stack_save, leader.stack, leader.stack_size);
        tsan_switch_fiber(self, self->caller);      /* back to the creator's fiber */
        siglongjmp(*self->creator_env, 1);
    }
    finish_switch_fiber(fake_stack_save);

    for (;;) {
        self->entry(self->opaque);
        coroutine_switch(self, self->caller, COROUTINE_TERMINATE);
    }
}

static Coroutine *coroutine_new(void)
{
    Coroutine *co = g_new0(Coroutine, 1);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ucontext_t old_uc, uc;
    sigjmp_buf old_env;
    void *fake_stack_save = NULL;
    uintptr_t p = (uintptr_t)co;

    void *mem = mmap(NULL, COROUTINE_STACK_SIZE + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED)
        g_error("Failed to allocate a coroutine stack: %m");
    mprotect(mem, page, PROT_NONE);     /* guard page below the stack */
    co->stack = (char *)mem + page;
    co->stack_size = COROUTINE_STACK_SIZE;
#if HAVE_VALGRIND
    co->valgrind_stack_id = VALGRIND_STACK_REGISTER(co->stack, (char *)co->stack + co->stack_size);
#endif

    if (getcontext(&uc) < 0)
        g_error("getcontext failed: %m");
    uc.uc_link = &old_uc;
    uc.uc_stack.ss_sp = co->stack;
    uc.uc_stack.ss_size = co->stack_size;
    uc.uc_stack.ss_flags = 0;
    co->creator_env = &old_env;
    co->caller = current_co();      /* the creator, for the way back */
    tsan_create_fiber(co);
    makecontext(&uc, (void (*)(void))coroutine_trampoline, 2, (int)(p & 0xffffffff), (int)(p >> 32));

    /* swapcontext() into the trampoline, which siglongjmp()s back here. */
    if (!sigsetjmp(old_env, 0)) {
        start_switch_fiber(COROUTINE_YIELD, &fake_stack_save, co->stack, co->stack_size);
        tsan_switch_fiber(co->caller, co);
        swapcontext(&old_uc, &uc);
    }
    finish_switch_fiber(fake_stack_save);
    co->creator_env = NULL;
    co->caller = NULL;
    return co;
}

static void coroutine_delete(Coroutine *co)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

#if HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(co->valgrind_stack_id);
#endif
    tsan_destroy_fiber(co);
    munmap((char *)co->stack - page, co->stack_size + page);
    g_free(co);
}

static void coroutine_thread_exit(void *opaque);

Coroutine *coroutine_create(CoroutineEntry *entry, void *opaque)
{
    Coroutine *co = g_queue_pop_head(&pool);

    if (!thread_exit_registered && !aio_loop_is_main(aio_loop_self())) {
        thread_exit_registered = true;
        aio_loop_at_exit(coroutine_thread_exit, NULL);
    }
    if (!co)
        co = coroutine_new();
    co->entry = entry;
    co->opaque = opaque;
    co->caller = NULL;
    co->scheduled = false;
    co->local = NULL;
    co->home = aio_loop_self();
    atomic_fetch_add(&alive, 1);
    return co;
}

static void coroutine_release(Coroutine *co)
{
    atomic_fetch_sub(&alive, 1);
    if (g_queue_get_length(&pool) < COROUTINE_POOL_MAX)
        g_queue_push_head(&pool, co);
    else
        coroutine_delete(co);
}

void coroutine_enter(Coroutine *co)
{
    Coroutine *self = current_co();

    assert(co != self);
    assert(co->home == aio_loop_self());     /* never on another loop's thread */
    assert(!co->caller);     /* entering a running coroutine is a bug */
    co->caller = self;
    if (coroutine_switch(self, co, COROUTINE_ENTER) == COROUTINE_TERMINATE)
        coroutine_release(co);
}

void coroutine_start(CoroutineEntry *entry, void *opaque)
{
    coroutine_enter(coroutine_create(entry, opaque));
}

void coroutine_fn coroutine_yield(void)
{
    Coroutine *self = current_co();
    Coroutine *to = self->caller;

    assert(self != &leader);
    self->caller = NULL;
    coroutine_switch(self, to, COROUTINE_YIELD);
}

Coroutine *coroutine_self(void)
{
    Coroutine *co = current_co();

    return co == &leader ? NULL : co;
}

void **coroutine_local(void)
{
    return &current_co()->local;
}

bool coroutine_in_coroutine(void)
{
    return current_co() != &leader;
}

unsigned coroutine_count_alive(void)
{
    return atomic_load(&alive);
}

static void wake_list_add(WakeList *w, Coroutine *co, bool head);

static int wake_list_run(sd_event_source *s, void *userdata)
{
    WakeList *w = userdata;
    GQueue batch = w->queue;

    /* Only what was scheduled before this pass: re-scheduling waits a turn. */
    g_queue_init(&w->queue);
    sd_event_source_set_enabled(w->source, SD_EVENT_OFF);
    for (Coroutine *co; (co = g_queue_pop_head(&batch));) {
        co->scheduled = false;
        coroutine_enter(co);
        if (!g_queue_is_empty(&batch) && aio_loop_yield_wanted()) {
            /* The turn is over: the rest go first of the yielded ones. */
            while ((co = g_queue_pop_tail(&batch)))
                wake_list_add(&yielded, co, true);
            break;
        }
    }
    return 0;
}

static void wake_list_add(WakeList *w, Coroutine *co, bool head)
{
    co->scheduled = true;
    if (head)
        g_queue_push_head(&w->queue, co);
    else
        g_queue_push_tail(&w->queue, co);
    if (!w->source) {
        int r = sd_event_add_defer(aio_loop(), &w->source, wake_list_run, w);
        if (r >= 0)
            r = sd_event_source_set_priority(w->source, w->priority);
        if (r < 0)
            g_error("Failed to add the coroutine wake source: %s", g_strerror(-r));
        sd_event_source_set_description(w->source, w->description);
    }
    sd_event_source_set_enabled(w->source, SD_EVENT_ON);
}

static void coroutine_wake_remote(void *opaque)
{
    coroutine_wake(opaque);
}

/* An iothread ends: its pool and wake source go (no coroutine of it is left). */
static void coroutine_thread_exit(void *opaque)
{
    for (Coroutine *co; (co = g_queue_pop_head(&pool));)
        coroutine_delete(co);
    woken.source = sd_event_source_disable_unref(woken.source);
    yielded.source = sd_event_source_disable_unref(yielded.source);
    thread_exit_registered = false;
}

void coroutine_wake(Coroutine *co)
{
    if (co->home != aio_loop_self()) {
        /* Its own loop schedules it; that loop dispatches apart from ours. */
        aio_loop_call(co->home, coroutine_wake_remote, co);
        return;
    }
    if (co->scheduled)
        return;
    wake_list_add(&woken, co, false);
}

void coroutine_fn coroutine_yield_to_loop(void)
{
    wake_list_add(&yielded, coroutine_self(), false);
    coroutine_yield();
}

static int sleep_done(sd_event_source *s, uint64_t usec, void *userdata)
{
    coroutine_enter(userdata);
    return 0;
}

void coroutine_fn coroutine_sleep_ns(uint64_t ns)
{
    sd_event_source *timer = NULL;
    int r = sd_event_add_time_relative(aio_loop(), &timer, CLOCK_MONOTONIC, ns / 1000, 0,
                                       sleep_done, coroutine_self());
    if (r < 0) {
        coroutine_yield_to_loop();
        return;
    }
    coroutine_yield();
    sd_event_source_unref(timer);
}

void co_queue_init(CoQueue *q)
{
    g_queue_init(&q->waiters);
}

void coroutine_fn co_queue_wait(CoQueue *q)
{
    g_queue_push_tail(&q->waiters, coroutine_self());
    coroutine_yield();
}

bool co_queue_wake_next(CoQueue *q)
{
    Coroutine *co = g_queue_pop_head(&q->waiters);

    if (!co)
        return false;
    coroutine_wake(co);
    return true;
}

void co_queue_wake_all(CoQueue *q)
{
    while (co_queue_wake_next(q))
        ;
}

bool co_queue_empty(const CoQueue *q)
{
    return q->waiters.length == 0;
}

void co_mutex_init(CoMutex *m)
{
    m->locked = false;
    co_queue_init(&m->waiters);
}

void coroutine_fn co_mutex_lock(CoMutex *m)
{
    /* Ownership passes directly to a woken waiter, so no one can barge in. */
    if (!m->locked) {
        m->locked = true;
        return;
    }
    co_queue_wait(&m->waiters);
}

void co_mutex_unlock(CoMutex *m)
{
    assert(m->locked);
    if (!co_queue_wake_next(&m->waiters))
        m->locked = false;
}
