/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "graph/write-track.h"

static bool write_tracks_conflict(const WriteTrack *a, const WriteTrack *b)
{
    if ((a->range_lock || b->range_lock) && a->owner == b->owner)
        return false;       /* a range lock does not hold back its owner's writes */
    return (a->serialising || b->serialising) && a->start < b->end && b->start < a->end;
}

void coroutine_fn write_track_begin(BlockNode *node, WriteTrack *t, uint64_t offset,
                                    uint64_t bytes, bool serialising, const BlockChild *owner)
{
    uint64_t align = MAX(node->request_alignment, 1);

    t->tracked = align > 1 || node->range_lockers > 0 || node->read_lockers > 0;
    if (!t->tracked)
        return;
    t->owner = owner;
    t->range_lock = false;
    t->start = offset / align * align;
    t->end = (offset + bytes + align - 1) / align * align;
    t->serialising = serialising;
    co_queue_init(&t->waiters);
    /* Each wake-up starts over: the list may have changed meanwhile. */
    for (GList *l = node->write_tracks; l;) {
        WriteTrack *other = l->data;
        if (write_tracks_conflict(t, other)) {
            co_queue_wait(&other->waiters);
            l = node->write_tracks;
        } else {
            l = l->next;
        }
    }
    node->write_tracks = g_list_prepend(node->write_tracks, t);
}

void write_track_end(BlockNode *node, WriteTrack *t)
{
    if (!t->tracked)
        return;
    node->write_tracks = g_list_remove(node->write_tracks, t);
    co_queue_wake_all(&t->waiters);
}
