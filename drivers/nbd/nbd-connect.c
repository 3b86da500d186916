/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One connection to an NBD server, made without blocking the loop: a
 * non-blocking socket whose connect(2) completes on the loop (host names
 * are resolved in the worker pool), then libnbd's handshake (fixed
 * newstyle, NBD_OPT_GO with block-size INFO, structured replies,
 * base:allocation) driven by the socket's readiness.
 */

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "aio/loop.h"
#include "aio/worker-pool.h"
#include "drivers/nbd/nbd-int.h"
#include "graph/error.h"

/* The largest read or write we send when the server names no limit (the protocol's usual 32 MiB). */
#define NBD_DEFAULT_MAX_REQUEST (32u << 20)

struct NbdWait {
    Coroutine *co;
    uint32_t revents;
    bool fired;
    bool cancelled;
};

uint64_t nbd_now_us(void)
{
    uint64_t now = 0;

    sd_event_now(aio_loop(), CLOCK_MONOTONIC, &now);
    return now;
}

static void nbd_wait_fire(NbdWait *w)
{
    if (w->fired)
        return;
    w->fired = true;
    coroutine_wake(w->co);
}

static int nbd_wait_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    NbdWait *w = userdata;

    w->revents = revents;
    nbd_wait_fire(w);
    return 0;
}

static int nbd_wait_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
    nbd_wait_fire(userdata);
    return 0;
}

int coroutine_fn nbd_co_wait_fd(NbdState *s, int fd, uint32_t events, uint64_t deadline_us)
{
    NbdWait w = { .co = coroutine_self() };
    sd_event_source *io = NULL, *timer = NULL;
    int r = 0;

    if (s->closing)
        return -ECANCELED;
    if (fd >= 0)
        r = sd_event_add_io(aio_loop(), &io, fd, events, nbd_wait_io, &w);
    if (r >= 0)
        r = sd_event_add_time(aio_loop(), &timer, CLOCK_MONOTONIC, deadline_us, 0,
                              nbd_wait_timer, &w);
    if (r >= 0) {
        s->wait = &w;
        coroutine_yield();
        s->wait = NULL;
    }
    sd_event_source_disable_unref(io);
    sd_event_source_disable_unref(timer);
    if (r < 0)
        return r;
    return w.cancelled ? -ECANCELED : (int)w.revents;
}

void nbd_wait_cancel(NbdState *s)
{
    if (!s->wait)
        return;
    s->wait->cancelled = true;
    nbd_wait_fire(s->wait);
}

/* ---- the socket ---- */

typedef struct NbdResolveJob {
    const char *host, *port;
    struct addrinfo *result;
    int gai_err;                /* getaddrinfo's answer */
    int sys_err;                /* errno, for EAI_SYSTEM */
} NbdResolveJob;

static long nbd_resolve_run(void *opaque)
{
    NbdResolveJob *job = opaque;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };

    job->gai_err = getaddrinfo(job->host, job->port, &hints, &job->result);
    job->sys_err = errno;
    return job->gai_err ? -EHOSTUNREACH : 0;
}

static const char *nbd_resolve_error(const NbdResolveJob *job)
{
    return job->gai_err == EAI_SYSTEM ? g_strerror(job->sys_err) : gai_strerror(job->gai_err);
}

/* connect(2) on a non-blocking socket, finished on the loop. */
static int coroutine_fn nbd_co_connect_addr(NbdState *s, const struct sockaddr *sa,
                                            socklen_t len, uint64_t deadline_us, int *ret_fd)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = 0, one = 1;
    socklen_t elen = sizeof(err);

    if (fd < 0)
        return -errno;
    if (sa->sa_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) < 0) {
        err = errno;
        if (err == EINPROGRESS) {
            int r = nbd_co_wait_fd(s, fd, EPOLLOUT, deadline_us);
            err = r < 0 ? -r : r == 0 ? ETIMEDOUT : 0;
            if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                err = errno;
        }
    }
    if (err) {
        close(fd);
        return -err;
    }
    *ret_fd = fd;
    return 0;
}

static int coroutine_fn nbd_co_socket(NbdState *s, uint64_t deadline_us, int *ret_fd,
                                      GError **errp)
{
    const NbdAddress *a = &s->addr;
    NbdResolveJob job = { .host = a->host, .port = a->port };
    long r;

    if (a->is_unix) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        g_strlcpy(sun.sun_path, a->path, sizeof(sun.sun_path));
        r = nbd_co_connect_addr(s, (struct sockaddr *)&sun, sizeof(sun), deadline_us, ret_fd);
        if (r < 0)
            g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Could not connect to '%s': %s",
                        a->path, g_strerror((int)-r));
        return (int)r;
    }
    r = worker_pool_co_run(nbd_resolve_run, &job);
    if (r < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Could not resolve '%s' port %s: %s",
                    a->host, a->port, nbd_resolve_error(&job));
        return -EHOSTUNREACH;
    }
    for (struct addrinfo *ai = job.result; ai; ai = ai->ai_next) {
        r = nbd_co_connect_addr(s, ai->ai_addr, ai->ai_addrlen, deadline_us, ret_fd);
        if (r == 0 || r == -ECANCELED)
            break;
    }
    freeaddrinfo(job.result);
    if (r < 0)
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Could not connect to '%s' port %s: %s",
                    a->host, a->port, g_strerror((int)-r));
    return (int)r;
}

/* ---- the handshake ---- */

static uint32_t nbd_direction_events(struct nbd_handle *h)
{
    unsigned dir = nbd_aio_get_direction(h);

    return (dir & LIBNBD_AIO_DIRECTION_READ ? EPOLLIN : 0) |
           (dir & LIBNBD_AIO_DIRECTION_WRITE ? EPOLLOUT : 0);
}

static struct nbd_handle *nbd_handle_new(NbdState *s, GError **errp)
{
    struct nbd_handle *h = nbd_create();

    if (!h || nbd_set_export_name(h, s->export_name) < 0 ||
        nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
        nbd_set_request_structured_replies(h, true) < 0 ||
        nbd_set_pread_initialize(h, false) < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_FAILED, "libnbd: %s", nbd_get_error());
        if (h)
            nbd_close(h);
        return NULL;
    }
    nbd_set_handle_name(h, s->node->name);
    return h;
}

/* Runs the handshake on h until it is ready, dead, or the time is up. */
static int coroutine_fn nbd_co_handshake(NbdState *s, struct nbd_handle *h,
                                         uint64_t deadline_us, GError **errp)
{
    while (nbd_aio_is_connecting(h)) {
        int r = nbd_co_wait_fd(s, nbd_aio_get_fd(h), nbd_direction_events(h), deadline_us);

        if (r <= 0) {
            g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "NBD handshake %s",
                        r == 0 ? "timed out" : "cancelled");
            return r == 0 ? -ETIMEDOUT : r;
        }
        if (r & (EPOLLIN | EPOLLHUP | EPOLLERR))
            nbd_aio_notify_read(h);
        else if (r & EPOLLOUT)
            nbd_aio_notify_write(h);
    }
    if (!nbd_aio_is_ready(h)) {
        const char *msg = nbd_get_error();
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "NBD handshake failed: %s",
                    msg ? msg : "the server closed the connection");
        return -EIO;
    }
    return 0;
}

static uint32_t nbd_block_size(struct nbd_handle *h, int which, uint32_t fallback)
{
    int64_t v = nbd_get_block_size(h, which);

    return v > 0 && v <= UINT32_MAX ? (uint32_t)v : fallback;
}

static void nbd_read_caps(struct nbd_handle *h, NbdExportCaps *c)
{
    int64_t size = nbd_get_size(h);

    c->size = size > 0 ? (uint64_t)size : 0;
    c->read_only = nbd_is_read_only(h) == 1;
    c->can_flush = nbd_can_flush(h) == 1;
    c->can_fua = nbd_can_fua(h) == 1;
    c->can_trim = nbd_can_trim(h) == 1;
    c->can_zero = nbd_can_zero(h) == 1;
    c->can_fast_zero = nbd_can_fast_zero(h) == 1;
    c->can_block_status = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
    c->min_block = nbd_block_size(h, LIBNBD_SIZE_MINIMUM, 1);
    c->max_request = MIN(nbd_block_size(h, LIBNBD_SIZE_MAXIMUM, NBD_DEFAULT_MAX_REQUEST),
                         NBD_DEFAULT_MAX_REQUEST);
    if (c->max_request < c->min_block)
        c->max_request = c->min_block;
}

int coroutine_fn nbd_co_connect(NbdState *s, uint64_t deadline_us, struct nbd_handle **ret_h,
                                NbdExportCaps *ret_caps, GError **errp)
{
    struct nbd_handle *h = NULL;
    int fd = -1;
    int r = nbd_co_socket(s, deadline_us, &fd, errp);

    if (r < 0)
        return r;
    h = nbd_handle_new(s, errp);
    if (!h) {
        close(fd);
        return -ENOMEM;
    }
    if (nbd_aio_connect_socket(h, fd) < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "libnbd: %s", nbd_get_error());
        close(fd);
        nbd_close(h);
        return -EIO;
    }
    r = nbd_co_handshake(s, h, deadline_us, errp);
    if (r < 0) {
        nbd_close(h);
        return r;
    }
    nbd_read_caps(h, ret_caps);
    *ret_h = h;
    return 0;
}
