/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small pool of threads for blocking system calls (buffered pread/pwrite,
 * fsync, fallocate, lseek).  The calling coroutine yields until the job is
 * done; the result comes back to the calling coroutine's loop through
 * that loop's eventfd.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"

/* Runs in a worker thread; returns >= 0 or a negative errno. */
typedef long WorkerFunc(void *opaque);

/*
 * For harnesses only (fuzz/): from now on every call runs fn on the calling
 * thread at once, as outside a coroutine, so that an input costs no thread
 * hand-overs.  The loop blocks meanwhile: never in the daemon.
 */
void worker_pool_set_inline(bool run_inline);

/*
 * Whether the threads kept for jobs that do not sleep (a few per CPU pair)
 * each have one running and the next waiting: a job queued now would wait
 * behind that, and may as well run on the caller's thread, as a job's copy
 * offload on a memory file system does (drivers/file-copy.c).  Short of
 * that the pool takes it: a thread that finishes a job takes the waiting
 * one at once, without waiting for a loop busy with a copy of its own.
 */
bool worker_pool_busy(void);

/* Runs fn(opaque) in a worker thread and returns its result. */
long coroutine_fn worker_pool_co_run(WorkerFunc *fn, void *opaque);

/*
 * Runs fn(opaque) in a worker thread without waiting for it, for a release
 * that may take long and whose result nobody needs (unmapping a large file
 * mapping, drivers/file-mem.c); fn owns opaque.  worker_pool_shutdown
 * waits for it.  Where no thread can be had, fn runs on this thread.
 */
void worker_pool_run_detached(WorkerFunc *fn, void *opaque);

/*
 * For a call that may never return (open(2) on a hung NFS server).  *opaque
 * is a job on the heap.  When fn returns within timeout_us, the result comes
 * back and the caller keeps *opaque.  Otherwise (or when
 * worker_pool_abandon_all() runs first) the caller gets -ETIMEDOUT
 * (-ECANCELED) at once, *opaque becomes NULL, and the pool owns the job:
 * when fn returns at last, release(job) runs on the loop thread and must
 * undo what fn did (close a descriptor it opened) and free the job.
 * Outside a coroutine, fn simply runs on this thread.
 *
 * A call abandoned before a thread took it is cancelled (release runs at
 * once).  A thread stuck in an abandoned call serves nobody, so the pool
 * adds others beside it.  While WORKER_POOL_MAX_ABANDONED calls are
 * waiting or abandoned and still stuck, new calls fail at once with
 * -EAGAIN (fn does not run, the caller keeps *opaque): stuck calls cannot
 * take every thread, nor add threads without end.
 */
#define WORKER_POOL_MAX_ABANDONED 128
long coroutine_fn worker_pool_co_run_abandonable(WorkerFunc *fn, void **opaque,
                                                 GDestroyNotify release, uint64_t timeout_us);

/* Whether a new abandonable call would be taken (not refused with -EAGAIN). */
bool worker_pool_may_abandon(void);

/* Stops waiting for every abandonable call in flight (shutdown): -ECANCELED. */
void worker_pool_abandon_all(void);

/*
 * Joins the threads; pending work is finished first.  While an abandoned
 * call is still blocked, the threads are left to the process exit.
 */
void worker_pool_shutdown(void);
