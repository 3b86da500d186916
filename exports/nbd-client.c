/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An NBD connection.  One coroutine per connection negotiates and then reads
 * requests; every request runs in a coroutine of its own, so many are in
 * flight at once; replies go out under send_lock so that they never
 * interleave.  The socket is non-blocking and watched edge-triggered: a
 * coroutine waits only after the kernel said EAGAIN.
 */

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "aio/iov.h"
#include "aio/loop.h"
#include "exports/nbd-client.h"
#include "graph/io.h"

static int client_on_io(sd_event_source *s, int fd, uint32_t revents, void *opaque)
{
    NbdClient *c = opaque;
    Coroutine *reader = NULL;
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (c->read_waiter)
            reader = g_steal_pointer(&c->read_waiter);
        else
            c->read_ready = true;   /* the edge is gone: the next wait must not sleep */
    }
    if ((revents & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->write_waiter)
        coroutine_wake(g_steal_pointer(&c->write_waiter));
    /*
     * The reader is entered right here rather than scheduled (one loop
     * iteration less per batch).  It may end the connection and free c, so
     * c is not touched after this.
     */
    if (reader)
        coroutine_enter(reader);
    return 0;
}

#define CLIENT_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLET)

/*
 * The socket is in the epoll set only while a coroutine waits on it, and
 * EPOLLOUT only while a writer waits.  While the reader is busy with a
 * batch, every send of the client would otherwise run our epoll callback
 * in the client's own system call: on 4k writes that was ~4 % of fio's
 * time, and fio is the bottleneck there.  Adding the socket again before
 * a wait reports data that came meanwhile (epoll checks readiness then).
 */
static void client_watch_update(NbdClient *c)
{
    if (!c->read_waiter && !c->write_waiter && !c->hold_watch) {
        sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
        return;
    }
    uint32_t events = CLIENT_EVENTS | (c->write_waiter ? EPOLLOUT : 0), now = 0;
    int enabled = SD_EVENT_OFF;
    sd_event_source_get_enabled(c->source, &enabled);
    sd_event_source_get_io_events(c->source, &now);
    /* sd-event calls epoll_ctl on every set_io_events of an edge-triggered source */
    if (enabled == SD_EVENT_OFF || now != events)
        sd_event_source_set_io_events(c->source, events);
    sd_event_source_set_enabled(c->source, SD_EVENT_ON);
}

/*
 * Sends have a deadline: a client that takes nothing from its socket for
 * NBD_SEND_TIMEOUT_US while a reply waits is cut off, and once it has been
 * told to stop (hard removal, shutdown) it gets NBD_CLOSE_TIMEOUT_US to
 * take the replies still owed to it.  Otherwise a client that stops
 * reading would keep its export (and SIGTERM) waiting forever.
 */
#define NBD_SEND_TIMEOUT_US  (300 * G_USEC_PER_SEC)
#define NBD_CLOSE_TIMEOUT_US (2 * G_USEC_PER_SEC)

/* Arms the send deadline usec from now, unless it is armed to come sooner. */
static void client_send_deadline(NbdClient *c, uint64_t usec)
{
    uint64_t now, at;
    int enabled = SD_EVENT_OFF;
    /* The connection's loop, which may be an iothread (shutdown comes from the main loop). */
    if (sd_event_now(sd_event_source_get_event(c->send_timer), CLOCK_MONOTONIC, &now) < 0)
        return;
    sd_event_source_get_enabled(c->send_timer, &enabled);
    if (enabled != SD_EVENT_OFF && sd_event_source_get_time(c->send_timer, &at) >= 0 &&
        at <= now + usec)
        return;
    sd_event_source_set_time(c->send_timer, now + usec);
    sd_event_source_set_enabled(c->send_timer, SD_EVENT_ONESHOT);
}

static int client_on_send_timeout(sd_event_source *s, uint64_t usec, void *opaque)
{
    NbdClient *c = opaque;
    g_message("nbd: export '%s': client took no reply data for %u s, disconnecting",
              c->export ? c->export->id : "(none)",
              (unsigned)((c->quit ? NBD_CLOSE_TIMEOUT_US : NBD_SEND_TIMEOUT_US) / G_USEC_PER_SEC));
    c->dead = true;
    nbd_client_shutdown(c);
    return 0;
}

/* Waits for readiness; -ESHUTDOWN when the client is told to stop. */
static int coroutine_fn client_co_wait(NbdClient *c, bool write)
{
    if (write ? c->dead : c->quit)
        return -ESHUTDOWN;
    if (write) {
        c->write_waiter = coroutine_self();
        client_send_deadline(c, c->quit ? NBD_CLOSE_TIMEOUT_US : NBD_SEND_TIMEOUT_US);
    } else if (c->read_ready) {
        c->read_ready = false;
        return 0;       /* data came while the reader was busy and the socket watched */
    } else {
        c->read_waiter = coroutine_self();
    }
    client_watch_update(c);
    coroutine_yield();
    if (write)
        sd_event_source_set_enabled(c->send_timer, SD_EVENT_OFF);
    client_watch_update(c);
    return (write ? c->dead : c->quit) ? -ESHUTDOWN : 0;
}

/*
 * Before the reader sleeps it spins for up to c->poll_ns, as
 * QEMU's event loop polls before it blocks: a client with a pipeline of
 * requests sends the next ones within microseconds of our replies, and
 * catching them here saves the sleep and wake-up of the whole loop.  The
 * time adapts as QEMU's does: when the reader slept less than the cap
 * (c->poll_max_ns), spinning would have caught the data and poll_ns grows;
 * when it slept longer, spinning is dropped until a short sleep again.  The
 * spin asks poll(), not recv(): a recv() takes the socket's lock, the one
 * the client's send needs to queue its data, and spinning on it made the
 * client's every send contend with us.  Only
 * while nothing of this client is in flight (no completion waits behind the
 * spin) and nothing is left to send, and only while this is the one client
 * in transmission: spinning on one socket would keep the loop from the others.
 *
 * The cap is longer for a client that sent one request since the reader
 * last ran out of input (queue depth 1): its next request comes only after
 * our reply woke it, a round trip of 35-50 µs on a VM, and a sleep and
 * wake-up of ours on top doubled it (4k random reads at qd1: p50 55 µs,
 * 15k IOPS with the short cap, 22 µs and 37k IOPS with the long one, for
 * 30 % more CPU per request; docs/nbd.md).  A pipelining client keeps
 * the short cap, so that its loop leaves the CPU sooner to others.
 */
#define NBD_POLL_MAX_NS     32000
#define NBD_POLL_MAX_QD1_NS 64000
#define NBD_POLL_START_NS   4000

static atomic_uint transmitting_clients;     /* of every loop */

static const char *client_where(const NbdClient *c)
{
    return c->where;
}

/* A TLS error ends the connection: the log says which (errno kept). */
static void client_log_tls_error(NbdClient *c)
{
    int err = errno;
    if (err == EPROTO)
        g_message("nbd: %s%s%s: TLS error, disconnecting: %s",
                  c->export ? "export '" : "client on ", c->export ? c->export->id : "",
                  c->export ? "'" : client_where(c), nbd_tls_last_error(c->tls));
    errno = err;
}

/* recv(2), or the TLS session's: the same results either way. */
static ssize_t client_recv(NbdClient *c, void *buf, size_t len)
{
    if (!c->tls)
        return recv(c->fd, buf, len, 0);
    ssize_t r = nbd_tls_recv(c->tls, buf, len);
    if (r < 0)
        client_log_tls_error(c);
    return r;
}

/* Spins until the socket is readable, then recv(); -1/EAGAIN at the end of the spin. */
static ssize_t client_poll_recv(NbdClient *c, void *buf, size_t len, int64_t *t)
{
    int64_t t0 = aio_now_ns();
    *t = t0;
    c->poll_max_ns = c->reqs_since_idle <= 1 ? NBD_POLL_MAX_QD1_NS : NBD_POLL_MAX_NS;
    c->reqs_since_idle = 0;
    c->poll_ns = MIN(c->poll_ns, c->poll_max_ns);
    if (c->in_flight || c->obuf_len || atomic_load(&transmitting_clients) > 1) {
        errno = EAGAIN;     /* the flush before may have yielded and changed errno */
        return -1;
    }
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };
    while (*t - t0 < c->poll_ns) {
        if (poll(&pfd, 1, 0) != 0) {
            ssize_t r = client_recv(c, buf, len);
            if (r >= 0 || errno != EAGAIN)
                return r;
        }
        *t = aio_now_ns();
    }
    errno = EAGAIN;
    return -1;
}

static void client_poll_adapt(NbdClient *c, int64_t slept_ns)
{
    if (slept_ns > c->poll_max_ns)
        c->poll_ns = 0;
    else if (slept_ns > c->poll_ns && c->poll_ns < c->poll_max_ns)
        c->poll_ns = MIN(MAX(c->poll_ns * 2, NBD_POLL_START_NS), c->poll_max_ns);
}

/*
 * Where a read puts what it receives: recv_fn(c, opaque, spin, t) is one
 * recv(2) into it, after client_poll_recv's spin when asked (*t: when the
 * spin ended), with recv's result and errno.  Into memory (ClientRecvBuf),
 * or into the image itself (client_recv_into_node).
 */
typedef ssize_t coroutine_fn ClientRecvFn(NbdClient *c, void *opaque, bool spin, int64_t *t);

typedef struct ClientRecvBuf {
    void *dst;
    size_t want;
} ClientRecvBuf;

static ssize_t coroutine_fn client_recv_buf(NbdClient *c, void *opaque, bool spin, int64_t *t)
{
    ClientRecvBuf *b = opaque;

    if (spin)
        return client_poll_recv(c, b->dst, b->want, t);
    c->read_ready = false;      /* this recv() takes what the events said */
    return client_recv(c, b->dst, b->want);
}

/*
 * One step of a read: a recv() through recv_fn and, once the socket is
 * empty (or *drained: the last recv() came back short, so it took all the
 * socket held and the next would only say EAGAIN), the replies batched
 * meanwhile pushed out, the spin, and the wait for data.  Data coming
 * meanwhile is not missed: the epoll set reports it, or it is there when
 * the socket is added again.  Returns the bytes received, -EAGAIN when
 * there are none yet (step again), -EPIPE at the end of the stream, or
 * another negative errno.
 */
static ssize_t coroutine_fn client_co_recv_step(NbdClient *c, bool *drained,
                                                ClientRecvFn *recv_fn, void *opaque)
{
    ssize_t r = -1;
    int64_t t = 0;

    if (*drained)
        errno = EAGAIN;
    else
        r = recv_fn(c, opaque, false, NULL);
    *drained = false;
    if (r < 0 && errno == EAGAIN) {
        nbd_client_co_flush_idle(c);
        r = recv_fn(c, opaque, true, &t);
        if (r < 0 && errno == EAGAIN) {
            int ret = client_co_wait(c, false);
            if (ret < 0)
                return ret;
            client_poll_adapt(c, aio_now_ns() - t);
            return -EAGAIN;
        }
    }
    if (r > 0)
        return r;
    if (r == 0)
        return -EPIPE;
    return errno == EINTR ? -EAGAIN : -errno;
}

static int coroutine_fn client_co_read(NbdClient *c, void *buf, size_t len);

/*
 * A large payload (a 1 MiB write) comes in several pieces: the client's
 * socket send buffer holds less, so the client sends again only after we
 * took the last piece.  For that time the socket stays in the epoll set
 * (not removed and added around each wait: ~10 epoll_ctl per 1 MiB write
 * down to ~2).
 */
int coroutine_fn nbd_client_co_read(NbdClient *c, void *buf, size_t len)
{
    if (len < NBD_RBUF_SIZE / 2)
        return client_co_read(c, buf, len);
    c->hold_watch = true;
    int ret = client_co_read(c, buf, len);
    c->hold_watch = false;
    client_watch_update(c);
    return ret;
}

static int coroutine_fn client_co_read(NbdClient *c, void *buf, size_t len)
{
    uint8_t *p = buf;
    bool drained = false;
    while (len) {
        if (c->rend > c->rstart) {
            size_t n = MIN(len, c->rend - c->rstart);
            memcpy(p, c->rbuf + c->rstart, n);
            c->rstart += n;
            p += n;
            len -= n;
            continue;
        }
        if (c->quit)
            return -ESHUTDOWN;
        bool direct = len >= NBD_RBUF_SIZE / 2;
        ClientRecvBuf dst = { direct ? p : c->rbuf, direct ? len : NBD_RBUF_SIZE };
        ssize_t r = client_co_recv_step(c, &drained, client_recv_buf, &dst);
        if (r == -EAGAIN)
            continue;
        if (r < 0)
            return (int)r;
        if (direct) {
            /* A short read into a payload (~4 recv() per 1 MiB write, not 8). */
            drained = !c->tls && (size_t)r < dst.want;
            p += r;
            len -= (size_t)r;
        } else {
            c->rstart = 0;
            c->rend = (size_t)r;
        }
    }
    return 0;
}

/* Copies the first bytes of iov (up to one record) into c->tls_stage. */
static size_t client_tls_stage(NbdClient *c, const struct iovec *iov, int niov)
{
    size_t n = 0;
    if (!c->tls_stage)
        c->tls_stage = g_malloc(NBD_TLS_RECORD_SIZE);
    for (int i = 0; i < niov && n < NBD_TLS_RECORD_SIZE; i++) {
        size_t k = MIN(iov[i].iov_len, NBD_TLS_RECORD_SIZE - n);
        memcpy(c->tls_stage + n, iov[i].iov_base, k);
        n += k;
    }
    return n;
}

/*
 * The TLS send: a record at a time.  Small pieces (a reply header before
 * its data) are gathered into one record rather than each sent in its
 * own.  After EAGAIN the same bytes are offered again, as GnuTLS requires:
 * iov has not moved, so staging it again gives the same record.
 */
static int coroutine_fn client_co_sendv_tls(NbdClient *c, struct iovec *iov, int niov)
{
    while (niov > 0) {
        if (c->dead)
            return -ESHUTDOWN;
        const void *p = iov->iov_base;
        size_t n = iov->iov_len;
        if (n < NBD_TLS_RECORD_SIZE && niov > 1) {
            n = client_tls_stage(c, iov, niov);
            p = c->tls_stage;
        }
        ssize_t r = nbd_tls_send(c->tls, p, n);
        if (r < 0 && errno == EAGAIN) {
            int ret = client_co_wait(c, true);
            if (ret < 0)
                return ret;
        } else if (r < 0 && errno != EINTR) {
            client_log_tls_error(c);
            int err = errno;
            c->dead = true;
            nbd_client_shutdown(c);
            return -err;
        } else if (r >= 0) {
            niov = iovec_advance(&iov, niov, (size_t)r);
        }
    }
    return 0;
}

int coroutine_fn nbd_client_co_sendv(NbdClient *c, struct iovec *iov, int niov, bool more)
{
    if (c->tls)
        return client_co_sendv_tls(c, iov, niov);
    while (niov > 0) {
        if (c->dead)
            return -ESHUTDOWN;
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
        ssize_t r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                c->dead = true;
                nbd_client_shutdown(c);
                return -errno;
            }
            int ret = client_co_wait(c, true);
            if (ret < 0)
                return ret;
            continue;
        }
        niov = iovec_advance(&iov, niov, (size_t)r);
    }
    return 0;
}

ssize_t nbd_client_sendfile(NbdClient *c, int fd, uint64_t offset, size_t len, bool *eof)
{
    off_t pos = (off_t)offset;
    size_t sent = 0;
    *eof = false;
    while (sent < len && !c->dead) {
        ssize_t r = sendfile(c->fd, fd, &pos, len - sent);
        if (r > 0) {
            sent += (size_t)r;
        } else if (r == 0) {
            *eof = true;
            break;
        } else if (errno == EAGAIN) {
            break;
        } else if (errno != EINTR) {
            int err = errno;
            c->dead = true;
            nbd_client_shutdown(c);
            return -err;
        }
    }
    return c->dead ? -ESHUTDOWN : (ssize_t)sent;
}

static int coroutine_fn client_co_send(NbdClient *c, const void *buf, size_t len)
{
    struct iovec iov = { (void *)buf, len };
    return nbd_client_co_sendv(c, &iov, 1, false);
}

void nbd_client_shutdown(NbdClient *c)
{
    c->quit = true;
    /* In the handshake no reply is owed: a writer stuck on a client that does not read may go. */
    if (!c->in_transmission)
        c->dead = true;
    if (c->read_waiter)
        coroutine_wake(g_steal_pointer(&c->read_waiter));
    if (c->dead && c->write_waiter)
        coroutine_wake(g_steal_pointer(&c->write_waiter));
    else if (c->write_waiter)
        client_send_deadline(c, NBD_CLOSE_TIMEOUT_US);
}

void nbd_client_listener_gone(NbdClient *c)
{
    c->listener = NULL;
    if (!c->in_transmission)
        nbd_client_shutdown(c);
}

/* ---- handshake --------------------------------------------------------------- */

static bool neg_lookup(void *opaque, const char *name, NbdExportInfo *ret)
{
    NbdClient *c = opaque;
    Export *e = nbd_listener_find_export(c->listener, name);
    if (!e || e->removing)
        return false;
    *ret = (NbdExportInfo){ .name = e->name, .description = e->description,
                            .size = e->child->node->size, .writable = e->writable,
                            .full = e->n_clients >= e->limits.max_connections,
                            .bitmaps = (const char *const *)e->bitmap_names,
                            .bitmaps_gone = export_bitmaps_gone(e) };
    return true;
}

static void neg_list(void *opaque, void (*add)(const char *, const char *, void *), void *ctx)
{
    NbdClient *c = opaque;
    for (guint i = 0; c->listener && i < c->listener->exports->len; i++) {
        Export *e = c->listener->exports->pdata[i];
        if (!e->removing)
            add(e->name, e->description, ctx);
    }
}

static const NbdNegotiationOps neg_ops = { .lookup = neg_lookup, .list = neg_list };

static int coroutine_fn client_co_flush_out(NbdClient *c, NbdNegotiation *neg)
{
    int ret = neg->out->len ? client_co_send(c, neg->out->data, neg->out->len) : 0;
    g_byte_array_set_size(neg->out, 0);
    return ret;
}

/*
 * After the ACK to NBD_OPT_STARTTLS: the TLS handshake, as far as the
 * socket allows each time.  False (close) when it fails.  A client must
 * wait for the ACK before it starts TLS: bytes already read behind the
 * option would be plain text smuggled into the TLS session, so they end
 * the connection.
 */
static bool coroutine_fn client_co_start_tls(NbdClient *c)
{
    g_autoptr(GError) err = NULL;
    if (c->rend > c->rstart) {
        g_message("nbd: client on %s sent data behind NBD_OPT_STARTTLS, disconnecting",
                  client_where(c));
        return false;
    }
    if (!c->listener || !c->listener->tls)
        return false;
    c->tls = nbd_tls_session_new(c->listener->tls, c->fd, &err);
    int ret = c->tls ? -EAGAIN : -EIO;
    while (ret == -EAGAIN) {
        bool want_write = false;
        ret = nbd_tls_handshake(c->tls, &want_write, &err);
        if (ret == -EAGAIN && client_co_wait(c, want_write) < 0)
            return false;
    }
    if (ret < 0)
        g_message("nbd: client on %s: %s", client_where(c), err->message);
    return ret == 0;
}

/* Runs option haggling; true when the client entered transmission on an export. */
static bool coroutine_fn client_co_negotiate(NbdClient *c)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &neg_ops, c);
    neg.tls_required = c->listener && c->listener->tls;
    nbd_negotiation_greeting(&neg);
    uint8_t hdr[16];
    g_autofree uint8_t *data = NULL;
    bool ok = client_co_flush_out(c, &neg) == 0 && nbd_client_co_read(c, hdr, 4) == 0 &&
              nbd_negotiation_client_flags(&neg, hdr);
    NbdNegResult res = NBD_NEG_CONTINUE;
    while (ok && res == NBD_NEG_CONTINUE) {
        uint32_t opt, len;
        if (nbd_client_co_read(c, hdr, sizeof(hdr)) < 0 ||
            !nbd_option_header_parse(hdr, &opt, &len))
            break;
        data = g_realloc(data, len ? len : 1);
        if (nbd_client_co_read(c, data, len) < 0)
            break;
        res = nbd_negotiation_option(&neg, opt, data, len);
        ok = client_co_flush_out(c, &neg) == 0;
        if (ok && res == NBD_NEG_STARTTLS) {
            ok = neg.tls_active = client_co_start_tls(c);
            res = NBD_NEG_CONTINUE;
        }
    }
    Export *e = NULL;
    if (ok && res == NBD_NEG_TRANSMIT && !c->quit)
        e = nbd_listener_find_export(c->listener, neg.export_name);
    if (e && e->n_clients >= e->limits.max_connections)
        e = NULL;   /* another client took the last place while our reply went out */
    if (e) {
        c->structured = neg.structured;
        c->meta_base_allocation = neg.meta_base_allocation;
        c->meta_bitmaps = neg.meta_bitmaps;
        c->size = neg.info.size;
        c->in_transmission = true;
        atomic_fetch_add(&transmitting_clients, 1);
        export_client_attached(e, c);
        c->export = e;
    }
    nbd_negotiation_clear(&neg);
    return e != NULL;
}

/* ---- transmission ------------------------------------------------------------ */

static NbdReq *client_req_alloc(NbdClient *c)
{
    NbdReq *r = c->free_reqs;
    if (r)
        c->free_reqs = r->next_free;
    else
        r = g_new(NbdReq, 1);
    *r = (NbdReq){ .client = c };
    return r;
}

/* Reads and drops `len` payload bytes of a refused request. */
static int coroutine_fn client_co_skip(NbdClient *c, uint32_t len)
{
    uint8_t scratch[4096];
    while (len) {
        uint32_t n = MIN(len, (uint32_t)sizeof(scratch));
        int ret = nbd_client_co_read(c, scratch, n);
        if (ret < 0)
            return ret;
        len -= n;
    }
    return 0;
}

/*
 * A ClientRecvFn: up to len payload bytes straight into the image at off
 * (node_co_map_write), the nodes held only for the recv().  ENOTSUP when
 * the graph cannot map the range now.
 */
typedef struct ClientRecvNode {
    uint64_t off;
    size_t len;
} ClientRecvNode;

static ssize_t coroutine_fn client_recv_into_node(NbdClient *c, void *opaque, bool spin,
                                                  int64_t *t)
{
    ClientRecvNode *n = opaque;
    BlockWriteMap m;
    if (!node_co_map_write(c->export->child, n->off, n->len, true, &m)) {
        errno = ENOTSUP;
        return -1;
    }
    ClientRecvBuf into_map = { m.mem, n->len };
    ssize_t r = client_recv_buf(c, &into_map, spin, t);
    int err = errno;
    node_map_write_end(&m, r > 0 ? (uint64_t)r : 0);
    errno = err;
    return r;
}

/*
 * Whether a WRITE's payload is received straight into the image: a large
 * one (the one copy saved is worth the mapping), not over TLS (decrypted
 * in user space), not FUA (a write-through the normal path does with
 * RWF_DSYNC), where the graph maps the range to memory now.
 */
static bool coroutine_fn client_co_can_receive_into_node(NbdClient *c, const NbdRequest *req,
                                                         uint32_t payload)
{
    BlockWriteMap m;
    if (req->type != NBD_CMD_WRITE || payload < NBD_RBUF_SIZE / 2 || c->tls ||
        (req->flags & NBD_CMD_FLAG_FUA))
        return false;
    if (!node_co_map_write(c->export->child, req->offset, payload, false, &m))
        return false;
    node_map_write_end(&m, 0);
    return true;
}

/*
 * A WRITE's payload of len bytes at off received straight into the image
 * (client_co_can_receive_into_node): one copy by the kernel, socket to page
 * cache, instead of one into a buffer and another out of it.  Each piece
 * the socket holds is a write of its own, so a client that stops sending
 * halfway holds no drain back.  What the read buffer already holds, and the
 * rest once the graph cannot map it (drained and reopened meanwhile, a
 * file shrunk by another program: EFAULT), is written the normal way,
 * which also reports the error.  *write_ret: the write's result, its first
 * error.  Returns 0 once the payload is consumed, or a negative errno when
 * the connection failed.
 */
static int coroutine_fn client_co_receive_into_node(NbdClient *c, uint64_t off, uint32_t len,
                                                    int *write_ret)
{
    BlockChild *child = c->export->child;
    size_t head = MIN(len, c->rend - c->rstart);
    *write_ret = head ? node_co_pwrite(child, off, head, c->rbuf + c->rstart, 0) : 0;
    c->rstart += head;
    off += head;
    len -= head;

    int ret = 0;
    bool drained = false;
    c->hold_watch = true;
    while (len && *write_ret == 0) {
        if (c->quit) {
            ret = -ESHUTDOWN;
            break;
        }
        ClientRecvNode dst = { off, len };
        ssize_t r = client_co_recv_step(c, &drained, client_recv_into_node, &dst);
        if (r == -EAGAIN)
            continue;
        if (r == -ENOTSUP || r == -EFAULT)
            break;      /* the rest the normal way */
        if (r < 0) {
            ret = (int)r;
            break;
        }
        drained = (size_t)r < len;
        off += (uint64_t)r;
        len -= (uint32_t)r;
    }
    c->hold_watch = false;
    client_watch_update(c);
    if (ret < 0 || len == 0)
        return ret;
    if (*write_ret < 0)
        return client_co_skip(c, len);
    void *buf = nbd_buffer_get(len);
    ret = nbd_client_co_read(c, buf, len);
    if (ret == 0)
        *write_ret = node_co_pwrite(child, off, len, buf, 0);
    nbd_buffer_put(buf, len);
    return ret;
}

/* Bytes of data a request holds while it runs: its write payload or read buffer. */
static uint64_t request_cost(const NbdRequest *req, uint32_t error)
{
    if (error)
        return 0;       /* a refused payload is read into a scratch buffer and dropped */
    switch (req->type) {
    case NBD_CMD_WRITE:
    case NBD_CMD_READ:
        return req->length;
    case NBD_CMD_CACHE:
        return MIN(req->length, NBD_CACHE_CHUNK);
    default:
        return 0;
    }
}

/*
 * Waits until the connection may hold cost more bytes: the socket is not
 * read meanwhile, so a client that queues large writes to a slow node
 * waits in its own send, not in our memory.  One request is always let
 * in.  False when the client is told to stop meanwhile.
 */
static bool coroutine_fn client_co_wait_for_room(NbdClient *c, uint64_t cost)
{
    uint64_t max = c->export->limits.max_in_flight_bytes;
    while (c->in_flight && c->in_flight_bytes + cost > max && !c->quit)
        co_queue_wait(&c->slot_waiters);
    return !c->quit;
}

/* Reads one request with its payload; NULL ends the receive loop. */
static NbdReq *coroutine_fn client_co_receive(NbdClient *c)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    NbdRequest req;
    if (nbd_client_co_read(c, hdr, sizeof(hdr)) < 0)
        return NULL;
    if (!nbd_request_decode(hdr, &req)) {
        g_message("nbd: export '%s': bad request magic, disconnecting client", c->export->id);
        return NULL;
    }
    NbdRequestLimits lim = { .size = c->size,
                             .writable = c->export->writable, .structured = c->structured,
                             .meta_base_allocation = c->meta_base_allocation,
                             .meta_bitmaps = c->meta_bitmaps };
    uint32_t payload;
    NbdReq *r = client_req_alloc(c);
    r->req = req;
    r->error = nbd_request_check(&req, &lim, &payload);
    r->cost = request_cost(&req, r->error);
    /* told to stop while waiting: the request is dropped unread */
    int ret = client_co_wait_for_room(c, r->cost) ? 0 : -ESHUTDOWN;
    c->in_flight_bytes += r->cost;
    if (ret == 0 && payload && r->error) {
        ret = client_co_skip(c, payload);
    } else if (ret == 0 && payload && client_co_can_receive_into_node(c, &req, payload)) {
        r->written = true;
        ret = client_co_receive_into_node(c, req.offset, payload, &r->write_ret);
    } else if (ret == 0 && payload) {
        r->buf_size = payload;
        r->buf = nbd_buffer_get(payload);
        ret = nbd_client_co_read(c, r->buf, payload);
    }
    if (ret < 0 || req.type == NBD_CMD_DISC) {
        c->in_flight_bytes -= r->cost;
        nbd_buffer_put(r->buf, r->buf_size);
        r->next_free = c->free_reqs;
        c->free_reqs = r;
        return NULL;
    }
    return r;
}

static void coroutine_fn client_co_transmit(NbdClient *c)
{
    while (!c->quit) {
        while (c->in_flight >= NBD_MAX_IN_FLIGHT && !c->quit)
            co_queue_wait(&c->slot_waiters);
        NbdReq *r = c->quit ? NULL : client_co_receive(c);
        if (!r)
            break;
        c->in_flight++;
        c->reqs_since_idle++;
        coroutine_start(nbd_request_run, r);
        /* A client that keeps sending would keep its loop in one dispatch. */
        if (aio_loop_yield_wanted())
            coroutine_yield_to_loop();
    }
    c->quit = true;
    /* In-flight requests finish and reply (hard removal loses no acknowledged write). */
    while (c->in_flight)
        co_queue_wait(&c->slot_waiters);
    nbd_client_co_drain_replies(c);
}

static void client_free(NbdClient *c)
{
    if (c->listener)
        c->listener->clients = g_list_remove(c->listener->clients, c);
    sd_event_source_disable_unref(c->source);
    sd_event_source_disable_unref(c->handshake_timer);
    sd_event_source_disable_unref(c->send_timer);
    nbd_client_send_destroy(c);
    if (c->tls && !c->dead)
        nbd_tls_bye(c->tls);
    nbd_tls_session_free(c->tls);
    g_free(c->tls_stage);
    close(c->fd);
    while (c->free_reqs) {
        NbdReq *r = c->free_reqs;
        c->free_reqs = r->next_free;
        g_free(r);
    }
    g_free(c->rbuf);
    g_free(c->where);
    g_free(c);
}

/* A client that does not finish the handshake in time is dropped (as qemu-nbd). */
static uint64_t handshake_timeout_us = 30 * G_USEC_PER_SEC;

void nbd_set_handshake_timeout_us(uint64_t usec)
{
    handshake_timeout_us = usec;
}

static int client_on_handshake_timeout(sd_event_source *s, uint64_t usec, void *opaque)
{
    NbdClient *c = opaque;
    g_message("nbd: client on %s did not finish the handshake in time, disconnecting",
              client_where(c));
    nbd_client_shutdown(c);
    return 0;
}

/* The socket's sources on loop (edge-triggered, off until a coroutine waits). */
static int client_watch(NbdClient *c, sd_event *loop)
{
    int r = sd_event_add_io(loop, &c->source, c->fd, CLIENT_EVENTS, client_on_io, c);
    if (r >= 0)
        r = sd_event_add_time(loop, &c->send_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
                              client_on_send_timeout, c);
    if (r >= 0)
        r = sd_event_source_set_enabled(c->send_timer, SD_EVENT_OFF);
    if (r >= 0)
        r = nbd_client_send_init(c, loop);
    return r;
}

/*
 * After the handshake, a client of an export on an iothread moves there:
 * its sources go to that loop (the main loop, dispatching, holds it) and
 * it leaves the listener's list, which other loops' clients share.
 */
static bool client_move_to(NbdClient *c, AioLoop *l)
{
    g_assert(!c->read_waiter && !c->write_waiter && !c->obuf_len);
    c->source = sd_event_source_disable_unref(c->source);
    c->send_timer = sd_event_source_disable_unref(c->send_timer);
    c->flush_source = sd_event_source_disable_unref(c->flush_source);
    if (c->listener)
        c->listener->clients = g_list_remove(c->listener->clients, c);
    c->listener = NULL;
    if (client_watch(c, aio_loop_event(l)) < 0) {
        g_warning("nbd: cannot move a client on %s to iothread '%s'", c->where, aio_loop_name(l));
        return false;
    }
    sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
    return true;
}

static void coroutine_fn client_co_serve(NbdClient *c)
{
    client_co_transmit(c);
    atomic_fetch_sub(&transmitting_clients, 1);
    Export *e = c->export;
    c->export = NULL;
    export_client_detached(e, c);
}

static void client_serve_entry(void *opaque)
{
    client_co_serve(opaque);
    client_free(opaque);
}

static void client_serve_start(void *opaque)
{
    coroutine_start(client_serve_entry, opaque);
}

static void client_run(void *opaque)
{
    NbdClient *c = opaque;
    bool ok = client_co_negotiate(c);
    c->handshake_timer = sd_event_source_disable_unref(c->handshake_timer);
    if (ok && c->export->loop != aio_loop_self()) {
        AioLoop *l = c->export->loop;
        if (client_move_to(c, l)) {
            aio_loop_call(l, client_serve_start, c);
            return;
        }
        c->quit = c->dead = true;   /* serve nothing: detach and close */
    }
    if (ok)
        client_co_serve(c);
    client_free(c);
}

void nbd_client_new(NbdListener *l, int fd)
{
    NbdClient *c = g_new0(NbdClient, 1);
    c->listener = l;
    c->where = g_strdup(l->key);
    c->fd = fd;
    /*
     * Room for a few 1 MiB replies in the kernel: fewer partial sends and
     * EPOLLOUT waits for large reads (capped by net.core.wmem_max/rmem_max).
     */
    int bufsize = 2 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    c->rbuf = g_malloc(NBD_RBUF_SIZE);
    co_mutex_init(&c->send_lock);
    co_queue_init(&c->slot_waiters);
    if (client_watch(c, aio_loop()) < 0 ||
        sd_event_add_time_relative(aio_loop(), &c->handshake_timer, CLOCK_MONOTONIC,
                                   handshake_timeout_us, 0, client_on_handshake_timeout, c) < 0) {
        g_warning("nbd: cannot watch a new client socket on %s", l->key);
        client_free(c);
        return;
    }
    l->clients = g_list_prepend(l->clients, c);
    coroutine_start(client_run, c);
}
