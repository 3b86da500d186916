/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The main thread's sd-event loop.  All graph state belongs to it; worker
 * threads and the kernel hand results back through eventfds attached here.
 */

#include <stdbool.h>
#include <systemd/sd-event.h>

/* The loop of the main thread (sd_event_default), created on first use. */
sd_event *aio_loop(void);

/* Runs loop iterations until *done becomes true. Not from a coroutine. */
int aio_run_until(const bool *done);

/*
 * Runs entry(opaque) in a new coroutine and iterates the loop until it has
 * returned.  For start-up, shutdown and tests; never from a bus handler.
 */
void aio_run_coroutine(void (*entry)(void *opaque), void *opaque);

/* Drops the loop reference at exit (after worker_pool_shutdown and linux_aio_shutdown). */
void aio_loop_shutdown(void);
