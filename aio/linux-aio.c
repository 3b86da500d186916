/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Native Linux AIO, one io context per event loop (thread-local state: a
 * request is submitted and completed on its coroutine's loop).
 *
 * A request (iocb plus waiter) lives on the submitting coroutine's stack.
 * Requests queue up during a loop iteration and go to the kernel in one
 * io_submit() from a deferred event source, or at once when a batch is full.
 * The kernel signals completions on an eventfd; its handler reaps every
 * finished event and enters the waiting coroutines.  When the kernel says
 * EAGAIN, or the context is full, requests stay queued and are submitted as
 * completions make room.
 */

#include <errno.h>
#include <libaio.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "aio/linux-aio.h"
#include "aio/loop.h"

#define LINUX_AIO_MAX_EVENTS 256    /* io context size: requests in flight */
#define LINUX_AIO_BATCH      32     /* submit at once when this many queue up */

typedef struct LinuxAioRequest {
    struct iocb iocb;
    Coroutine *co;
    long ret;
    bool done;
    struct LinuxAioRequest *next;
} LinuxAioRequest;

typedef struct LinuxAio {
    int state;                  /* 0: not tried, 1: ready, -1: unavailable */
    io_context_t ctx;
    int efd;
    sd_event_source *io_source;
    sd_event_source *submit_source;
    LinuxAioRequest *pending_head;
    LinuxAioRequest **pending_tail;
    unsigned pending;
    unsigned in_flight;
} LinuxAio;

static __thread LinuxAio laio = { .efd = -1 };

static void linux_aio_exit(void *opaque)
{
    linux_aio_shutdown();
}

static void linux_aio_complete(LinuxAioRequest *req, long ret, bool enter)
{
    req->ret = ret;
    req->done = true;
    if (req->co == coroutine_self())
        return;                 /* the submitter has not yielded yet */
    if (enter)
        coroutine_enter(req->co);
    else
        coroutine_wake(req->co);
}

static void linux_aio_schedule_submit(void)
{
    (void)sd_event_source_set_enabled(laio.submit_source, SD_EVENT_ONESHOT);
}

static LinuxAioRequest *linux_aio_pop_pending(void)
{
    LinuxAioRequest *req = laio.pending_head;

    laio.pending_head = req->next;
    if (!laio.pending_head)
        laio.pending_tail = &laio.pending_head;
    laio.pending--;
    return req;
}

/* Hands queued requests to the kernel as far as the context has room. */
static void linux_aio_flush(void)
{
    struct iocb *batch[LINUX_AIO_MAX_EVENTS];

    while (laio.pending > 0 && laio.in_flight < LINUX_AIO_MAX_EVENTS) {
        unsigned n = 0;
        int r;

        for (LinuxAioRequest *req = laio.pending_head;
             req && n < LINUX_AIO_MAX_EVENTS - laio.in_flight; req = req->next)
            batch[n++] = &req->iocb;

        r = io_submit(laio.ctx, n, batch);
        if (r == -EAGAIN) {
            /* Completions will make room; with none in flight, retry soon. */
            if (laio.in_flight == 0)
                linux_aio_schedule_submit();
            return;
        }
        if (r < 0) {
            linux_aio_complete(linux_aio_pop_pending(), r, false);
            continue;
        }
        for (int i = 0; i < r; i++)
            linux_aio_pop_pending();
        laio.in_flight += r;
    }
}

static int linux_aio_on_submit(sd_event_source *s, void *userdata)
{
    linux_aio_flush();
    return 0;
}

static int linux_aio_on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    struct io_event events[LINUX_AIO_MAX_EVENTS];
    struct timespec zero = { 0, 0 };
    int n;

    /* Edge-triggered and never read, as the worker pool's eventfd. */
    do {
        n = io_getevents(laio.ctx, 0, LINUX_AIO_MAX_EVENTS, events, &zero);
        for (int i = 0; i < n; i++) {
            LinuxAioRequest *req = (LinuxAioRequest *)
                ((char *)events[i].obj - offsetof(LinuxAioRequest, iocb));

            laio.in_flight--;
            linux_aio_complete(req, (long)events[i].res, true);
        }
    } while (n == LINUX_AIO_MAX_EVENTS);

    if (laio.pending > 0)
        linux_aio_flush();
    return 0;
}

static int linux_aio_setup_loop(void)
{
    int r;

    laio.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (laio.efd < 0)
        return -errno;
    r = sd_event_add_io(aio_loop(), &laio.io_source, laio.efd, EPOLLIN | EPOLLET,
                        linux_aio_on_event, NULL);
    if (r < 0)
        return r;
    (void)sd_event_source_set_description(laio.io_source, "linux-aio");
    r = sd_event_add_defer(aio_loop(), &laio.submit_source, linux_aio_on_submit, NULL);
    if (r < 0)
        return r;
    (void)sd_event_source_set_description(laio.submit_source, "linux-aio-submit");
    return sd_event_source_set_enabled(laio.submit_source, SD_EVENT_OFF);
}

static void linux_aio_teardown(void)
{
    laio.submit_source = sd_event_source_disable_unref(laio.submit_source);
    laio.io_source = sd_event_source_disable_unref(laio.io_source);
    if (laio.efd >= 0)
        close(laio.efd);
    laio.efd = -1;
    if (laio.ctx)
        io_destroy(laio.ctx);
    laio.ctx = 0;
}

static bool linux_aio_init(void)
{
    if (laio.state != 0)
        return laio.state > 0;

    laio.state = -1;
    laio.pending_head = NULL;
    laio.pending_tail = &laio.pending_head;
    if (io_setup(LINUX_AIO_MAX_EVENTS, &laio.ctx) < 0) {
        laio.ctx = 0;
        return false;
    }
    if (linux_aio_setup_loop() < 0) {
        linux_aio_teardown();
        return false;
    }
    laio.state = 1;
    if (!aio_loop_is_main(aio_loop_self()))
        aio_loop_at_exit(linux_aio_exit, NULL);
    return true;
}

bool linux_aio_available(void)
{
    return linux_aio_init();
}

static void linux_aio_prep(LinuxAioRequest *req, int fd, LinuxAioOp op, uint64_t offset,
                           const struct iovec *iov, int niov)
{
    switch (op) {
    case LINUX_AIO_READ:
        if (niov == 1)
            io_prep_pread(&req->iocb, fd, iov[0].iov_base, iov[0].iov_len, offset);
        else
            io_prep_preadv(&req->iocb, fd, iov, niov, offset);
        break;
    case LINUX_AIO_WRITE:
        if (niov == 1)
            io_prep_pwrite(&req->iocb, fd, iov[0].iov_base, iov[0].iov_len, offset);
        else
            io_prep_pwritev(&req->iocb, fd, iov, niov, offset);
        break;
    case LINUX_AIO_WRITE_DSYNC:
        io_prep_pwritev2(&req->iocb, fd, iov, niov, offset, RWF_DSYNC);
        break;
    case LINUX_AIO_FDSYNC:
        io_prep_fdsync(&req->iocb, fd);
        break;
    }
    io_set_eventfd(&req->iocb, laio.efd);
}

long coroutine_fn linux_aio_co_submit(int fd, LinuxAioOp op, uint64_t offset,
                                      const struct iovec *iov, int niov)
{
    LinuxAioRequest req = { .co = coroutine_self() };

    if (!req.co || !linux_aio_init())
        return -ENOSYS;

    linux_aio_prep(&req, fd, op, offset, iov, niov);
    req.next = NULL;
    *laio.pending_tail = &req;
    laio.pending_tail = &req.next;
    laio.pending++;

    if (laio.pending >= LINUX_AIO_BATCH)
        linux_aio_flush();
    else
        linux_aio_schedule_submit();

    while (!req.done)
        coroutine_yield();
    return req.ret;
}

void linux_aio_shutdown(void)
{
    if (laio.state <= 0) {
        laio.state = 0;
        return;
    }
    /* Requests still queued or in flight are the caller's bug; wait them out. */
    while (laio.in_flight > 0) {
        struct io_event ev;

        if (io_getevents(laio.ctx, 1, 1, &ev, NULL) == 1) {
            laio.in_flight--;
            linux_aio_complete((LinuxAioRequest *)
                ((char *)ev.obj - offsetof(LinuxAioRequest, iocb)), (long)ev.res, true);
        }
    }
    linux_aio_teardown();
    laio.state = 0;
}
