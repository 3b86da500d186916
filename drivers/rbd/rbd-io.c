/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests of the rbd driver on librbd's asynchronous API.  librbd calls a
 * request's completion callback on a thread of its own: the callback only
 * queues the request and writes the node's eventfd; the loop thread then
 * resumes the request's coroutine.  librbd queues requests to its own
 * threads (rbd_non_blocking_aio, on by default), so submitting never waits
 * for the cluster.
 *
 * The eventfd is watched by the node's loop (an iothread's with
 * iothread=), where its requests run and resume; a request from the main
 * loop on a node of an iothread (a job's, a bus call's) is woken on the
 * main loop.
 */

#include <errno.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "aio/loop.h"
#include "aio/worker-pool.h"
#include "drivers/rbd/rbd-int.h"

typedef enum RbdOp {
    RBD_OP_READ,
    RBD_OP_WRITE,
    RBD_OP_ZEROES,
    RBD_OP_DISCARD,
    RBD_OP_FLUSH,
} RbdOp;

static const char *const rbd_op_names[] = {
    [RBD_OP_READ] = "read", [RBD_OP_WRITE] = "write", [RBD_OP_ZEROES] = "write-zeroes",
    [RBD_OP_DISCARD] = "discard", [RBD_OP_FLUSH] = "flush",
};

typedef struct RbdReq {
    Coroutine *co;
    AioLoop *loop;              /* co's: the node's, or the main loop's (a job, a bus call) */
    RbdCompletions *completions;
    GList link;                 /* in completions->done */
    ssize_t ret;
    bool done;
} RbdReq;

/* ---- completions ---- */

/* On a librbd thread. */
static void rbd_req_cb(rbd_completion_t comp, void *arg)
{
    RbdReq *req = arg;
    RbdCompletions *c = req->completions;
    uint64_t one = 1;

    req->ret = rbd_aio_get_return_value(comp);
    rbd_aio_release(comp);
    /* The write under the lock: once unlocked, the loop may free c. */
    g_mutex_lock(&c->lock);
    if (g_queue_is_empty(&c->done) && write(c->efd, &one, sizeof(one)) < 0)
        g_warning("rbd: could not signal a completion: %s", g_strerror(errno));
    g_queue_push_tail_link(&c->done, &req->link);
    g_mutex_unlock(&c->lock);
}

static int rbd_on_completions(sd_event_source *source, int fd, uint32_t revents,
                              void *userdata)
{
    RbdCompletions *c = userdata;
    GQueue done;
    uint64_t count;
    GList *l;

    /* Read first: a completion queued after the swap below signals again. */
    if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return 0;
    g_mutex_lock(&c->lock);
    done = c->done;
    g_queue_init(&c->done);
    g_mutex_unlock(&c->lock);
    while ((l = g_queue_pop_head_link(&done))) {
        RbdReq *req = l->data;

        req->done = true;
        if (req->loop == aio_loop_self())
            coroutine_enter(req->co);
        else
            coroutine_wake(req->co);        /* posted to its own loop */
    }
    return 0;
}

int rbd_completions_new(AioLoop *loop, RbdCompletions **ret)
{
    g_autofree RbdCompletions *c = g_new0(RbdCompletions, 1);
    int r;

    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->efd < 0)
        return -errno;
    r = sd_event_add_io(aio_loop_event(loop), &c->source, c->efd, EPOLLIN, rbd_on_completions,
                        c);
    if (r < 0) {
        close(c->efd);
        return r;
    }
    (void)sd_event_source_set_description(c->source, "rbd-completions");
    g_mutex_init(&c->lock);
    g_queue_init(&c->done);
    *ret = g_steal_pointer(&c);
    return 0;
}

/* Nothing is in flight any more (the node is drained before close). */
void rbd_completions_free(RbdCompletions *c)
{
    if (!c)
        return;
    g_mutex_lock(&c->lock);       /* the last callback has let go of it */
    g_mutex_unlock(&c->lock);
    sd_event_source_disable_unref(c->source);
    close(c->efd);
    g_mutex_clear(&c->lock);
    g_free(c);
}

/* ---- requests ---- */

static int rbd_start(RbdState *s, RbdOp op, uint64_t offset, uint64_t bytes, IOVector *qiov,
                     int zero_flags, rbd_completion_t comp)
{
    switch (op) {
    case RBD_OP_READ:
        return rbd_aio_readv(s->h.image, qiov->iov, qiov->niov, offset, comp);
    case RBD_OP_WRITE:
        return rbd_aio_writev(s->h.image, qiov->iov, qiov->niov, offset, comp);
    case RBD_OP_ZEROES:
        return rbd_aio_write_zeroes(s->h.image, offset, bytes, comp, zero_flags, 0);
    case RBD_OP_DISCARD:
        return rbd_aio_discard(s->h.image, offset, bytes, comp);
    case RBD_OP_FLUSH:
        return rbd_aio_flush(s->h.image, comp);
    }
    g_assert_not_reached();
}

/*
 * A failed request: said once per node (a dead cluster fails them all).
 * The cluster's own errors (a timeout, a connection shut down) become EIO.
 */
static int rbd_request_error(RbdState *s, RbdOp op, uint64_t offset, int r)
{
    if (!s->warned) {
        s->warned = true;
        g_warning("Node '%s': rbd %s at offset %" G_GUINT64_FORMAT " of '%s' failed: %s%s",
                  s->node->name, rbd_op_names[op], offset, s->spec, g_strerror(-r),
                  " (further failures are not logged)");
    }
    return r == -EROFS || r == -ENOSPC || r == -EINVAL || r == -ENOMEM ? r : -EIO;
}

static int coroutine_fn rbd_co_request(BlockNode *node, RbdOp op, uint64_t offset,
                                       uint64_t bytes, IOVector *qiov, int zero_flags)
{
    RbdState *s = node->opaque;
    RbdReq req = {
        .co = coroutine_self(), .loop = aio_loop_self(), .completions = s->completions,
    };
    rbd_completion_t comp;
    int r;

    req.link.data = &req;
    r = rbd_aio_create_completion(&req, rbd_req_cb, &comp);
    if (r < 0)
        return rbd_request_error(s, op, offset, r);
    r = rbd_start(s, op, offset, bytes, qiov, zero_flags, comp);
    if (r < 0) {
        rbd_aio_release(comp);
        return rbd_request_error(s, op, offset, r);
    }
    while (!req.done)
        coroutine_yield();
    if (req.ret < 0)
        return rbd_request_error(s, op, offset, (int)req.ret);
    if (op == RBD_OP_READ && (uint64_t)req.ret < bytes)
        iov_memset(qiov, (size_t)req.ret, 0, bytes - (size_t)req.ret);
    return 0;
}

/* librbd takes an iovec array of exactly the request's length. */
static int coroutine_fn rbd_co_rw(BlockNode *node, RbdOp op, uint64_t offset, uint64_t bytes,
                                  IOVector *qiov)
{
    IOVector slice;
    int r;

    if (qiov->size == bytes)
        return rbd_co_request(node, op, offset, bytes, qiov, 0);
    iov_init(&slice, qiov->niov);
    iov_concat_slice(&slice, qiov, 0, bytes);
    r = rbd_co_request(node, op, offset, bytes, &slice, 0);
    iov_destroy(&slice);
    return r;
}

int coroutine_fn rbd_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                               IOVector *qiov, BlockReqFlags flags)
{
    return rbd_co_rw(node, RBD_OP_READ, offset, bytes, qiov);
}

/* librbd has no FUA: the write, then a flush. */
int coroutine_fn rbd_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags)
{
    int r = rbd_co_rw(node, RBD_OP_WRITE, offset, bytes, qiov);

    if (r == 0 && (flags & BLOCK_REQ_FUA))
        r = rbd_co_flush(node);
    return r;
}

/* Without MAY_UNMAP the zeroes stay allocated (thick), as QEMU asks librbd. */
int coroutine_fn rbd_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                      BlockReqFlags flags)
{
    int zflags = (flags & BLOCK_REQ_MAY_UNMAP) ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION;
    int r = rbd_co_request(node, RBD_OP_ZEROES, offset, bytes, NULL, zflags);

    if (r == 0 && (flags & BLOCK_REQ_FUA))
        r = rbd_co_flush(node);
    return r;
}

int coroutine_fn rbd_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    return rbd_co_request(node, RBD_OP_DISCARD, offset, bytes, NULL, 0);
}

/*
 * Once the node took the exclusive lock and let it go again, librbd
 * refuses a flush without it (EROFS); there is nothing to flush then:
 * every write ran under the lock, and letting it go flushed them.
 */
int coroutine_fn rbd_co_flush(BlockNode *node)
{
    RbdState *s = node->opaque;

    if (s->lock_taken_once && !s->lock_held)
        return 0;
    return rbd_co_request(node, RBD_OP_FLUSH, 0, 0, NULL, 0);
}

/* From the object map (rbd_diff_iterate2, in the worker pool). */
int coroutine_fn rbd_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                     uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    RbdState *s = node->opaque;
    RbdImageJob job = {
        .image = s->h.image, .offset = offset, .bytes = bytes, .object_size = s->object_size,
    };

    worker_pool_co_run(rbd_job_block_status, &job);
    *pnum = job.pnum;
    *map = offset;
    *file = node;
    return BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID |
           (job.allocated ? BLOCK_STATUS_DATA : BLOCK_STATUS_ZERO);
}
