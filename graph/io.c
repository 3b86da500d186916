/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checked request path: every driver call goes through here.
 */

#include <errno.h>
#include <string.h>

#include "graph/bitmap.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/io.h"
#include "graph/write-track.h"

#define ZERO_CHUNK (1024 * 1024)
static const uint8_t zero_chunk[ZERO_CHUNK];

/*
 * The parent node a request comes from, or NULL for an outside user (export,
 * job, the daemon itself).
 */
static const BlockNode *requester_of(const BlockChild *c)
{
    return c->user_kind == BLOCK_USER_NODE ? c->parent : NULL;
}

/* The requests the running coroutine holds (ReqHold, graph/io.h): the innermost. */
static ReqHold **holds(void)
{
    return (ReqHold **)coroutine_local();
}

/*
 * Whether a new request to node waits: node is drained and the request is
 * not part of a draining.  It is when it comes from a drained parent node
 * (the draining operation's own work, such as a format writing its caches
 * back while a reopen holds it and its file), and when it is part of a
 * request in flight on a drained node: that node's drain waits for it, so
 * it must not wait for a drain in turn (a reopen draining a copy's target,
 * then its source, would wait for itself).  New requests from outside
 * users (exports, jobs, the daemon) wait.
 */
static bool held_back(const BlockNode *node, const BlockNode *requester)
{
    if (node->quiesce_counter == 0 || (requester && requester->quiesce_counter > 0))
        return false;
    for (const ReqHold *h = *holds(); h; h = h->outer)
        if (h->node->quiesce_counter > 0)
            return false;
    return true;
}

/*
 * Waits for a drain of node to end.  Meanwhile every node the coroutine
 * holds a request on lists it, so that a drain beginning there wakes it to
 * look again (it is part of that drain's work then).
 */
static void coroutine_fn wait_drained(BlockNode *node)
{
    ReqHold *top = *holds();

    for (ReqHold *h = top; h; h = h->outer) {
        h->waits_at = node;
        h->link = (GList){ .data = h };
        g_queue_push_tail_link(&h->node->held_waits, &h->link);
    }
    co_queue_wait(&node->quiesce_waiters);
    for (ReqHold *h = top; h; h = h->outer)
        g_queue_unlink(&h->node->held_waits, &h->link);
}

/* A drain of node begins: requests in flight on it that wait at another drain go on. */
static void release_held_waits(BlockNode *node)
{
    for (GList *l = node->held_waits.head; l; l = l->next)
        co_queue_wake_all(&((ReqHold *)l->data)->waits_at->quiesce_waiters);
}

/* Begins a request on node, held by the running coroutine until req_end(h). */
static void coroutine_fn req_begin(BlockNode *node, const BlockNode *requester, ReqHold *h)
{
    while (held_back(node, requester))
        wait_drained(node);
    node->in_flight++;
    h->node = node;
    h->outer = *holds();
    *holds() = h;
}

/*
 * The node a request through c goes to, once it need not wait.  A pivot
 * (graph_co_replace_node) may move c to another node while the request
 * waits out the drain of the old one: it then goes to the new one.  Called
 * right before req_begin, with no yield between, so req_begin does not
 * wait again.
 */
static BlockNode *coroutine_fn link_node(const BlockChild *c)
{
    while (held_back(c->node, requester_of(c)))
        wait_drained(c->node);
    return c->node;
}

void coroutine_fn node_co_wait_undrained(const BlockChild *c)
{
    link_node(c);
}

bool node_link_held_back(const BlockChild *c)
{
    return held_back(c->node, requester_of(c));
}

/* One request fewer on node; the last wakes its drainers. */
static void coroutine_fn node_request_done(BlockNode *node)
{
    if (--node->in_flight == 0) {
        co_queue_wake_all(&node->idle_waiters);
        if (node->failure)
            node_co_finish_failure(node);
    }
}

static void coroutine_fn req_end(ReqHold *h)
{
    g_assert(*holds() == h);
    *holds() = h->outer;
    node_request_done(h->node);
}

void coroutine_fn node_co_hold_begin(const BlockChild *c, ReqHold *h)
{
    BlockNode *node = link_node(c);

    req_begin(node, requester_of(c), h);
}

void coroutine_fn node_hold_end(ReqHold *h)
{
    req_end(h);
}

void node_add_write_observer(BlockNode *node, WriteObserver *o)
{
    node->write_observers = g_list_prepend(node->write_observers, o);
}

void node_remove_write_observer(BlockNode *node, WriteObserver *o)
{
    node->write_observers = g_list_remove(node->write_observers, o);
}

static void observe(WriteObserver *o, const WriteEvent *w)
{
    if (o->written)
        o->written(o, w->offset, w->bytes);
}

/* The observers after the write; the list may change while a co_written yields. */
static void coroutine_fn notify_written(BlockNode *node, const WriteEvent *w)
{
    g_autoptr(GList) hooks = NULL;

    for (GList *l = node->write_observers; l; l = l->next) {
        WriteObserver *o = l->data;

        if (o->co_written)
            hooks = g_list_prepend(hooks, o);
        else
            observe(o, w);
    }
    for (GList *l = hooks; l; l = l->next)
        if (g_list_find(node->write_observers, l->data))
            ((WriteObserver *)l->data)->co_written(l->data, w);
}

/* The end of every write: dirty bitmaps, observers, tracking, the request count. */
static int coroutine_fn write_end(ReqHold *h, WriteTrack *track, WriteEvent *ev, int r)
{
    BlockNode *node = h->node;

    node_bitmaps_mark(node, ev->offset, ev->bytes);
    ev->ret = r;
    notify_written(node, ev);
    write_track_end(node, track);
    req_end(h);
    return r;
}

/* The before-write hooks; the list may change while one yields. */
static int coroutine_fn before_write(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    g_autoptr(GList) hooks = NULL;

    for (GList *l = node->write_observers; l; l = l->next)
        if (((WriteObserver *)l->data)->before_write)
            hooks = g_list_prepend(hooks, l->data);
    for (GList *l = hooks; l; l = l->next) {
        WriteObserver *o = l->data;
        int r;

        if (!g_list_find(node->write_observers, o))
            continue;       /* removed meanwhile */
        r = o->before_write(o, offset, bytes);
        if (r < 0)
            return r;
    }
    return 0;
}

void coroutine_fn node_co_range_lock_start(BlockNode *node)
{
    node->range_lockers++;
    /* Writes that began untracked finish first. */
    node_co_drain_begin(node);
    node_drain_end(node);
}

void node_range_lock_stop(BlockNode *node)
{
    g_assert(node->range_lockers > 0);
    node->range_lockers--;
}

void coroutine_fn node_co_range_lock_reads_start(BlockNode *node)
{
    node->read_lockers++;
    node_co_range_lock_start(node);     /* its drain lets untracked reads finish too */
}

void node_range_lock_reads_stop(BlockNode *node)
{
    g_assert(node->read_lockers > 0);
    node->read_lockers--;
    node_range_lock_stop(node);
}

void coroutine_fn node_co_range_lock(BlockChild *c, WriteTrack *t, uint64_t offset,
                                     uint64_t bytes)
{
    g_assert(c->node->range_lockers > 0);
    write_track_begin(c->node, t, offset, bytes, true, c);
    t->range_lock = true;
}

void node_range_unlock(BlockChild *c, WriteTrack *t)
{
    write_track_end(c->node, t);
}

void coroutine_fn node_co_drain_begin(BlockNode *node)
{
    if (node->quiesce_counter++ == 0 && node->drv->drain_begin)
        node->drv->drain_begin(node);
    release_held_waits(node);
    while (node->in_flight > 0)
        co_queue_wait(&node->idle_waiters);
}

void node_drain_end(BlockNode *node)
{
    g_assert(node->quiesce_counter > 0);
    if (--node->quiesce_counter > 0)
        return;
    if (node->drv->drain_end)
        node->drv->drain_end(node);
    co_queue_wake_all(&node->quiesce_waiters);
}

static int check_range(const BlockNode *node, uint64_t offset, uint64_t bytes)
{
    if (node->failure)
        return -EIO;
    if (offset > node->size || bytes > node->size - offset)
        return -EINVAL;
    return 0;
}

static int check_write(const BlockChild *c, uint64_t offset, uint64_t bytes)
{
    if (!(c->perm & (BLOCK_PERM_WRITE | BLOCK_PERM_WRITE_UNCHANGED)))
        return -EPERM;
    if (!c->node->writable)
        return -EROFS;
    if (!c->node->active)
        return -EPERM;
    return check_range(c->node, offset, bytes);
}

/*
 * Starts a request on node: waits out a drain, then checks the request
 * against the node as it is now (a reopen during the drain may have moved
 * or shrunk a window, made the node read-only or inactive, or failed it).
 * writer: the link a write comes through, NULL for reads.  On an error the
 * request has not begun.  Every request is checked here, once.
 */
static int coroutine_fn req_begin_checked(BlockNode *node, const BlockNode *requester,
                                          const BlockChild *writer, uint64_t offset,
                                          uint64_t bytes, ReqHold *h)
{
    req_begin(node, requester, h);
    int r = writer ? check_write(writer, offset, bytes) : check_range(node, offset, bytes);
    if (r < 0)
        req_end(h);         /* a failed node finishes switching drivers here */
    return r;
}

static bool is_aligned(const BlockNode *node, uint64_t offset, uint64_t bytes)
{
    return node->request_alignment <= 1 ||
           (offset % node->request_alignment == 0 && bytes % node->request_alignment == 0);
}

/* Reads or writes an unaligned range through an aligned bounce buffer. */
static int coroutine_fn bounce_rw(BlockNode *node, uint64_t offset, uint64_t bytes,
                                  IOVector *qiov, BlockReqFlags flags, bool write)
{
    uint64_t align = node->request_alignment;
    uint64_t start = offset / align * align;
    uint64_t end = MIN((offset + bytes + align - 1) / align * align, node->size);
    uint8_t *buf = g_aligned_alloc(1, end - start, MAX(align, 4096));
    IOVector bounce;
    int r;

    iov_init_buf(&bounce, buf, end - start);
    r = node->drv->co_preadv(node, start, end - start, &bounce, 0);
    if (r >= 0 && !write)
        iov_from_buf(qiov, 0, buf + (offset - start), bytes);
    if (r >= 0 && write) {
        iov_to_buf(qiov, 0, buf + (offset - start), bytes);
        r = node->drv->co_pwritev(node, start, end - start, &bounce, flags);
    }
    g_aligned_free(buf);    /* not g_free: aligned memory has its own release */
    return r;
}

/* The driver's read or write, through the bounce buffer where the node needs alignment. */
static int coroutine_fn drv_rw(BlockNode *node, uint64_t offset, uint64_t bytes,
                               IOVector *qiov, BlockReqFlags flags, bool write)
{
    if (!is_aligned(node, offset, bytes))
        return bounce_rw(node, offset, bytes, qiov, flags, write);
    return write ? node->drv->co_pwritev(node, offset, bytes, qiov, flags)
                 : node->drv->co_preadv(node, offset, bytes, qiov, flags);
}

/* A nested read belongs to a write in flight on the node: it neither waits for a drain nor counts. */
static int coroutine_fn nested_read(BlockChild *c, uint64_t offset, uint64_t bytes,
                                    IOVector *qiov, BlockReqFlags flags)
{
    BlockNode *node = c->node;
    int r = check_range(node, offset, bytes);

    g_assert(node->in_flight > 0);
    if (r == 0 && bytes > 0)
        r = drv_rw(node, offset, bytes, qiov, flags & ~BLOCK_REQ_NESTED, false);
    return r < 0 ? r : 0;
}

int coroutine_fn node_co_preadv(BlockChild *c, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags)
{
    c->requests++;
    if (flags & BLOCK_REQ_NESTED)
        return nested_read(c, offset, bytes, qiov, flags);
    BlockNode *node = link_node(c);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(c), NULL, offset, bytes, &hold);
    WriteTrack track = { .tracked = false };

    if (r < 0)
        return r;
    if (bytes > 0 && node->read_lockers > 0)
        write_track_begin(node, &track, offset, bytes, false, c);
    if (bytes > 0)
        r = drv_rw(node, offset, bytes, qiov, flags, false);
    write_track_end(node, &track);
    req_end(&hold);
    return r < 0 ? r : 0;
}

static int coroutine_fn do_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                         BlockReqFlags flags)
{
    int r = -ENOTSUP;

    if (!node->discard_unmap)
        flags &= ~BLOCK_REQ_MAY_UNMAP;
    if (node->drv->co_pwrite_zeroes)
        r = node->drv->co_pwrite_zeroes(node, offset, bytes, flags);
    if (r != -ENOTSUP || (flags & BLOCK_REQ_NO_FALLBACK))
        return r;

    /* Fallback: write zeroes from a shared zero buffer. */
    while (bytes > 0) {
        uint64_t n = MIN(bytes, ZERO_CHUNK);
        IOVector v;

        iov_init_buf(&v, (void *)zero_chunk, n);
        r = drv_rw(node, offset, n, &v, flags & BLOCK_REQ_FUA, true);
        if (r < 0)
            return r;
        offset += n;
        bytes -= n;
    }
    return 0;
}

int coroutine_fn node_co_pwritev(BlockChild *c, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags)
{
    c->requests++;
    BlockNode *node = link_node(c);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(c), c, offset, bytes, &hold);

    if (r < 0)
        return r;
    if (bytes == 0 || (r = before_write(node, offset, bytes)) < 0) {
        req_end(&hold);
        return r;
    }
    WriteTrack track;
    WriteEvent ev = { WRITE_KIND_DATA, offset, bytes, qiov, flags, 0 };
    write_track_begin(node, &track, offset, bytes, !is_aligned(node, offset, bytes), c);
    if (node->detect_zeroes != DETECT_ZEROES_OFF && iov_is_zero(qiov, 0, bytes)) {
        BlockReqFlags zflags = flags & BLOCK_REQ_FUA;
        if (node->detect_zeroes == DETECT_ZEROES_UNMAP)
            zflags |= BLOCK_REQ_MAY_UNMAP;
        r = do_pwrite_zeroes(node, offset, bytes, zflags);
    } else {
        r = drv_rw(node, offset, bytes, qiov, flags, true);
    }
    r = write_end(&hold, &track, &ev, r);
    return r < 0 ? r : 0;
}

int coroutine_fn node_co_pread(BlockChild *c, uint64_t offset, uint64_t bytes, void *buf,
                               BlockReqFlags flags)
{
    IOVector v;

    iov_init_buf(&v, buf, bytes);
    return node_co_preadv(c, offset, bytes, &v, flags);
}

int coroutine_fn node_co_pwrite(BlockChild *c, uint64_t offset, uint64_t bytes,
                                const void *buf, BlockReqFlags flags)
{
    IOVector v;

    iov_init_buf(&v, (void *)buf, bytes);
    return node_co_pwritev(c, offset, bytes, &v, flags);
}

int coroutine_fn node_co_pwrite_zeroes(BlockChild *c, uint64_t offset, uint64_t bytes,
                                       BlockReqFlags flags)
{
    c->requests++;
    BlockNode *node = link_node(c);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(c), c, offset, bytes, &hold);

    if (r < 0)
        return r;
    if (bytes == 0 || (r = before_write(node, offset, bytes)) < 0) {
        req_end(&hold);
        return r;
    }
    WriteTrack track;
    WriteEvent ev = { WRITE_KIND_ZEROES, offset, bytes, NULL, flags, 0 };
    write_track_begin(node, &track, offset, bytes, !is_aligned(node, offset, bytes), c);
    return write_end(&hold, &track, &ev, do_pwrite_zeroes(node, offset, bytes, flags));
}

int coroutine_fn node_co_pdiscard(BlockChild *c, uint64_t offset, uint64_t bytes)
{
    c->requests++;
    BlockNode *node = link_node(c);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(c), c, offset, bytes, &hold);

    if (r < 0)
        return r;
    if (bytes == 0 || !node->discard_unmap || !node->drv->co_pdiscard ||
        (r = before_write(node, offset, bytes)) < 0) {
        req_end(&hold);
        return r;
    }
    WriteTrack track;
    WriteEvent ev = { WRITE_KIND_DISCARD, offset, bytes, NULL, 0, 0 };
    write_track_begin(node, &track, offset, bytes, false, c);
    r = write_end(&hold, &track, &ev, node->drv->co_pdiscard(node, offset, bytes));
    /* Discard is advisory: a driver that cannot do it has done nothing wrong. */
    return r == -ENOTSUP ? 0 : r;
}

/*
 * Whether a flush has anything to do: a read-only or inactive node has
 * nothing to write back.  Asked after the request waited out a drain,
 * which may have inactivated, reopened or failed the node.
 */
static bool flush_needed(const BlockNode *node)
{
    return node->writable && node->active;
}

static int coroutine_fn flush(BlockNode *node, const BlockNode *requester)
{
    ReqHold hold;
    int r = 0;

    if (!flush_needed(node))
        return 0;       /* nothing to wait for either */
    req_begin(node, requester, &hold);
    if (node->failure) {
        req_end(&hold); /* a failed node finishes switching drivers here */
        return -EIO;
    }
    if (!flush_needed(node)) {
        req_end(&hold);
        return 0;
    }
    if (node->drv->co_flush)
        r = node->drv->co_flush(node);
    /* Then the storage below: a format's metadata is only safe once its file is. */
    for (guint i = 0; r >= 0 && i < node->children->len; i++) {
        BlockChild *child = g_ptr_array_index(node->children, i);
        if (child != node->backing && (child->perm & BLOCK_PERM_WRITE))
            r = flush(child->node, node);
    }
    req_end(&hold);
    return r;
}

int coroutine_fn node_co_flush_node(BlockNode *node)
{
    return flush(node, NULL);
}

int coroutine_fn node_co_flush_drained(BlockNode *node)
{
    g_assert(node->quiesce_counter > 0);
    return flush(node, node);   /* a drained node's own request passes its drain */
}

int coroutine_fn node_co_flush(BlockChild *c)
{
    return flush(link_node(c), requester_of(c));
}

/* Whether node can be resized through c now; sets *errp if not. */
static int check_truncate(const BlockChild *c, GError **errp)
{
    const BlockNode *node = c->node;

    if (!node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE, "Cannot resize node '%s': it is inactive",
                    node->name);
        return -EPERM;
    }
    if (node->failure) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Cannot resize node '%s': %s", node->name,
                    node->failure);
        return -EIO;
    }
    if (!(c->perm & BLOCK_PERM_RESIZE) || !node->writable) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Cannot resize node '%s': it is not open for resizing", node->name);
        return -EPERM;
    }
    if (!node->drv->co_truncate) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Driver '%s' of node '%s' cannot resize", node->drv->name, node->name);
        return -ENOTSUP;
    }
    return 0;
}

int coroutine_fn node_co_truncate(BlockChild *c, uint64_t size, GError **errp)
{
    int r = check_truncate(c, errp);

    if (r < 0)
        return r;   /* refused without waiting for a drain to end */
    BlockNode *node = link_node(c);
    ReqHold hold;

    req_begin(node, requester_of(c), &hold);
    /* Checked again: the drain it waited out may have failed or changed the node. */
    r = check_truncate(c, errp);
    if (r == 0)
        r = node->drv->co_truncate(node, size, errp);
    req_end(&hold);
    if (r >= 0) {
        node_bitmaps_resize(node);
        node_notify_changed(node, NODE_CHANGE_SIZE);
    }
    return r;
}

/* Status of node alone; [offset, offset+bytes) is within the node. */
static int coroutine_fn block_status(BlockNode *node, const BlockNode *requester,
                                     uint64_t offset, uint64_t bytes, uint64_t *pnum,
                                     uint64_t *map, BlockNode **file)
{
    ReqHold hold;
    int r = req_begin_checked(node, requester, NULL, offset, bytes, &hold);

    if (r < 0)
        return r;
    *map = offset;
    *file = node;
    if (!node->drv->co_block_status) {
        req_end(&hold);
        *pnum = bytes;
        return BLOCK_STATUS_DATA | BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
    }
    r = node->drv->co_block_status(node, offset, bytes, pnum, map, file);
    req_end(&hold);
    if (r < 0)
        return r;
    g_assert(*pnum > 0 && *pnum <= bytes);
    if ((r & BLOCK_STATUS_RECURSE) && *file && *file != node) {
        /* A pass-through layer: the layer below says whether it is data or zero. */
        uint64_t n = *pnum, map2;
        BlockNode *file2;
        uint64_t below = MIN(n, (*file)->size - MIN(*map, (*file)->size));
        int r2 = block_status(*file, node, *map, below, pnum, &map2, &file2);
        if (r2 < 0)
            return r2;
        r = (r & ~(BLOCK_STATUS_RECURSE | BLOCK_STATUS_DATA | BLOCK_STATUS_ZERO)) |
            (r2 & (BLOCK_STATUS_DATA | BLOCK_STATUS_ZERO));
    }
    return r;
}

int coroutine_fn node_co_block_status(BlockChild *c, uint64_t offset, uint64_t bytes,
                                      uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    if (bytes == 0) {
        *pnum = 0;
        return check_range(c->node, offset, 0);    /* no I/O: nothing to wait for */
    }
    return block_status(link_node(c), requester_of(c), offset, bytes, pnum, map, file);
}

/* The node a filter passes everything to (QEMU's bdrv_skip_filters). */
static BlockNode *skip_filters(BlockNode *node)
{
    while (node->drv->kind == BLOCK_DRIVER_FILTER && node->file)
        node = node->file->node;
    return node;
}

int coroutine_fn node_co_block_status_above(BlockChild *c, BlockNode *base, uint64_t offset,
                                            uint64_t bytes, uint64_t *pnum)
{
    BlockNode *node = link_node(c);
    int r;

    *pnum = bytes;
    if (bytes == 0)
        return check_range(node, offset, 0);   /* no I/O: nothing to wait for */
    /* Walk down while the range is not allocated in the layer; narrow *pnum on the way. */
    for (BlockNode *layer = node; layer && layer != base;
         layer = layer->backing ? layer->backing->node : NULL) {
        uint64_t n, map;
        BlockNode *file;

        /* A filter shows the layer it filters, with that layer's backing chain. */
        layer = skip_filters(layer);
        if (layer == base)
            break;

        if (layer != node && offset >= layer->size)
            return BLOCK_STATUS_ZERO;   /* past the end of a shorter backing file */
        /* block_status checks the range against each layer (the top: the caller's range) */
        uint64_t len = layer == node ? bytes : MIN(*pnum, layer->size - offset);
        r = block_status(layer, requester_of(c), offset, len, &n, &map, &file);
        if (r < 0)
            return r;
        *pnum = n;
        if (r & (BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_ZERO | BLOCK_STATUS_DATA))
            if ((r & BLOCK_STATUS_ALLOCATED) || !layer->backing)
                return r & (BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_ZERO | BLOCK_STATUS_DATA);
        if (!layer->backing)
            return BLOCK_STATUS_ZERO;
    }
    /* Unallocated down to base: reads come from base. */
    return 0;
}

bool coroutine_fn node_co_map_fd(BlockChild *c, uint64_t offset, uint64_t bytes,
                                 BlockFdMap *m)
{
    BlockNode *node = c->node;

    *m = (BlockFdMap){ .fd = -1 };
    if (!(c->perm & BLOCK_PERM_CONSISTENT_READ) || bytes == 0)
        return false;
    while (m->n_held < BLOCK_FD_MAP_MAX_DEPTH) {
        /* Drained, failed or inactive nodes take the normal path, which waits or fails. */
        if (node->quiesce_counter || node->failure || !node->active ||
            offset > node->size || bytes > node->size - offset)
            break;
        m->held[m->n_held++] = node;
        node->in_flight++;          /* not drained (checked above): nothing to wait for */
        if (node->drv->sendfile_fd) {
            m->fd = node->drv->sendfile_fd(node, offset, bytes);
            m->fd_offset = offset;
            if (m->fd >= 0)
                return true;
            break;
        }
        if (!node->drv->linear_map || !node->file ||
            !node->drv->linear_map(node, offset, bytes, &offset))
            break;
        node = node->file->node;
    }
    node_fd_map_release(m);
    return false;
}

void coroutine_fn node_fd_map_release(BlockFdMap *m)
{
    while (m->n_held)
        node_request_done(m->held[--m->n_held]);
    m->fd = -1;
}

static bool copy_write_ok(const BlockNode *node, uint64_t offset, uint64_t bytes);

bool coroutine_fn node_co_map_write(BlockChild *c, uint64_t offset, uint64_t bytes,
                                    bool continued, BlockWriteMap *m)
{
    BlockChild *link = c;

    m->mem = NULL;
    m->depth = 0;
    while (bytes > 0 && m->depth < BLOCK_FD_MAP_MAX_DEPTH) {
        BlockNode *node = link_node(link);
        struct BlockWriteMapLevel *l = &m->level[m->depth];

        if (req_begin_checked(node, requester_of(link), link, offset, bytes, &l->hold) < 0)
            break;
        if (!copy_write_ok(node, offset, bytes)) {
            req_end(&l->hold);
            break;
        }
        write_track_begin(node, &l->track, offset, bytes, false, link);
        l->link = link;
        l->offset = offset;
        m->depth++;
        if (node->drv->write_mem) {
            m->mem = node->drv->write_mem(node, offset, bytes, continued);
            break;
        }
        if (!node->drv->linear_map || !node->file ||
            !node->drv->linear_map(node, offset, bytes, &offset))
            break;
        link = node->file;
    }
    if (!m->mem) {
        node_map_write_end(m, 0);
        return false;
    }
    for (unsigned i = 0; i < m->depth; i++)
        m->level[i].link->requests++;
    return true;
}

void coroutine_fn node_map_write_end(BlockWriteMap *m, uint64_t done)
{
    while (m->depth > 0) {
        struct BlockWriteMapLevel *l = &m->level[--m->depth];
        /* No observer reads qiov: copy_write_ok refused those with co_written. */
        WriteEvent ev = { WRITE_KIND_DATA, l->offset, done, NULL, 0, 0 };

        if (done > 0) {
            write_end(&l->hold, &l->track, &ev, 0);
        } else {
            write_track_end(l->hold.node, &l->track);
            req_end(&l->hold);
        }
    }
    m->mem = NULL;
}

/* ---- copy offload ---- */

/* Whether a write to node may skip its data: nobody needs to see the bytes. */
static bool copy_write_ok(const BlockNode *node, uint64_t offset, uint64_t bytes)
{
    if (node->detect_zeroes != DETECT_ZEROES_OFF || !is_aligned(node, offset, bytes))
        return false;
    for (GList *l = node->write_observers; l; l = l->next) {
        const WriteObserver *o = l->data;

        if (o->before_write || o->co_written)
            return false;
    }
    return true;
}

int coroutine_fn node_co_copy_range(BlockChild *src, uint64_t src_offset, BlockChild *dst,
                                    uint64_t dst_offset, uint64_t bytes)
{
    src->requests++;
    BlockNode *node = link_node(src);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(src), NULL, src_offset, bytes, &hold);
    WriteTrack track = { .tracked = false };

    if (r < 0)
        return r;
    if (!node->drv->co_copy_range_from || !is_aligned(node, src_offset, bytes)) {
        req_end(&hold);
        return -ENOTSUP;
    }
    if (bytes > 0 && node->read_lockers > 0)
        write_track_begin(node, &track, src_offset, bytes, false, src);
    if (bytes > 0)
        r = node->drv->co_copy_range_from(node, src_offset, dst, dst_offset, bytes);
    write_track_end(node, &track);
    req_end(&hold);
    return r < 0 ? r : 0;
}

int coroutine_fn node_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockChild *dst,
                                       uint64_t dst_offset, uint64_t bytes)
{
    dst->requests++;
    BlockNode *node = link_node(dst);
    ReqHold hold;
    int r = req_begin_checked(node, requester_of(dst), dst, dst_offset, bytes, &hold);

    if (r < 0)
        return r;
    if (bytes == 0 || !node->drv->co_copy_range_to || !copy_write_ok(node, dst_offset, bytes)) {
        req_end(&hold);
        return bytes == 0 ? 0 : -ENOTSUP;
    }
    WriteTrack track;
    /* No observer reads qiov: copy_write_ok refused those with co_written. */
    WriteEvent ev = { WRITE_KIND_DATA, dst_offset, bytes, NULL, 0, 0 };
    write_track_begin(node, &track, dst_offset, bytes, false, dst);
    r = node->drv->co_copy_range_to(src, src_offset, node, dst_offset, bytes);
    r = write_end(&hold, &track, &ev, r);
    return r < 0 ? r : 0;
}
