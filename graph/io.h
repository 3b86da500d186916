/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The request path.  Every user of a node (parent driver, export, job) does
 * I/O through its BlockChild with these wrappers, which check the range,
 * the permission the link holds and the node's writability, wait while the
 * node is drained, count in-flight requests and supply fallbacks.  They
 * return 0 (or BlockStatus bits) or a negative errno.
 */

#include "graph/node.h"

int coroutine_fn node_co_preadv(BlockChild *c, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags);
int coroutine_fn node_co_pwritev(BlockChild *c, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags);
int coroutine_fn node_co_pread(BlockChild *c, uint64_t offset, uint64_t bytes,
                               void *buf, BlockReqFlags flags);
int coroutine_fn node_co_pwrite(BlockChild *c, uint64_t offset, uint64_t bytes,
                                const void *buf, BlockReqFlags flags);
int coroutine_fn node_co_pwrite_zeroes(BlockChild *c, uint64_t offset, uint64_t bytes,
                                       BlockReqFlags flags);
int coroutine_fn node_co_pdiscard(BlockChild *c, uint64_t offset, uint64_t bytes);
int coroutine_fn node_co_flush(BlockChild *c);
int coroutine_fn node_co_truncate(BlockChild *c, uint64_t size, GError **errp);

/* Status of c->node alone: BlockStatus bits, *pnum > 0 bytes share them. */
int coroutine_fn node_co_block_status(BlockChild *c, uint64_t offset, uint64_t bytes,
                                      uint64_t *pnum, uint64_t *map, BlockNode **file);
/*
 * Status over the node and its backing chain down to (not including) base:
 * ALLOCATED if any layer above base holds the range, ZERO / DATA as reads
 * see it.
 */
int coroutine_fn node_co_block_status_above(BlockChild *c, BlockNode *base,
                                            uint64_t offset, uint64_t bytes,
                                            uint64_t *pnum);

/*
 * Whether a new request through c would wait out a drain now, and a wait
 * until it would not.  A job that claims work before its request begins
 * (backup's background copy) claims only once the request, begun with no
 * yield after, can no longer wait for a drain: a drain then waits for it.
 */
bool node_link_held_back(const BlockChild *c);
void coroutine_fn node_co_wait_undrained(const BlockChild *c);

/*
 * A request the running coroutine holds in flight, on the stack of the
 * function that begins and ends it (the fields are io.c's).  What the
 * coroutine begins meanwhile is part of that request: a format's request
 * to its file, an offloaded copy's write to its target (begun while the
 * copy holds the source), a before_write hook's copy to a backup target,
 * a write-blocking mirror's write to its target.
 */
typedef struct ReqHold {
    BlockNode *node;
    struct ReqHold *outer;      /* the request this one is part of, or NULL */
    BlockNode *waits_at;        /* where a request begun within it waits out a drain */
    GList link;                 /* in node->held_waits meanwhile */
} ReqHold;

/*
 * A job's copy as one request in flight on c's node, from begin (which
 * first waits out a drain of the node) to end: a drain of the node waits
 * for the copy, and the requests the coroutine begins meanwhile are part of
 * it, so they pass that drain (QEMU's drain waits for the copies a job
 * issued).  A mirror's background copy holds its source and target while
 * guest writes may wait for it (jobs/mirror-core.c).  Holds end in the
 * reverse order they began.
 */
void coroutine_fn node_co_hold_begin(const BlockChild *c, ReqHold *h);
void coroutine_fn node_hold_end(ReqHold *h);

/*
 * Range locks, for a copy into a node that must not undo a concurrent write
 * (stream copies data up from the backing chain): between start and stop
 * every write to node is tracked; a locked range holds back the writes of
 * every other link until unlocked, while c's own writes pass.
 */
#include "graph/write-track.h"
void coroutine_fn node_co_range_lock_start(BlockNode *node);
void node_range_lock_stop(BlockNode *node);
void coroutine_fn node_co_range_lock(BlockChild *c, WriteTrack *t, uint64_t offset,
                                     uint64_t bytes);
void node_range_unlock(BlockChild *c, WriteTrack *t);
/*
 * As node_co_range_lock_start, and reads of node are tracked too: a locked
 * range also waits for the reads in flight on it and holds back new ones.
 * Fleecing: a read of a backup target that found a cluster unallocated
 * reads the source below it; a copy-before-write into the target must not
 * land (and the guest write after it) between the two.
 */
void coroutine_fn node_co_range_lock_reads_start(BlockNode *node);
void node_range_lock_reads_stop(BlockNode *node);

/*
 * Write observers: told of every write, zero write and discard that reached
 * node through any link, once the driver is done with it (successful or
 * not) and before the request ends, so a drain of node waits for the
 * telling too.  Mirror and active commit (jobs/mirror-core.c) mark such
 * ranges to copy again.
 *
 * before_write (optional) runs inside the request, after it began (a drain
 * of node waits for it) and before the driver sees it; it may yield and do
 * I/O: backup's copy-before-write reads the old data (BLOCK_REQ_NESTED, so
 * that a drain of node cannot hold the read back) and writes it to its
 * target.  A negative errno fails the write, which then did not happen.
 * A write-blocking mirror claims the range there.
 *
 * co_written (optional) is told instead of written, with the kind of
 * write, its data and its result; it may yield and do I/O (a write-blocking
 * mirror writes the range to its target before the guest's write ends).
 */
typedef enum WriteKind {
    WRITE_KIND_DATA,
    WRITE_KIND_ZEROES,
    WRITE_KIND_DISCARD,
} WriteKind;
typedef struct WriteEvent {
    WriteKind kind;
    uint64_t offset, bytes;
    IOVector *qiov;             /* WRITE_KIND_DATA: what was written */
    BlockReqFlags flags;
    int ret;                    /* the write's result (negative errno) */
} WriteEvent;
typedef struct WriteObserver WriteObserver;
struct WriteObserver {
    void (*written)(WriteObserver *o, uint64_t offset, uint64_t bytes);
    int coroutine_fn (*before_write)(WriteObserver *o, uint64_t offset, uint64_t bytes);
    void coroutine_fn (*co_written)(WriteObserver *o, const WriteEvent *w);
};
void node_add_write_observer(BlockNode *node, WriteObserver *o);
void node_remove_write_observer(BlockNode *node, WriteObserver *o);

/*
 * Copy offload: copies [src_offset, +bytes) of src's node to dst_offset of
 * dst's node without the data passing through the caller, where every node
 * on both paths can (format mapping and allocation, then copy_file_range(2)
 * between the files).  A request on each side as a read and a write would
 * be (drain, checks, write tracking, dirty bitmaps, write observers told).
 * -ENOTSUP where some node cannot, or the write must be seen as data (a
 * write observer with before_write/co_written, detect-zeroes, an unaligned
 * range); the caller then copies the whole range through a buffer, which
 * also names a read or write error precisely: the range may be partly
 * written.  node_co_copy_range_to: the second half, for drivers (the
 * source's request is held by the first half).
 */
int coroutine_fn node_co_copy_range(BlockChild *src, uint64_t src_offset, BlockChild *dst,
                                    uint64_t dst_offset, uint64_t bytes);
int coroutine_fn node_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockChild *dst,
                                       uint64_t dst_offset, uint64_t bytes);

/* Direct forms for the node's own housekeeping (flush at close, Node.Flush). */
int coroutine_fn node_co_flush_node(BlockNode *node);
/* The same, by the holder of a drain on node (the flush passes that drain). */
int coroutine_fn node_co_flush_drained(BlockNode *node);

/*
 * Drain: waits until no request is in flight on node and holds new ones from
 * outside users back until node_drain_end.  Nests.  Requests that a drained
 * parent node sends to its children pass their drains: they are the
 * draining operation's own (a format writing back its caches during a
 * reopen of it and its file).  So does a request that is part of one in
 * flight on a drained node (begun by the coroutine that holds that one: an
 * offloaded copy's write to its target, a write observer's write to
 * another node), since that node's drain waits for it; it goes on when
 * such a drain begins.  docs/architecture.md, "Drains".
 */
void coroutine_fn node_co_drain_begin(BlockNode *node);
void node_drain_end(BlockNode *node);

/*
 * Where a read of [offset, offset+bytes) may be sent straight from a file
 * with sendfile(2) instead of being copied through a buffer: the nodes from
 * c's down to a protocol node map the range linearly (raw windows, file),
 * and the data is in memory there, so sendfile neither waits for a device
 * nor meets a read error.  Holds a request on each of those nodes until
 * node_fd_map_release, so that drain and reopen wait for the transfer.
 * False (nothing held) otherwise; the caller reads the normal way then.
 */
#define BLOCK_FD_MAP_MAX_DEPTH 4
typedef struct BlockFdMap {
    int fd;
    uint64_t fd_offset;
    unsigned n_held;
    BlockNode *held[BLOCK_FD_MAP_MAX_DEPTH];
} BlockFdMap;

bool coroutine_fn node_co_map_fd(BlockChild *c, uint64_t offset, uint64_t bytes,
                                 BlockFdMap *m);
void coroutine_fn node_fd_map_release(BlockFdMap *m);

/*
 * Zero-copy writes: where the nodes from c's down to a protocol node map
 * [offset, offset+bytes) linearly (raw windows, file) and the protocol node
 * keeps its file mapped in memory (a buffered file on tmpfs), m->mem is
 * where those bytes lie in the mapping.  The caller puts the data there
 * with a kernel copy only (recv(2) into it), never with a store of its
 * own: if another program shrank the file, the kernel fails the copy with
 * EFAULT where a store would kill the daemon with SIGBUS.  Each node on
 * the way holds a write request as node_co_pwritev would (drain, checks,
 * write tracking) until node_map_write_end, which tells dirty bitmaps and
 * write observers of the first `done` bytes.  No yield between the two, so
 * that no drain waits for a client that sends slowly.  False (nothing
 * held, nothing written) where the graph cannot, or the write must be seen
 * as data (detect-zeroes, a write observer that reads or copies it, an
 * unaligned range): the caller writes the normal way then.
 *
 * continued: a later piece of one write whose whole range an earlier call
 * mapped.  What the driver checked for the whole write then (the file's
 * size) stands: a change meanwhile races with a write in flight, whose
 * outcome is open anyway.  The drain's and the node's own checks run again.
 */
typedef struct BlockWriteMap {
    void *mem;
    unsigned depth;
    struct BlockWriteMapLevel {
        BlockChild *link;
        uint64_t offset;
        ReqHold hold;
        WriteTrack track;
    } level[BLOCK_FD_MAP_MAX_DEPTH];
} BlockWriteMap;

bool coroutine_fn node_co_map_write(BlockChild *c, uint64_t offset, uint64_t bytes,
                                    bool continued, BlockWriteMap *m);
void coroutine_fn node_map_write_end(BlockWriteMap *m, uint64_t done);
