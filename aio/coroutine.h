/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Stackful coroutines on the event loops (aio/loop.h): each runs on the
 * thread of the loop that created it.
 *
 * Block I/O is written as straight-line code that yields while a request is
 * in flight.  A coroutine runs until it yields or returns; it is resumed by
 * coroutine_wake() (from a completion callback, or from another coroutine).
 * Functions that may yield are marked coroutine_fn and must only be called
 * from coroutine context.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define coroutine_fn

typedef struct Coroutine Coroutine;
typedef void CoroutineEntry(void *opaque);

/* Creates a coroutine that will run entry(opaque); it does not run yet. */
Coroutine *coroutine_create(CoroutineEntry *entry, void *opaque);

/*
 * Runs co until it yields or finishes (then it is freed).  May be called from
 * the main loop or from another coroutine (which then waits until co yields).
 */
void coroutine_enter(Coroutine *co);

/* Creates and enters a coroutine in one go. */
void coroutine_start(CoroutineEntry *entry, void *opaque);

/* Suspends the running coroutine until someone wakes it. */
void coroutine_fn coroutine_yield(void);

/* The running coroutine, or NULL on the main loop stack. */
Coroutine *coroutine_self(void);
bool coroutine_in_coroutine(void);

/*
 * One pointer of the running coroutine's own (outside a coroutine: the
 * thread's), NULL when the coroutine starts.  The request path keeps the
 * requests a coroutine holds in flight there (graph/io.c).
 */
void **coroutine_local(void);

/*
 * Schedules co to be entered from its loop on that loop's next iteration.
 * Safe from any context on a loop's thread, including from co's own
 * completion path before it yielded; a wake from another loop's thread
 * reaches co's loop through aio_loop_call().
 */
void coroutine_wake(Coroutine *co);

/*
 * Yields to the loop: the coroutine comes back once every event of its loop
 * that is ready now (sockets, timers, woken coroutines) has been dispatched.
 */
void coroutine_fn coroutine_yield_to_loop(void);

/* Sleeps for ns nanoseconds on the loop's monotonic clock. */
void coroutine_fn coroutine_sleep_ns(uint64_t ns);

/* A FIFO of waiting coroutines. */
typedef struct CoQueue {
    GQueue waiters;
} CoQueue;

void co_queue_init(CoQueue *q);
void coroutine_fn co_queue_wait(CoQueue *q);
/* Wakes the first waiter (scheduled, not entered); false if none waited. */
bool co_queue_wake_next(CoQueue *q);
void co_queue_wake_all(CoQueue *q);
bool co_queue_empty(const CoQueue *q);

/*
 * A mutex between coroutines, never between threads: of one loop, or of the
 * main loop and one iothread (they never dispatch at once).
 */
typedef struct CoMutex {
    bool locked;
    CoQueue waiters;
} CoMutex;

void co_mutex_init(CoMutex *m);
void coroutine_fn co_mutex_lock(CoMutex *m);
void co_mutex_unlock(CoMutex *m);

/* Number of coroutines alive, for tests and leak checks. */
unsigned coroutine_count_alive(void);
