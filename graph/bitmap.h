/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Dirty bitmaps: per node, one bit per `granularity` bytes, set by every
 * write, write-zeroes and discard that reaches the node (graph/io.c) while
 * the bitmap records.  Incremental backup reads which ranges changed since
 * the bitmap was cleared; NBD exports show it as qemu:dirty-bitmap:<name>.
 *
 * The bits are a plain array of 64-bit words (glib has no bitmap type and
 * QEMU's HBitmap levels are not needed at our sizes: a 1 TiB disk at 64 KiB
 * granularity is 2 MiB of bits).  Persistent bitmaps are stored by the
 * node's driver (qcow2's bitmaps extension) through bitmap_*_bytes.
 *
 * A job that uses a bitmap (backup) makes it busy and gives it a
 * successor: writes during the job go to the successor; when the job ends
 * the successor either replaces the bitmap (abdicate: the bits the job
 * copied are gone) or is merged back into it (reclaim), QEMU's scheme.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "graph/node.h"

#define BITMAP_NAME_MAX 1023                    /* bytes, as QEMU's BDRV_BITMAP_MAX_NAME_SIZE */
#define BITMAP_MIN_GRANULARITY 512u
#define BITMAP_MAX_GRANULARITY (64u << 20)
#define BITMAP_DEFAULT_GRANULARITY (64u << 10)  /* what AddBitmap's 0 means */

typedef struct DirtyBitmap {
    BlockNode *node;
    char *name;                 /* NULL for a successor */
    uint32_t granularity;       /* bytes per bit, a power of two */
    uint64_t n_bits;            /* covers node->size */
    uint64_t *words;
    uint64_t n_set;             /* bits set */
    bool disabled;              /* does not record writes */
    bool persistent;            /* the driver stores it in the image */
    bool inconsistent;          /* loaded with the in-use flag: only removal works */
    unsigned busy;              /* > 0: a job or an export uses it */
    struct DirtyBitmap *successor;  /* records in its place while a job runs */
} DirtyBitmap;

/* The node's bitmaps (DirtyBitmap*, in creation order) and lookup by name. */
GList *node_bitmaps(const BlockNode *node);
DirtyBitmap *bitmap_find(const BlockNode *node, const char *name);
/* Like bitmap_find, with NotFound naming node and bitmap. */
DirtyBitmap *bitmap_lookup(BlockNode *node, const char *name, GError **errp);

/* Checks name and granularity as AddBitmap must (InvalidArgument / Exists). */
bool bitmap_check_new(const BlockNode *node, const char *name, uint32_t granularity,
                      GError **errp);
/* Adds an empty, recording bitmap after bitmap_check_new; granularity 0: the default. */
DirtyBitmap *bitmap_create(BlockNode *node, const char *name, uint32_t granularity,
                           GError **errp);
/*
 * A nameless bitmap of node in no list (a job's own, which the job marks
 * itself, as QEMU's mirror does through its filter); bitmap_free frees it.
 */
DirtyBitmap *bitmap_create_detached(BlockNode *node, uint32_t granularity);
/* Removes it from its node and frees it (no checks). */
void bitmap_release(DirtyBitmap *bm);
/* Frees a bitmap that is in no node's list (NULL is fine). */
void bitmap_free(DirtyBitmap *bm);
/* Frees every bitmap of a node going away. */
void node_bitmaps_free(BlockNode *node);

/*
 * What the bus verbs may change: not busy (Busy), not inconsistent
 * (InvalidState: "only removal"), and a persistent one only while its
 * node takes writes (ReadOnly).  `what` is the verb for messages.
 */
bool bitmap_check_modifiable(const DirtyBitmap *bm, const char *what, GError **errp);

/* Bit operations on byte ranges (clipped to the bitmap). */
void bitmap_set_range(DirtyBitmap *bm, uint64_t offset, uint64_t bytes);
void bitmap_reset_range(DirtyBitmap *bm, uint64_t offset, uint64_t bytes);
void bitmap_clear(DirtyBitmap *bm);
bool bitmap_get(const DirtyBitmap *bm, uint64_t offset);
/* Bytes covered by set bits (the last bit counts only up to the node's size). */
uint64_t bitmap_dirty_bytes(const DirtyBitmap *bm);
/*
 * From offset on (< the node's size): *len bytes share the state returned
 * (true = dirty), at most max_len.
 */
bool bitmap_extent(const DirtyBitmap *bm, uint64_t offset, uint64_t max_len, uint64_t *len);
/* Sets in dst every range that is dirty in src (granularities may differ). */
void bitmap_merge_into(DirtyBitmap *dst, const DirtyBitmap *src);
/* Whether the bitmap records writes now (Node.Bitmaps "recording"). */
bool bitmap_recording(const DirtyBitmap *bm);

/* The node's size changed: bitmaps follow (new bits clean). */
void node_bitmaps_resize(BlockNode *node);
/* The request path: marks [offset, offset+bytes) in every recording bitmap. */
void node_bitmaps_mark(BlockNode *node, uint64_t offset, uint64_t bytes);

/*
 * Serialized bits for image formats: bit i of the bitmap is bit (i % 8) of
 * byte i / 8 (little endian, QEMU's layout).  first_bit is a multiple of 8.
 */
void bitmap_to_bytes(const DirtyBitmap *bm, uint64_t first_bit, uint64_t n_bits, uint8_t *out);
void bitmap_from_bytes(DirtyBitmap *bm, uint64_t first_bit, uint64_t n_bits, const uint8_t *in);
/* Sets or clears bits [first_bit, first_bit + n_bits). */
void bitmap_fill_bits(DirtyBitmap *bm, uint64_t first_bit, uint64_t n_bits, bool value);

/* Marks the bitmap used by a job or export (counted); Node.Bitmaps shows busy. */
void bitmap_set_busy(DirtyBitmap *bm, bool busy);

/*
 * Job use (backup): create_successor makes bm busy and gives it an empty
 * successor of the same granularity that records in its place (if bm
 * recorded); bm's own bits stay as they were at this moment.
 * abdicate: the successor's bits replace bm's (the job succeeded and
 * copied what bm had); reclaim: the successor's bits are merged into bm
 * (the job failed: nothing was consumed).  Both end the busy state.
 */
bool bitmap_create_successor(DirtyBitmap *bm, GError **errp);
void bitmap_abdicate(DirtyBitmap *bm);
void bitmap_reclaim(DirtyBitmap *bm);

/* Tells the bus that Node.Bitmaps changed. */
void node_bitmaps_changed(BlockNode *node);
