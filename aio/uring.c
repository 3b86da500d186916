/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * One io_uring per event loop.
 *
 * A request (waiter plus result) lives on the submitting coroutine's stack;
 * its submission queue entry is filled in at once, and the entries of one
 * loop iteration reach the kernel together from the prepare callback of the
 * ring's event source (sd-event calls it just before polling).  The ring's
 * descriptor polls readable while completions wait; the handler takes them
 * all, advances the completion queue, then enters the coroutines.  At most
 * as many requests are in flight as the completion queue holds, so that it
 * never overflows; later ones wait for room.
 *
 * Ownership: the ring is found through a thread-local pointer (one loop per
 * thread), and belongs to the loop through floating event sources: when
 * the loop is freed, the destroy callback of its anchor source frees the
 * ring.  A loop where io_uring_queue_init() failed keeps the errno the same
 * way, so that the attempt is made once per loop.
 */

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <liburing.h>
#include <glib.h>

#include "aio/iov.h"
#include "aio/loop.h"
#include "aio/uring.h"

#define URING_ENTRIES 128       /* submission queue; the completion queue is twice that */
#define URING_REAP_BATCH 64

typedef struct UringRequest {
    Coroutine *co;
    int ret;
    bool done;
} UringRequest;

typedef struct UringRing {
    sd_event *loop;             /* no reference: the loop owns us */
    int init_errno;             /* < 0: no ring on this loop (io_uring_queue_init's errno) */
    bool queue_open;            /* ring set up: io_uring_queue_exit when freed */
    struct io_uring ring;
    sd_event_source *io_source; /* the ring's descriptor; floating */
    sd_event_source *retry_source;  /* defer: submission failed for now; floating */
    unsigned in_flight;         /* prepared, not yet completed */
    unsigned max_in_flight;     /* completion queue entries */
    CoQueue room;               /* coroutines waiting for max_in_flight to allow them */
} UringRing;

static __thread UringRing *this_ring;

static void uring_ring_free(void *opaque)
{
    UringRing *r = opaque;

    if (this_ring == r)
        this_ring = NULL;
    if (r->queue_open)
        io_uring_queue_exit(&r->ring);
    g_free(r);
}

/* Hands the source to the loop; the pointer stays valid as long as the loop. */
static int uring_float(sd_event_source *s, const char *what)
{
    int ret = sd_event_source_set_floating(s, true);

    (void)sd_event_source_set_description(s, what);
    sd_event_source_unref(s);
    return ret;
}

static void uring_complete(UringRequest *req, int ret)
{
    req->ret = ret;
    req->done = true;
    if (req->co != coroutine_self())
        coroutine_enter(req->co);
}

static void uring_reap(UringRing *r)
{
    struct io_uring_cqe *cqes[URING_REAP_BATCH];
    UringRequest *reqs[URING_REAP_BATCH];
    int res[URING_REAP_BATCH];
    unsigned n;

    /* Advance the queue before entering anyone: a coroutine may reap again. */
    while ((n = io_uring_peek_batch_cqe(&r->ring, cqes, URING_REAP_BATCH)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            reqs[i] = io_uring_cqe_get_data(cqes[i]);
            res[i] = cqes[i]->res;
        }
        io_uring_cq_advance(&r->ring, n);
        r->in_flight -= n;
        for (unsigned i = 0; i < n; i++) {
            uring_complete(reqs[i], res[i]);
            co_queue_wake_next(&r->room);
        }
    }
}

static void uring_submit(UringRing *r)
{
    int ret = io_uring_submit(&r->ring);

    /* EAGAIN (no memory for now), EINTR: the entries stay queued; try again soon. */
    if (ret < 0)
        (void)sd_event_source_set_enabled(r->retry_source, SD_EVENT_ONESHOT);
}

static int uring_on_prepare(sd_event_source *s, void *userdata)
{
    UringRing *r = userdata;

    if (io_uring_sq_ready(&r->ring) > 0)
        uring_submit(r);
    return 0;
}

static int uring_on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    uring_reap(userdata);
    return 0;
}

static int uring_on_retry(sd_event_source *s, void *userdata)
{
    return 0;                   /* the next prepare submits */
}

static int uring_setup_sources(UringRing *r)
{
    sd_event_source *s;
    int ret;

    ret = sd_event_add_io(r->loop, &s, r->ring.ring_fd, EPOLLIN, uring_on_event, r);
    if (ret < 0)
        return ret;
    r->io_source = s;
    (void)sd_event_source_set_destroy_callback(s, uring_ring_free);
    ret = uring_float(s, "io-uring");
    if (ret >= 0)
        ret = sd_event_source_set_prepare(s, uring_on_prepare);
    if (ret < 0)
        return ret;
    ret = sd_event_add_defer(r->loop, &s, uring_on_retry, r);
    if (ret < 0)
        return ret;
    r->retry_source = s;
    (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
    return uring_float(s, "io-uring-retry");
}

/* Remembers a failed set-up for the loop, through a disabled floating source. */
static void uring_note_failure(UringRing *r, int err)
{
    sd_event_source *s;

    r->init_errno = err;
    if (sd_event_add_defer(r->loop, &s, uring_on_retry, NULL) < 0) {
        g_free(r);
        return;
    }
    (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
    (void)sd_event_source_set_destroy_callback(s, uring_ring_free);
    (void)sd_event_source_set_userdata(s, r);
    this_ring = r;
    (void)uring_float(s, "io-uring-unavailable");
}

int uring_loop_init(void)
{
    sd_event *loop = aio_loop();
    UringRing *r;
    int ret;

    if (this_ring && this_ring->loop == loop)
        return this_ring->init_errno;
    r = g_new0(UringRing, 1);
    r->loop = loop;
    co_queue_init(&r->room);
    ret = io_uring_queue_init(URING_ENTRIES, &r->ring, 0);
    if (ret < 0) {
        g_debug("io_uring is not available on this event loop: %s", g_strerror(-ret));
        uring_note_failure(r, ret);
        return ret;
    }
    r->queue_open = true;
    r->max_in_flight = r->ring.cq.ring_entries;
    this_ring = r;
    ret = uring_setup_sources(r);
    if (ret < 0 && !r->io_source) {
        this_ring = NULL;
        uring_ring_free(r);
    } else if (ret < 0) {
        /* The loop owns the ring already; it frees it with the io source. */
        r->init_errno = ret;
    }
    return ret < 0 ? ret : 0;
}

bool uring_loop_ready(void)
{
    return this_ring && this_ring->loop == aio_loop() && this_ring->init_errno == 0;
}

unsigned uring_loop_in_flight(void)
{
    return uring_loop_ready() ? this_ring->in_flight : 0;
}

/* A free submission entry once the completion queue has room; NULL: no ring here. */
static struct io_uring_sqe *coroutine_fn uring_co_get_sqe(UringRing **ret_ring)
{
    struct io_uring_sqe *sqe;
    UringRing *r;

    if (!coroutine_self() || uring_loop_init() < 0)
        return NULL;
    r = this_ring;
    for (;;) {
        while (r->in_flight >= r->max_in_flight)
            co_queue_wait(&r->room);
        sqe = io_uring_get_sqe(&r->ring);
        if (!sqe) {
            /* Full submission queue: send what is there now. */
            io_uring_submit(&r->ring);
            sqe = io_uring_get_sqe(&r->ring);
        }
        if (sqe)
            break;
        coroutine_yield_to_loop();      /* the kernel took none: try again later */
    }
    *ret_ring = r;
    return sqe;
}

static int coroutine_fn uring_co_wait(UringRing *r, struct io_uring_sqe *sqe)
{
    UringRequest req = { .co = coroutine_self() };

    io_uring_sqe_set_data(sqe, &req);
    r->in_flight++;
    while (!req.done)
        coroutine_yield();
    return req.ret;
}

static long coroutine_fn uring_co_rw_once(int fd, bool write, uint64_t offset,
                                          const struct iovec *iov, int niov, int rw_flags)
{
    UringRing *r = NULL;
    struct io_uring_sqe *sqe = uring_co_get_sqe(&r);

    if (!sqe)
        return -ENXIO;
    if (niov == 1 && write)
        io_uring_prep_write(sqe, fd, iov[0].iov_base, iov[0].iov_len, offset);
    else if (niov == 1)
        io_uring_prep_read(sqe, fd, iov[0].iov_base, iov[0].iov_len, offset);
    else if (write)
        io_uring_prep_writev(sqe, fd, iov, niov, offset);
    else
        io_uring_prep_readv(sqe, fd, iov, niov, offset);
    sqe->rw_flags = rw_flags;
    return uring_co_wait(r, sqe);
}

long coroutine_fn uring_co_rw(int fd, bool write, uint64_t offset, const struct iovec *iov,
                              int niov, int rw_flags)
{
    g_autofree struct iovec *copy = NULL;
    struct iovec *cur = (struct iovec *)iov;
    size_t bytes = 0, done = 0;

    for (int i = 0; i < niov; i++)
        bytes += iov[i].iov_len;
    while (done < bytes && niov > 0) {
        long n = uring_co_rw_once(fd, write, offset + done, cur, MIN(niov, IOV_MAX), rw_flags);

        if (n == -EINTR)
            continue;
        if (n < 0)
            return n;
        if (n == 0)
            return write ? -ENOSPC : (long)done;    /* end of file */
        done += (size_t)n;
        if (done < bytes) {
            /* Partial transfer: advance a private copy of the vector. */
            if (!copy)
                cur = copy = g_memdup2(cur, (size_t)niov * sizeof(*cur));
            niov = iovec_advance(&cur, niov, (size_t)n);
        }
    }
    return (long)done;
}

int coroutine_fn uring_co_fdatasync(int fd)
{
    UringRing *r = NULL;
    struct io_uring_sqe *sqe = uring_co_get_sqe(&r);

    if (!sqe)
        return -ENXIO;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    return uring_co_wait(r, sqe);
}

/* Linux 6.12's <linux/fs.h>, newer than the build's headers may be. */
#ifndef BLOCK_URING_CMD_DISCARD
#define BLOCK_URING_CMD_DISCARD _IO(0x12, 0)
#endif

typedef void UringRangePrep(struct io_uring_sqe *sqe, int fd, int mode, uint64_t offset,
                            uint64_t len);

/* Submits an operation on a range, again when the wait was interrupted. */
static int coroutine_fn uring_co_range(UringRangePrep *prep, int fd, int mode, uint64_t offset,
                                       uint64_t len)
{
    UringRing *r = NULL;
    struct io_uring_sqe *sqe;
    int ret;

    do {
        sqe = uring_co_get_sqe(&r);
        if (!sqe)
            return -ENXIO;
        prep(sqe, fd, mode, offset, len);
        ret = uring_co_wait(r, sqe);
    } while (ret == -EINTR);
    return ret;
}

static void prep_blk_discard(struct io_uring_sqe *sqe, int fd, int mode, uint64_t offset,
                             uint64_t len)
{
    io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
    sqe->cmd_op = BLOCK_URING_CMD_DISCARD;
    sqe->addr = offset;
    sqe->addr3 = len;
}

static void prep_fallocate(struct io_uring_sqe *sqe, int fd, int mode, uint64_t offset,
                           uint64_t len)
{
    io_uring_prep_fallocate(sqe, fd, mode, (off_t)offset, (off_t)len);
}

int coroutine_fn uring_co_blk_discard(int fd, uint64_t offset, uint64_t len)
{
    return uring_co_range(prep_blk_discard, fd, 0, offset, len);
}

int coroutine_fn uring_co_fallocate(int fd, int mode, uint64_t offset, uint64_t len)
{
    return uring_co_range(prep_fallocate, fd, mode, offset, len);
}
