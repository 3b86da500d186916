/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A small pool of threads for blocking system calls (buffered pread/pwrite,
 * fsync, fallocate, lseek).  The calling coroutine yields until the job is
 * done; the result comes back to the main loop through an eventfd.
 */

#include "aio/coroutine.h"

/* Runs in a worker thread; returns >= 0 or a negative errno. */
typedef long WorkerFunc(void *opaque);

/* Runs fn(opaque) in a worker thread and returns its result. */
long coroutine_fn worker_pool_co_run(WorkerFunc *fn, void *opaque);

/* Joins the threads; pending work is finished first. */
void worker_pool_shutdown(void);
