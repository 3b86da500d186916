/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * For the harnesses that run nodes: drops the daemon's log output (a
 * corrupt image logs a warning per request, and formatting those cost
 * more than the requests), except that a g_critical or g_error aborts (a
 * bug); and runs the worker pool's jobs (opens, lock changes, flushes) on
 * the loop thread, since a hand-over to a worker thread and back per job
 * only waits for the scheduler.  Idempotent.
 */
void fuzz_quiet_init(void);
