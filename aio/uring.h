/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * io_uring (liburing) for the file and host_device drivers (aio=io_uring).
 *
 * Each event loop has its own ring, set up the first time a coroutine of
 * that loop submits (or asks uring_loop_init()), and freed with the loop:
 * nothing here is shared between loops.  Requests prepared during one loop
 * iteration go to the kernel in one io_uring_enter() just before the loop
 * polls; completions wake the loop through the ring's descriptor.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "aio/coroutine.h"

/*
 * Sets up the calling loop's ring unless it has one: 0, or the negative
 * errno io_uring_queue_init() gave (-EPERM under a seccomp filter, -ENOSYS
 * on an old kernel), remembered for this loop.
 */
int uring_loop_init(void);

/* Whether the calling loop has a working ring (no set-up attempt). */
bool uring_loop_ready(void);

/*
 * preadv2/pwritev2 (rw_flags: RWF_DSYNC or 0) until done or end of file:
 * bytes transferred, or a negative errno.  Without a ring on this loop:
 * -ENXIO (the caller falls back).
 */
long coroutine_fn uring_co_rw(int fd, bool write, uint64_t offset, const struct iovec *iov,
                              int niov, int rw_flags);

/* fdatasync(2). */
int coroutine_fn uring_co_fdatasync(int fd);

/* fallocate(2) with mode: 0 or a negative errno. */
int coroutine_fn uring_co_fallocate(int fd, int mode, uint64_t offset, uint64_t len);

/*
 * Discards [offset, offset+len) of a block device opened for writing
 * (IORING_OP_URING_CMD with BLOCK_URING_CMD_DISCARD, Linux >= 6.12): 0 or a
 * negative errno; an older kernel gives -EOPNOTSUPP, as does a device
 * without discard.
 */
int coroutine_fn uring_co_blk_discard(int fd, uint64_t offset, uint64_t len);

/* Requests in flight on this loop's ring (tests). */
unsigned uring_loop_in_flight(void);
