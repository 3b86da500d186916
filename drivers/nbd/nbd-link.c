/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The live connection on the loop, and what happens when it drops.
 *
 * libnbd tells which way the socket must become ready next; one io source
 * follows that and feeds the readiness back (nbd_aio_notify_*), which runs
 * the completion callbacks of the answered requests.
 *
 * When the connection dies, the requests on it end with ENOTCONN and a
 * coroutine reconnects in the background, with a growing pause between
 * attempts, for as long as the node is open.  For reconnect-delay seconds
 * after the loss (NBD_LINK_WAIT) requests wait and are sent again on the
 * new connection; after that (NBD_LINK_DOWN) they fail with EIO at once
 * until a reconnect succeeds, as QEMU's nbd driver does.
 */

#include <errno.h>
#include <sys/epoll.h>

#include "aio/loop.h"
#include "drivers/nbd/nbd-int.h"
#include "graph/error.h"

#define NBD_RECONNECT_PAUSE_MIN_US (50 * 1000)
#define NBD_RECONNECT_PAUSE_MAX_US (2 * 1000 * 1000)
/* One attempt (connect and handshake) gives up after this long. */
#define NBD_ATTEMPT_TIMEOUT_US     (10 * 1000 * 1000)

static void nbd_link_lost(NbdState *s, const char *why);

static void nbd_link_set_state(NbdState *s, NbdLinkState state)
{
    s->state = state;
    co_queue_wake_all(&s->link_waiters);
}

static int nbd_link_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    NbdState *s = userdata;

    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
        nbd_aio_notify_read(s->h);
    if ((revents & EPOLLOUT) && !nbd_aio_is_dead(s->h))
        nbd_aio_notify_write(s->h);
    nbd_link_check(s);
    return 0;
}

void nbd_link_start(NbdState *s, struct nbd_handle *h)
{
    int r;

    s->h = h;
    s->gen++;
    s->io_events = EPOLLIN;
    r = sd_event_add_io(aio_loop(), &s->io, nbd_aio_get_fd(h), s->io_events, nbd_link_io, s);
    if (r < 0)
        g_error("Node '%s': could not watch the NBD socket: %s", s->node->name, g_strerror(-r));
    sd_event_source_set_description(s->io, "nbd-client");
    s->delay_timer = sd_event_source_disable_unref(s->delay_timer);
    nbd_link_set_state(s, NBD_LINK_CONNECTED);
    nbd_link_check(s);
}

void nbd_link_check(NbdState *s)
{
    unsigned dir;
    uint32_t events;

    if (!s->h)
        return;
    if (nbd_aio_is_dead(s->h) || nbd_aio_is_closed(s->h)) {
        nbd_link_lost(s, nbd_get_error());
        return;
    }
    dir = nbd_aio_get_direction(s->h);
    events = (dir & LIBNBD_AIO_DIRECTION_READ ? EPOLLIN : 0) |
             (dir & LIBNBD_AIO_DIRECTION_WRITE ? EPOLLOUT : 0);
    if (events != s->io_events && sd_event_source_set_io_events(s->io, events) >= 0)
        s->io_events = events;
}

static void nbd_link_drop(NbdState *s)
{
    s->io = sd_event_source_disable_unref(s->io);
    if (s->h)
        nbd_close(s->h);
    s->h = NULL;
    /* What libnbd did not answer ends here: nothing is sent on that socket any more. */
    while (!g_queue_is_empty(&s->in_flight))
        nbd_req_finish(g_queue_peek_head(&s->in_flight), ENOTCONN);
}

static int nbd_link_delay_over(sd_event_source *src, uint64_t usec, void *userdata)
{
    NbdState *s = userdata;

    s->delay_timer = sd_event_source_disable_unref(s->delay_timer);
    if (s->state == NBD_LINK_WAIT) {
        g_warning("Node '%s': NBD server not back within reconnect-delay: requests fail "
                  "until it is", s->node->name);
        nbd_link_set_state(s, NBD_LINK_DOWN);
    }
    return 0;
}

/* ---- reconnecting ---- */

static int coroutine_fn nbd_link_co_attempt(NbdState *s, GError **errp)
{
    struct nbd_handle *h = NULL;
    NbdExportCaps caps = { 0 };
    int r = nbd_co_connect(s, nbd_now_us() + NBD_ATTEMPT_TIMEOUT_US, &h, &caps, errp);

    if (r < 0)
        return r;
    /* Requests were sized and checked for the old export: it must be the same one. */
    if (caps.size != s->caps.size || (caps.read_only && s->node->writable)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "the export changed (size %" G_GUINT64_FORMAT
                    " instead of %" G_GUINT64_FORMAT "%s)", caps.size, s->caps.size,
                    caps.read_only && s->node->writable ? ", now read-only" : "");
        nbd_close(h);
        return -EIO;
    }
    s->caps = caps;
    nbd_link_start(s, h);
    return 0;
}

static void coroutine_fn nbd_link_reconnect_entry(void *opaque)
{
    NbdState *s = opaque;
    uint64_t pause = NBD_RECONNECT_PAUSE_MIN_US;
    g_autofree char *last = NULL;

    while (!s->closing) {
        g_autoptr(GError) err = NULL;

        if (nbd_link_co_attempt(s, &err) == 0 && s->h) {
            g_message("Node '%s': reconnected to the NBD server", s->node->name);
            break;
        }
        if (err && !s->closing && g_strcmp0(last, err->message) != 0) {
            g_message("Node '%s': reconnecting: %s", s->node->name, err->message);
            g_free(last);
            last = g_strdup(err->message);
        }
        nbd_co_wait_fd(s, -1, 0, nbd_now_us() + pause);
        pause = MIN(pause * 2, NBD_RECONNECT_PAUSE_MAX_US);
    }
    s->reconnect_co = NULL;
    co_queue_wake_all(&s->reconnect_done);
}

static void nbd_link_lost(NbdState *s, const char *why)
{
    g_warning("Node '%s': lost the connection to the NBD server: %s", s->node->name,
              why ? why : "closed");
    nbd_link_drop(s);
    if (s->reconnect_delay_us && !s->delay_timer) {
        int r = sd_event_add_time_relative(aio_loop(), &s->delay_timer, CLOCK_MONOTONIC,
                                           s->reconnect_delay_us, 0, nbd_link_delay_over, s);
        nbd_link_set_state(s, r >= 0 ? NBD_LINK_WAIT : NBD_LINK_DOWN);
    } else {
        nbd_link_set_state(s, NBD_LINK_DOWN);
    }
    if (!s->reconnect_co && !s->closing) {
        s->reconnect_co = coroutine_create(nbd_link_reconnect_entry, s);
        coroutine_wake(s->reconnect_co);
    }
}

int coroutine_fn nbd_link_co_wait(NbdState *s)
{
    while (s->state == NBD_LINK_WAIT && !s->closing)
        co_queue_wait(&s->link_waiters);
    return s->state == NBD_LINK_CONNECTED && s->h ? 0 : -EIO;
}

void coroutine_fn nbd_link_co_close(NbdState *s)
{
    s->closing = true;
    s->delay_timer = sd_event_source_disable_unref(s->delay_timer);
    nbd_link_set_state(s, s->state == NBD_LINK_CONNECTED ? s->state : NBD_LINK_DOWN);
    while (s->reconnect_co) {
        nbd_wait_cancel(s);
        co_queue_wait(&s->reconnect_done);
    }
    if (s->h && nbd_aio_is_ready(s->h))
        nbd_aio_disconnect(s->h, 0);
    nbd_link_drop(s);
}
