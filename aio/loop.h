/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Event loops: the main thread's sd-event loop, and iothreads, each with an
 * sd-event loop on its own thread.
 *
 * Graph state belongs to the main loop; a node bound to an iothread (and
 * the exports on it) does its I/O there.  An iothread holds its loop lock
 * while it dispatches and lets go while it waits for events.  The main loop
 * holds the lock of every iothread while it dispatches, except for its
 * unlocked sources (the bus connection): those take what they need
 * themselves (aio_loop_acquire()) and read the rest only where iothreads
 * publish it atomically.  So code on the main loop, outside an unlocked
 * source, may look at and change what an iothread owns, as between
 * coroutines of one thread; iothreads run in parallel with each other and
 * with the unlocked sources only, and share nothing but thread-safe parts
 * (the worker pool, aio_loop_call).
 *
 * Everything an event loop keeps per loop (coroutine scheduling, the worker
 * pool's completions, the Linux AIO context, an io_uring ring) is per thread:
 * code finds its loop with aio_loop_self().
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <glib.h>
#include <systemd/sd-event.h>

typedef struct AioLoop AioLoop;

/* CLOCK_MONOTONIC in nanoseconds, for spans where microseconds are too coarse. */
static inline int64_t aio_now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The main thread's loop (sd_event_default), created on first use. */
AioLoop *aio_loop_main(void);

/* The calling thread's loop: an iothread's, else the main loop. */
AioLoop *aio_loop_self(void);

/* The sd-event loop of the calling thread (aio_loop_self()). */
sd_event *aio_loop(void);

sd_event *aio_loop_event(AioLoop *l);
/* "main", or the iothread's id. */
const char *aio_loop_name(const AioLoop *l);
bool aio_loop_is_main(const AioLoop *l);

/*
 * The calling thread's scheduler slice in ns (sched_attr's sched_runtime,
 * EEVDF, Linux 6.12; no privilege needed), or 0 for the kernel's default.
 * A thread with a short slice runs as soon as it wakes up instead of
 * waiting for the running thread's slice to end.  Threads inherit it:
 * iothreads and pool workers set the default again when they start.
 * Without kernel support nothing changes.
 */
void aio_thread_set_slice(uint64_t ns);

/*
 * Runs fn(opaque) on l's thread in one of its next iterations.  Safe from
 * any thread, including worker threads; calls run in the order posted.
 */
void aio_loop_call(AioLoop *l, void (*fn)(void *opaque), void *opaque);

/*
 * Runs fn(opaque) on l's thread when l stops (iothreads: before the thread
 * ends; newest first).  For per-loop state that lives in thread-local
 * variables (a Linux AIO context, an io_uring ring).  The main loop's are
 * run by aio_loop_shutdown().
 */
void aio_loop_at_exit(void (*fn)(void *opaque), void *opaque);

/* Runs loop iterations until *done becomes true. Main loop, not from a coroutine. */
int aio_run_until(const bool *done);

/*
 * Runs entry(opaque) in a new coroutine and iterates the loop until it has
 * returned.  For start-up, shutdown and tests; never from a bus handler.
 */
void aio_run_coroutine(void (*entry)(void *opaque), void *opaque);

/* Runs the main loop until sd_event_exit(); returns its exit code. */
int aio_run_main(void);

/*
 * Starts an iothread named id (its own thread and loop).  From the main
 * loop.  Fails (errno in the message) when the thread cannot start.
 */
AioLoop *aio_iothread_start(const char *id, GError **errp);

/*
 * Stops an iothread and joins its thread; its at-exit functions run first.
 * Nothing may use it any more (no node, export or coroutine). Main loop.
 */
void aio_iothread_stop(AioLoop *l);

/* The iothreads running, in start order (main loop only). */
const GPtrArray *aio_iothreads(void);
AioLoop *aio_iothread_find(const char *id);

/*
 * Unlocked sources of the main loop (the bus connection's): the main loop
 * dispatches them without the iothreads' locks.  They get
 * AIO_PRIORITY_UNLOCKED, above every other source of the main loop (none
 * may have it or a higher one), so that a pending one is the one dispatched
 * next.  What they run reads only what the main loop owns or what iothreads
 * publish atomically, and calls aio_loop_acquire() / aio_iothreads_acquire()
 * before anything else.  Main loop only.
 */
#define AIO_PRIORITY_UNLOCKED (SD_EVENT_PRIORITY_NORMAL - 1)
int aio_main_add_unlocked(sd_event_source *s);
void aio_main_remove_unlocked(sd_event_source *s);

/*
 * From a dispatch of the main loop: waits until iothread l is between two
 * dispatches (its current one ends) and holds it until the main loop's
 * dispatch ends.  No-op for the main loop and for what is held already.
 */
void aio_loop_acquire(AioLoop *l);
/* The same for every iothread. */
void aio_iothreads_acquire(void);

/*
 * A long dispatch should end now (a coroutine yields to the loop, a batch
 * keeps its rest for the next iteration): on an iothread, the main loop
 * waits for its lock; on any loop, the dispatch has run its turn
 * (aio/loop.c) and other events of the loop are ready.  False outside a
 * dispatch.
 */
bool aio_loop_yield_wanted(void);

/* Drops the loop reference at exit (after worker_pool_shutdown and linux_aio_shutdown). */
void aio_loop_shutdown(void);
