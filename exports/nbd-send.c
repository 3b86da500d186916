/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reply batching.  Small replies (headers, 4k reads) are copied into the
 * client's output buffer and go out together in one sendmsg: when the
 * buffer holds NBD_BATCH_REPLIES of them, when the reader runs out of
 * input, or from a defer source after the loop has run the requests that
 * completed in this round; large replies are sent at once with
 * whatever is buffered in front of them.  The buffer being sent (sbuf) and
 * the one being filled (obuf) are swapped under send_lock, so a reply is
 * never interleaved with another.
 */

#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "exports/nbd-client.h"

#define NBD_OBUF_CAP       (256 * 1024)
#define NBD_SMALL_REPLY    (32 * 1024)
/*
 * A batch goes out once it holds this many replies, without waiting for
 * the reader to run out of input: the client works on the first replies
 * while the rest are made.  Sent only at the end, a queue of 32 requests
 * made client and server take turns, each idle while the other worked
 * (docs/nbd.md, "Reply batches").
 */
#define NBD_BATCH_REPLIES  8

static void coroutine_fn client_flush_entry(void *opaque)
{
    NbdClient *c = opaque;
    co_mutex_lock(&c->send_lock);
    nbd_client_co_flush_locked(c, NULL, 0, false);
    co_mutex_unlock(&c->send_lock);
    c->flushers--;
}

static int client_on_flush(sd_event_source *s, void *opaque)
{
    NbdClient *c = opaque;
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    if (c->obuf_len && !c->closing) {
        c->flushers++;
        coroutine_start(client_flush_entry, c);
    }
    return 0;
}

int nbd_client_send_init(NbdClient *c, sd_event *loop)
{
    /* obuf and sbuf come with the first batched reply: negotiating costs nothing */
    int r = sd_event_add_defer(loop, &c->flush_source, client_on_flush, c);
    if (r < 0)
        return r;
    /*
     * Normal priority: pending sources of one priority run in the order they
     * became pending, so the flush follows the completions of this round
     * and no stream of other events can starve it.
     */
    return sd_event_source_set_enabled(c->flush_source, SD_EVENT_OFF);
}

void nbd_client_send_destroy(NbdClient *c)
{
    sd_event_source_disable_unref(c->flush_source);
    g_free(c->obuf);
    g_free(c->sbuf);
}

/* With send_lock held: sends what is buffered, then iov; more: data follows at once. */
int coroutine_fn nbd_client_co_flush_locked(NbdClient *c, const struct iovec *iov, int niov,
                                            bool more)
{
    struct iovec v[8];
    int n = 0;
    size_t pending = c->obuf_len;
    if (pending) {
        uint8_t *tmp = c->sbuf;
        c->sbuf = c->obuf;
        c->obuf = tmp;
        c->obuf_len = 0;
        c->obuf_replies = 0;
        sd_event_source_set_enabled(c->flush_source, SD_EVENT_OFF);
        v[n++] = (struct iovec){ c->sbuf, pending };
    }
    for (int i = 0; i < niov && n < (int)G_N_ELEMENTS(v); i++)
        v[n++] = iov[i];
    return n ? nbd_client_co_sendv(c, v, n, more) : 0;
}

int coroutine_fn nbd_client_reply(NbdClient *c, const struct iovec *iov, int niov)
{
    size_t total = 0;
    for (int i = 0; i < niov; i++)
        total += iov[i].iov_len;
    if (c->dead)
        return -ESHUTDOWN;
    if (total <= NBD_SMALL_REPLY && c->obuf_len + total <= NBD_OBUF_CAP) {
        if (!c->obuf)
            c->obuf = g_malloc(NBD_OBUF_CAP);
        for (int i = 0; i < niov; i++) {
            memcpy(c->obuf + c->obuf_len, iov[i].iov_base, iov[i].iov_len);
            c->obuf_len += iov[i].iov_len;
        }
        sd_event_source_set_enabled(c->flush_source, SD_EVENT_ONESHOT);
        if (++c->obuf_replies >= NBD_BATCH_REPLIES && !c->send_lock.locked) {
            co_mutex_lock(&c->send_lock);
            nbd_client_co_flush_locked(c, NULL, 0, false);
            co_mutex_unlock(&c->send_lock);
        }
        return 0;
    }
    co_mutex_lock(&c->send_lock);
    int ret = nbd_client_co_flush_locked(c, iov, niov, false);
    co_mutex_unlock(&c->send_lock);
    return ret;
}

void coroutine_fn nbd_client_co_flush_idle(NbdClient *c)
{
    if (!c->obuf_len || c->send_lock.locked)
        return;     /* a sender is busy; the flush source follows up */
    co_mutex_lock(&c->send_lock);
    nbd_client_co_flush_locked(c, NULL, 0, false);
    co_mutex_unlock(&c->send_lock);
}

void coroutine_fn nbd_client_co_drain_replies(NbdClient *c)
{
    c->closing = true;
    co_mutex_lock(&c->send_lock);      /* after any flusher already started */
    nbd_client_co_flush_locked(c, NULL, 0, false);
    co_mutex_unlock(&c->send_lock);
    while (c->flushers)
        coroutine_yield_to_loop();
}
