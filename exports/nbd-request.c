/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Executing NBD requests through the export's BlockChild and sending the
 * replies (simple, or structured chunks when negotiated).
 */

#include <errno.h>
#include <string.h>

#include "graph/bitmap.h"
#include "graph/io.h"
#include "exports/nbd-client.h"

#define NBD_MAX_EXTENTS 512

/* Reads from this size on go out with sendfile(2) where the graph allows. */
#define NBD_ZERO_COPY_MIN (64 * 1024)

static const uint8_t zero_page[4096];

static int coroutine_fn reply_simple(NbdReq *r, uint32_t error, void *data, size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    nbd_encode_simple_reply(hdr, error, r->req.cookie);
    struct iovec iov[2] = { { hdr, sizeof(hdr) }, { data, len } };
    return nbd_client_reply(r->client, iov, data && !error ? 2 : 1);
}

static int coroutine_fn reply_error_chunk(NbdReq *r, uint32_t error, const char *msg)
{
    uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE + 6];
    size_t mlen = strlen(msg);
    nbd_encode_chunk_header(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, r->req.cookie,
                            (uint32_t)(6 + mlen));
    nbd_put32(hdr + NBD_STRUCTURED_REPLY_SIZE, error);
    nbd_put16(hdr + NBD_STRUCTURED_REPLY_SIZE + 4, (uint16_t)mlen);
    struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)msg, mlen } };
    return nbd_client_reply(r->client, iov, 2);
}

/* A reply without data: success or error, in the negotiated style. */
static int coroutine_fn reply_status(NbdReq *r, uint32_t error)
{
    NbdClient *c = r->client;
    if (!error || !c->structured)
        return reply_simple(r, error, NULL, 0);
    g_autofree char *msg = g_strdup_printf("%s at offset %" G_GUINT64_FORMAT " length %u "
                                           "failed on export '%s': %s",
                                           nbd_cmd_name(r->req.type), r->req.offset,
                                           r->req.length, c->export->id,
                                           g_strerror(error == NBD_EPERM ? EPERM :
                                                      error == NBD_ENOSPC ? ENOSPC :
                                                      error == NBD_EOVERFLOW ? EOVERFLOW :
                                                      error == NBD_EINVAL ? EINVAL :
                                                      error == NBD_ENOTSUP ? ENOTSUP : EIO));
    return reply_error_chunk(r, error, msg);
}

/* One OFFSET_DATA or OFFSET_HOLE chunk of a structured READ reply. */
static int coroutine_fn reply_read_chunk(NbdReq *r, uint64_t off, uint32_t len, bool hole,
                                         bool done)
{
    uint16_t flags = done ? NBD_REPLY_FLAG_DONE : 0;
    uint8_t hdr[NBD_OFFSET_HOLE_SIZE];
    if (hole) {
        nbd_encode_offset_hole(hdr, flags, r->req.cookie, off, len);
        struct iovec iov = { hdr, NBD_OFFSET_HOLE_SIZE };
        return nbd_client_reply(r->client, &iov, 1);
    }
    nbd_encode_offset_data(hdr, flags, r->req.cookie, off, len);
    struct iovec iov[2] = {
        { hdr, NBD_OFFSET_DATA_HDR_SIZE },
        { (uint8_t *)r->buf + (off - r->req.offset), len },
    };
    return nbd_client_reply(r->client, iov, 2);
}

/*
 * Sends the data of [off, off + len) straight from the image file, after
 * the reply header hdr (a simple reply, or an OFFSET_DATA chunk header):
 * one copy by the kernel instead of a read into a buffer and a send of it
 * (none at all towards a unix socket).  *sent is false when the graph
 * cannot map the range to a file; nothing went out then.  The nodes stay
 * held only while sendfile makes progress: when the socket fills up, the
 * rest is read the normal way and sent from a buffer, so that a client
 * that reads slowly does not keep drain and reopen waiting.
 */
static int coroutine_fn send_read_zero_copy(NbdReq *r, uint64_t off, uint32_t len,
                                            const void *hdr, size_t hdr_len, bool *sent)
{
    NbdClient *c = r->client;
    BlockFdMap map;

    *sent = false;
    if (len < NBD_ZERO_COPY_MIN || c->tls)
        return 0;   /* TLS encrypts in user space: the data must pass through a buffer */
    co_mutex_lock(&c->send_lock);
    /* What is queued goes first, so that no wait for the socket falls between map and send. */
    ssize_t ret = nbd_client_co_flush_locked(c, NULL, 0, false);
    if (ret < 0 || !node_co_map_fd(c->export->child, off, len, &map)) {
        co_mutex_unlock(&c->send_lock);
        return ret < 0 ? (int)ret : 0;
    }
    *sent = true;
    struct iovec iov = { (void *)hdr, hdr_len };
    bool eof = false;
    ret = nbd_client_co_flush_locked(c, &iov, 1, true);
    if (ret == 0)
        ret = nbd_client_sendfile(c, map.fd, map.fd_offset, len, &eof);
    node_fd_map_release(&map);
    size_t done = ret >= 0 ? (size_t)ret : len;
    if (done < len && !eof) {
        size_t rest = len - done;
        void *buf = nbd_buffer_get(rest);
        ret = node_co_pread(c->export->child, off + done, rest, buf, 0);
        if (ret < 0) {
            /* The header promised the data: only the connection can end. */
            c->dead = true;
            nbd_client_shutdown(c);
        } else {
            iov = (struct iovec){ buf, rest };
            ret = nbd_client_co_sendv(c, &iov, 1, false);
        }
        nbd_buffer_put(buf, rest);
        done = len;
    }
    /* Past the end of a file that shrank: zeroes, as a read there gives. */
    while (done < len) {
        struct iovec z = { (void *)zero_page, MIN(sizeof(zero_page), len - done) };
        if (nbd_client_co_sendv(c, &z, 1, false) < 0)
            break;
        done += z.iov_len;
    }
    co_mutex_unlock(&c->send_lock);
    return ret < 0 ? (int)ret : 0;
}

/*
 * Sends [off, off + len) of a sparse READ: a hole chunk, or the data read
 * from the node into its place in r->buf.  A failed read becomes the
 * reply's final ERROR chunk.  Returns 0 when the reply may go on, else
 * nonzero (it ended, or the connection failed).
 */
static int coroutine_fn send_read_run(NbdReq *r, uint64_t off, uint32_t len, bool hole,
                                      bool done)
{
    if (!hole) {
        uint8_t hdr[NBD_OFFSET_DATA_HDR_SIZE];
        bool sent;
        nbd_encode_offset_data(hdr, done ? NBD_REPLY_FLAG_DONE : 0, r->req.cookie, off, len);
        if (send_read_zero_copy(r, off, len, hdr, sizeof(hdr), &sent) < 0)
            return -EIO;
        if (sent)
            return 0;
        if (!r->buf) {
            r->buf_size = r->req.length;
            r->buf = nbd_buffer_get(r->buf_size);
        }
        int ret = node_co_pread(r->client->export->child, off, len,
                                (uint8_t *)r->buf + (off - r->req.offset), 0);
        if (ret < 0) {
            reply_status(r, nbd_errno_to_wire(ret));
            return 1;
        }
    }
    return reply_read_chunk(r, off, len, hole, done) < 0 ? -EIO : 0;
}

/*
 * Block status for a sparse read at off (< end): ZERO or DATA, *pnum bytes.
 * The node is asked about everything from off to its end, so that one query
 * learns a whole data extent (the export remembers it) and the reads that
 * follow in it ask nothing.
 */
static int coroutine_fn read_status(NbdReq *r, uint64_t off, uint64_t end, uint64_t *pnum)
{
    Export *e = r->client->export;
    uint64_t known = nbd_data_cache_lookup(&e->data_cache, off);
    if (known) {
        *pnum = MIN(known, end - off);
        return BLOCK_STATUS_DATA;
    }
    uint64_t size = e->child->node->size;
    int st = node_co_block_status_above(e->child, NULL, off, MAX(size, end) - off, pnum);
    if (st < 0)
        return st;
    if (*pnum == 0) {
        st = BLOCK_STATUS_DATA;     /* cannot tell: read the rest */
        *pnum = end - off;
    }
    if (!(st & BLOCK_STATUS_ZERO))
        nbd_data_cache_set(&e->data_cache, off, *pnum);
    *pnum = MIN(*pnum, end - off);
    return st;
}

/*
 * A READ as qemu-nbd answers it: runs of what reads as zeroes (over the
 * whole backing chain) go out as OFFSET_HOLE chunks without being read,
 * the rest as OFFSET_DATA, in order, DONE on the last chunk.
 */
static int coroutine_fn do_sparse_read(NbdReq *r)
{
    uint64_t start = r->req.offset, end = start + r->req.length;
    uint64_t off = start, run = start;
    bool run_hole = false;
    while (off < end) {
        uint64_t pnum = 0;
        int st = read_status(r, off, end, &pnum);
        if (st < 0)
            return reply_status(r, nbd_errno_to_wire(st));
        bool hole = st & BLOCK_STATUS_ZERO;
        if (off > run && hole != run_hole) {
            int ret = send_read_run(r, run, (uint32_t)(off - run), run_hole, false);
            if (ret)
                return ret;
            run = off;
        }
        run_hole = hole;
        off += pnum;
    }
    return send_read_run(r, run, (uint32_t)(end - run), run_hole, true);
}

/* A whole READ reply with its data sent from the file; *sent as above. */
static int coroutine_fn do_read_zero_copy(NbdReq *r, bool *sent)
{
    uint8_t hdr[NBD_OFFSET_DATA_HDR_SIZE];
    size_t hdr_len = NBD_SIMPLE_REPLY_SIZE;
    if (r->client->structured) {
        nbd_encode_offset_data(hdr, NBD_REPLY_FLAG_DONE, r->req.cookie, r->req.offset,
                               r->req.length);
        hdr_len = NBD_OFFSET_DATA_HDR_SIZE;
    } else {
        nbd_encode_simple_reply(hdr, 0, r->req.cookie);
    }
    return send_read_zero_copy(r, r->req.offset, r->req.length, hdr, hdr_len, sent);
}

static int coroutine_fn do_read(NbdReq *r)
{
    NbdClient *c = r->client;
    uint32_t len = r->req.length;
    if (len && nbd_read_is_sparse(c->structured, r->req.flags, len))
        return do_sparse_read(r);
    bool sent;
    int ret = do_read_zero_copy(r, &sent);
    if (sent)
        return ret;
    r->buf_size = len;
    r->buf = nbd_buffer_get(len);
    ret = node_co_pread(c->export->child, r->req.offset, len, r->buf, 0);
    if (ret < 0)
        return reply_status(r, nbd_errno_to_wire(ret));
    if (!c->structured)
        return reply_simple(r, 0, r->buf, len);
    if (len == 0) {
        /* an OFFSET_DATA chunk must carry data: an empty read ends with NONE */
        uint8_t hdr[NBD_STRUCTURED_REPLY_SIZE];
        nbd_encode_chunk_header(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, r->req.cookie, 0);
        struct iovec iov = { hdr, NBD_STRUCTURED_REPLY_SIZE };
        return nbd_client_reply(c, &iov, 1);
    }
    /* A small read that came back all zeroes goes out as a hole: 20 bytes, not len. */
    bool hole = !(r->req.flags & NBD_CMD_FLAG_DF) && buffer_is_zero(r->buf, len);
    return reply_read_chunk(r, r->req.offset, len, hole, true);
}

static uint32_t coroutine_fn status_flags(int st)
{
    return (st & BLOCK_STATUS_DATA ? 0 : NBD_STATE_HOLE) |
           (st & BLOCK_STATUS_ZERO ? NBD_STATE_ZERO : 0);
}

#define STATUS_BUF_SIZE (NBD_STRUCTURED_REPLY_SIZE + 4 + 8 * NBD_MAX_EXTENTS)

/* Appends an extent to ext[0..*n), merging it into the last one if the flags agree. */
static bool add_extent(uint8_t *ext, unsigned *n, bool one, uint64_t len, uint32_t flags)
{
    if (*n && nbd_get32(ext + 8 * (*n - 1) + 4) == flags) {
        nbd_put32(ext + 8 * (*n - 1), nbd_get32(ext + 8 * (*n - 1)) + (uint32_t)len);
        return true;
    }
    if ((one && *n) || *n >= NBD_MAX_EXTENTS)
        return false;
    nbd_put32(ext + 8 * *n, (uint32_t)len);
    nbd_put32(ext + 8 * *n + 4, flags);
    (*n)++;
    return true;
}

/* base:allocation extents into ext; their number, or a negative errno. */
static int coroutine_fn extents_allocation(NbdReq *r, uint8_t *ext)
{
    BlockChild *child = r->client->export->child;
    uint64_t off = r->req.offset, end = off + r->req.length;
    bool one = r->req.flags & NBD_CMD_FLAG_REQ_ONE;
    unsigned n = 0;
    while (off < end) {
        uint64_t pnum = 0;
        int st = node_co_block_status_above(child, NULL, off, end - off, &pnum);
        if (st < 0)
            return st;
        if (pnum == 0 || !add_extent(ext, &n, one, pnum, status_flags(st)))
            break;
        off += pnum;
    }
    return (int)n;
}

/*
 * qemu:dirty-bitmap extents (NBD_STATE_DIRTY) of bm into ext; their number.
 * bm NULL: the bitmap went with a pivot (export_bitmaps_follow), and a client
 * that selected it before sees everything dirty: nothing tracks changes now.
 */
static unsigned extents_bitmap(NbdReq *r, const DirtyBitmap *bm, uint8_t *ext)
{
    uint64_t off = r->req.offset, end = off + r->req.length;
    bool one = r->req.flags & NBD_CMD_FLAG_REQ_ONE;
    unsigned n = 0;
    while (off < end) {
        uint64_t len = end - off;
        bool dirty = !bm;
        if (bm && off < bm->node->size)     /* a shorter backing node's bitmap: clean past its end */
            dirty = bitmap_extent(bm, off, end - off, &len);
        if (!add_extent(ext, &n, one, len, dirty ? NBD_STATE_DIRTY : 0))
            break;
        off += len;
    }
    return n;
}

static int coroutine_fn send_status_chunk(NbdReq *r, uint8_t *buf, uint32_t id, unsigned n,
                                          bool done)
{
    uint32_t plen = 4 + 8 * n;
    nbd_encode_chunk_header(buf, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_BLOCK_STATUS,
                            r->req.cookie, plen);
    nbd_put32(buf + NBD_STRUCTURED_REPLY_SIZE, id);
    struct iovec iov = { buf, NBD_STRUCTURED_REPLY_SIZE + plen };
    return nbd_client_reply(r->client, &iov, 1);
}

/* One BLOCK_STATUS chunk per selected context, DONE on the last. */
static int coroutine_fn do_block_status(NbdReq *r)
{
    NbdClient *c = r->client;
    g_autofree uint8_t *buf = g_malloc(STATUS_BUF_SIZE);
    uint8_t *ext = buf + NBD_STRUCTURED_REPLY_SIZE + 4;
    uint32_t left = c->meta_bitmaps;
    int ret = 0;
    if (c->meta_base_allocation) {
        int n = extents_allocation(r, ext);
        if (n < 0)
            return reply_status(r, nbd_errno_to_wire(n));
        ret = send_status_chunk(r, buf, NBD_META_ID_BASE_ALLOCATION, (unsigned)n, !left);
    }
    for (unsigned i = 0; ret >= 0 && left; i++) {
        if (!(left & (1u << i)))
            continue;
        left &= ~(1u << i);
        unsigned n = extents_bitmap(r, c->export->bitmaps[i], ext);
        ret = send_status_chunk(r, buf, NBD_META_ID_DIRTY_BITMAP(i), n, !left);
    }
    return ret;
}

/* CACHE: read the range so that it is warm; the data is dropped. */
static int coroutine_fn do_cache(BlockChild *child, uint64_t off, uint32_t len)
{
    const uint32_t chunk = MIN(len, NBD_CACHE_CHUNK);
    void *buf = nbd_buffer_get(chunk);
    int ret = 0;
    while (len && ret >= 0) {
        uint32_t n = MIN(len, chunk);
        ret = node_co_pread(child, off, n, buf, 0);
        off += n;
        len -= n;
    }
    nbd_buffer_put(buf, chunk);
    return ret;
}

static int coroutine_fn do_write_zeroes(BlockChild *child, const NbdRequest *req)
{
    BlockReqFlags flags = 0;
    if (!(req->flags & NBD_CMD_FLAG_NO_HOLE))
        flags |= BLOCK_REQ_MAY_UNMAP;
    if (req->flags & NBD_CMD_FLAG_FAST_ZERO)
        flags |= BLOCK_REQ_NO_FALLBACK;
    if (req->flags & NBD_CMD_FLAG_FUA)
        flags |= BLOCK_REQ_FUA;
    return node_co_pwrite_zeroes(child, req->offset, req->length, flags);
}

static int coroutine_fn run_command(NbdReq *r)
{
    BlockChild *child = r->client->export->child;
    const NbdRequest *req = &r->req;
    int ret;
    switch (req->type) {
    case NBD_CMD_WRITE:
        if (r->written)
            return r->write_ret;
        return node_co_pwrite(child, req->offset, req->length, r->buf,
                              req->flags & NBD_CMD_FLAG_FUA ? BLOCK_REQ_FUA : 0);
    case NBD_CMD_FLUSH:
        return node_co_flush(child);
    case NBD_CMD_TRIM:
        ret = node_co_pdiscard(child, req->offset, req->length);
        if (ret == -ENOTSUP)
            ret = 0;    /* trim is advisory */
        if (ret >= 0 && (req->flags & NBD_CMD_FLAG_FUA))
            ret = node_co_flush(child);
        return ret;
    case NBD_CMD_WRITE_ZEROES:
        return do_write_zeroes(child, req);
    case NBD_CMD_CACHE:
        return do_cache(child, req->offset, req->length);
    default:
        return -EINVAL;
    }
}

/* Requests without reply data; returns 0 or a negative errno. */
static int coroutine_fn do_command(NbdReq *r)
{
    int ret = run_command(r);
    if (r->req.type == NBD_CMD_TRIM || r->req.type == NBD_CMD_WRITE_ZEROES) {
        /* after it: a read that raced with it may have remembered data */
        nbd_data_cache_forget(&r->client->export->data_cache, r->req.offset, r->req.length);
    }
    return ret;
}

static void request_free(NbdReq *r)
{
    NbdClient *c = r->client;
    nbd_buffer_put(r->buf, r->buf_size);
    r->buf = NULL;
    r->next_free = c->free_reqs;
    c->free_reqs = r;
    c->in_flight--;
    c->in_flight_bytes -= r->cost;
    co_queue_wake_all(&c->slot_waiters);
}

void nbd_request_run(void *opaque)
{
    NbdReq *r = opaque;
    if (r->error)
        reply_status(r, r->error);
    else if (r->req.type == NBD_CMD_READ)
        do_read(r);
    else if (r->req.type == NBD_CMD_BLOCK_STATUS)
        do_block_status(r);
    else
        reply_status(r, nbd_errno_to_wire(do_command(r)));
    request_free(r);
}
