/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Writes in flight on a node whose requests must be aligned (O_DIRECT).  An
 * unaligned write there is a read-modify-write of whole blocks; if another
 * write to those blocks ran in between, the write-back would undo it.  So a
 * read-modify-write waits for every overlapping write in flight, and every
 * write waits for an overlapping read-modify-write (QEMU's "serialising
 * requests").  Nodes without an alignment track nothing.
 */

#include "aio/coroutine.h"
#include "graph/node.h"

typedef struct WriteTrack {
    uint64_t start, end;        /* the range widened to the node's alignment */
    bool serialising;           /* a read-modify-write, or a range lock */
    const BlockChild *owner;    /* the link writing */
    bool range_lock;            /* node_co_range_lock: the owner's own writes pass */
    bool tracked;
    CoQueue waiters;
} WriteTrack;

/* Waits until [offset, offset+bytes) may be written, then tracks the write. */
void coroutine_fn write_track_begin(BlockNode *node, WriteTrack *t, uint64_t offset,
                                    uint64_t bytes, bool serialising, const BlockChild *owner);
/* Ends the write and lets the writes that wait for it go on. */
void write_track_end(BlockNode *node, WriteTrack *t);
