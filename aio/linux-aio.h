/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Native Linux AIO (libaio) for files opened with O_DIRECT (aio=native).
 * One io context per event loop; completions are signalled on an eventfd
 * registered with that loop, and each completion wakes its coroutine.
 */

#include <sys/uio.h>
#include <stdint.h>
#include "aio/coroutine.h"

typedef enum LinuxAioOp {
    LINUX_AIO_READ,
    LINUX_AIO_WRITE,
    LINUX_AIO_WRITE_DSYNC,  /* write, stable on completion (RWF_DSYNC); -EOPNOTSUPP if unsupported */
    LINUX_AIO_FDSYNC,
} LinuxAioOp;

/*
 * Submits one request and yields until it completes.  Returns the number of
 * bytes transferred or a negative errno.  Requests submitted in the same loop
 * iteration are batched into one io_submit().
 */
long coroutine_fn linux_aio_co_submit(int fd, LinuxAioOp op, uint64_t offset,
                                      const struct iovec *iov, int niov);

/* Whether the kernel accepted an io context (checked once). */
bool linux_aio_available(void);

/* The calling loop's context (an iothread's goes when the iothread stops). */
void linux_aio_shutdown(void);
