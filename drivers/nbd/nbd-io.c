/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests of the nbd driver.  Each goes out as one libnbd command with
 * a completion callback; the coroutine yields until the answer comes (many
 * are in flight at once, told apart by libnbd's cookies).  A request that
 * the connection's loss ended is sent again once the link is back, while
 * reconnect-delay lasts; one the server answered with an error is not.
 */

#include <errno.h>
#include <string.h>

#include "drivers/nbd/nbd-int.h"

/* Zero and trim requests are split at this size (a 32-bit length on the wire, kept aligned). */
#define NBD_MAX_ZERO_REQUEST (1u << 30)
/* Block status asks about at most this much at once. */
#define NBD_MAX_STATUS_REQUEST (1u << 30)

void nbd_req_finish(NbdReq *req, int err)
{
    if (req->done)
        return;
    req->done = true;
    req->error = err;
    g_queue_unlink(&req->s->in_flight, &req->link);
    if (req->waiting)
        coroutine_wake(req->co);
}

static int nbd_req_complete(void *opaque, int *error)
{
    nbd_req_finish(opaque, *error);
    return 1;
}

static int nbd_req_extent(void *opaque, const char *metacontext, uint64_t offset,
                          uint32_t *entries, size_t nr_entries, int *error)
{
    NbdReq *req = opaque;

    if (!req->extent_seen && nr_entries >= 2 &&
        g_str_equal(metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION)) {
        req->extent_seen = true;
        req->extent_len = entries[0];
        req->extent_flags = entries[1];
    }
    return 0;
}

static int64_t nbd_req_submit(struct nbd_handle *h, NbdReq *req)
{
    nbd_completion_callback cb = { .callback = nbd_req_complete, .user_data = req };
    nbd_extent_callback ecb = { .callback = nbd_req_extent, .user_data = req };

    switch (req->type) {
    case NBD_REQ_READ:
        return nbd_aio_pread(h, req->buf, req->count, req->offset, cb, req->flags);
    case NBD_REQ_WRITE:
        return nbd_aio_pwrite(h, req->buf, req->count, req->offset, cb, req->flags);
    case NBD_REQ_FLUSH:
        return nbd_aio_flush(h, cb, req->flags);
    case NBD_REQ_TRIM:
        return nbd_aio_trim(h, req->count, req->offset, cb, req->flags);
    case NBD_REQ_ZERO:
        return nbd_aio_zero(h, req->count, req->offset, cb, req->flags);
    case NBD_REQ_BLOCK_STATUS:
        return nbd_aio_block_status(h, req->count, req->offset, ecb, cb, req->flags);
    }
    g_assert_not_reached();
}

/* Sends req once on the live connection and waits for its end. */
static void coroutine_fn nbd_req_send(NbdState *s, NbdReq *req)
{
    req->s = s;
    req->co = coroutine_self();
    req->done = false;
    req->error = 0;
    req->gen = s->gen;
    req->extent_seen = false;
    req->link = (GList){ .data = req };
    g_queue_push_tail_link(&s->in_flight, &req->link);
    if (nbd_req_submit(s->h, req) < 0) {
        int err = nbd_get_errno();
        nbd_req_finish(req, err ? err : EIO);
    }
    nbd_link_check(s);
    while (!req->done) {
        req->waiting = true;
        coroutine_yield();
        req->waiting = false;
    }
}

/* Runs req until the server answers it; resends it across reconnects. */
static int coroutine_fn nbd_req_run(NbdState *s, NbdReq *req)
{
    for (;;) {
        int r = nbd_link_co_wait(s);

        if (r < 0)
            return r;
        nbd_req_send(s, req);
        if (!req->error) {
            if (req->type != NBD_REQ_READ && req->type != NBD_REQ_FLUSH &&
                req->type != NBD_REQ_BLOCK_STATUS)
                s->writes_done++;
            return 0;
        }
        if (req->gen == s->gen && s->state == NBD_LINK_CONNECTED)
            return -req->error;     /* the server's answer */
    }
}

/* ---- the driver's operations ---- */

/* One read or write of at most caps.max_request bytes, from or into qiov at qoff. */
static int coroutine_fn nbd_co_rw_chunk(NbdState *s, NbdReq *req, IOVector *qiov, size_t qoff)
{
    g_autofree void *bounce = NULL;
    int r;

    if (qiov->niov == 1) {
        req->buf = (uint8_t *)qiov->iov[0].iov_base + qoff;
    } else {
        req->buf = bounce = g_malloc(req->count);
        if (req->type == NBD_REQ_WRITE)
            iov_to_buf(qiov, qoff, bounce, req->count);
    }
    r = nbd_req_run(s, req);
    if (r == 0 && bounce && req->type == NBD_REQ_READ)
        iov_from_buf(qiov, qoff, bounce, req->count);
    return r;
}

static int coroutine_fn nbd_co_rw(BlockNode *node, NbdReqType type, uint64_t offset,
                                  uint64_t bytes, IOVector *qiov, uint32_t flags)
{
    NbdState *s = node->opaque;
    size_t done = 0;

    while (done < bytes) {
        NbdReq req = { .type = type, .offset = offset + done, .flags = flags,
                       .count = MIN(bytes - done, s->caps.max_request) };
        int r = nbd_co_rw_chunk(s, &req, qiov, done);

        if (r < 0)
            return r;
        done += req.count;
    }
    return 0;
}

/*
 * A flush with nothing written since the last one is not sent: removing a
 * node whose server is away then does not wait for reconnect-delay.
 */
int coroutine_fn nbd_co_flush(BlockNode *node)
{
    NbdState *s = node->opaque;
    NbdReq req = { .type = NBD_REQ_FLUSH };
    uint64_t covers = s->writes_done;   /* a flush covers what was answered before it */
    int r;

    if (!s->caps.can_flush || s->writes_flushed == covers)
        return 0;
    r = nbd_req_run(s, &req);
    if (r == 0 && s->writes_flushed < covers)
        s->writes_flushed = covers;
    return r;
}

int coroutine_fn nbd_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                      IOVector *qiov, BlockReqFlags flags)
{
    return nbd_co_rw(node, NBD_REQ_READ, offset, bytes, qiov, 0);
}

int coroutine_fn nbd_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       IOVector *qiov, BlockReqFlags flags)
{
    NbdState *s = node->opaque;
    bool fua = flags & BLOCK_REQ_FUA;
    int r = nbd_co_rw(node, NBD_REQ_WRITE, offset, bytes, qiov,
                      fua && s->caps.can_fua ? LIBNBD_CMD_FLAG_FUA : 0);

    /* FUA the server does not offer: a flush after the write. */
    return r == 0 && fua && !s->caps.can_fua ? nbd_co_flush(node) : r;
}

/* Zero or trim, in pieces a 32-bit length can carry. */
static int coroutine_fn nbd_co_ranged(NbdState *s, NbdReqType type, uint64_t offset,
                                      uint64_t bytes, uint32_t flags)
{
    while (bytes > 0) {
        NbdReq req = { .type = type, .offset = offset, .flags = flags,
                       .count = MIN(bytes, NBD_MAX_ZERO_REQUEST) };
        int r = nbd_req_run(s, &req);

        if (r < 0)
            return r;
        offset += req.count;
        bytes -= req.count;
    }
    return 0;
}

int coroutine_fn nbd_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                             BlockReqFlags flags)
{
    NbdState *s = node->opaque;
    uint32_t nflags = 0;

    if (!s->caps.can_zero || ((flags & BLOCK_REQ_NO_FALLBACK) && !s->caps.can_fast_zero))
        return -ENOTSUP;
    if (!(flags & BLOCK_REQ_MAY_UNMAP))
        nflags |= LIBNBD_CMD_FLAG_NO_HOLE;
    if (flags & BLOCK_REQ_NO_FALLBACK)
        nflags |= LIBNBD_CMD_FLAG_FAST_ZERO;
    if ((flags & BLOCK_REQ_FUA) && s->caps.can_fua)
        nflags |= LIBNBD_CMD_FLAG_FUA;
    int r = nbd_co_ranged(s, NBD_REQ_ZERO, offset, bytes, nflags);
    return r == 0 && (flags & BLOCK_REQ_FUA) && !s->caps.can_fua ? nbd_co_flush(node) : r;
}

int coroutine_fn nbd_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    NbdState *s = node->opaque;

    return s->caps.can_trim ? nbd_co_ranged(s, NBD_REQ_TRIM, offset, bytes, 0) : -ENOTSUP;
}

static bool nbd_status_aligned(const NbdState *s, uint64_t offset, uint64_t bytes)
{
    return offset % s->caps.min_block == 0 && bytes % s->caps.min_block == 0;
}

int coroutine_fn nbd_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                            uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    NbdState *s = node->opaque;
    NbdReq req = { .type = NBD_REQ_BLOCK_STATUS, .offset = offset,
                   .count = MIN(bytes, NBD_MAX_STATUS_REQUEST), .flags = LIBNBD_CMD_FLAG_REQ_ONE };
    int r;

    *pnum = bytes;
    *map = offset;
    *file = node;
    if (!s->caps.can_block_status || !nbd_status_aligned(s, offset, req.count))
        return BLOCK_STATUS_DATA | BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
    r = nbd_req_run(s, &req);
    if (r < 0)
        return r;
    if (!req.extent_seen || req.extent_len == 0)
        return -EIO;        /* libnbd checks the reply; a server that sent none is broken */
    *pnum = MIN(req.extent_len, req.count);
    return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID |
           (req.extent_flags & LIBNBD_STATE_HOLE ? 0 : BLOCK_STATUS_DATA) |
           (req.extent_flags & LIBNBD_STATE_ZERO ? BLOCK_STATUS_ZERO : 0);
}
