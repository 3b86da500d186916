/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dirty bitmaps of a node: bits, lookup, checks, successors (see bitmap.h). */

#include <string.h>

#include "graph/bitmap.h"
#include "graph/error.h"

#define WORD_BITS 64

static uint64_t n_words(uint64_t n_bits)
{
    return (n_bits + WORD_BITS - 1) / WORD_BITS;
}

static uint64_t bits_for(const DirtyBitmap *bm, uint64_t size)
{
    return (size + bm->granularity - 1) / bm->granularity;
}

GList *node_bitmaps(const BlockNode *node)
{
    return node->bitmaps;
}

DirtyBitmap *bitmap_find(const BlockNode *node, const char *name)
{
    for (GList *l = node->bitmaps; l; l = l->next) {
        DirtyBitmap *bm = l->data;
        if (g_str_equal(bm->name, name))
            return bm;
    }
    return NULL;
}

DirtyBitmap *bitmap_lookup(BlockNode *node, const char *name, GError **errp)
{
    DirtyBitmap *bm = bitmap_find(node, name);

    if (!bm)
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "Node '%s' has no bitmap '%s'",
                    node->name, name);
    return bm;
}

bool bitmap_check_new(const BlockNode *node, const char *name, uint32_t granularity,
                      GError **errp)
{
    if (!name[0] || strlen(name) > BITMAP_NAME_MAX || !g_utf8_validate(name, -1, NULL)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Bitmap name on node '%s' must be 1 to %d bytes of UTF-8", node->name,
                    BITMAP_NAME_MAX);
        return false;
    }
    if (granularity && (granularity & (granularity - 1) || granularity < BITMAP_MIN_GRANULARITY ||
                        granularity > BITMAP_MAX_GRANULARITY)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Granularity %u of bitmap '%s' on node '%s' must be a power of two "
                    "from 512 to 64M", granularity, name, node->name);
        return false;
    }
    if (bitmap_find(node, name)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "Node '%s' already has a bitmap '%s'",
                    node->name, name);
        return false;
    }
    return true;
}

static DirtyBitmap *bitmap_new(BlockNode *node, const char *name, uint32_t granularity)
{
    DirtyBitmap *bm = g_new0(DirtyBitmap, 1);

    bm->node = node;
    bm->name = g_strdup(name);
    bm->granularity = granularity ? granularity : BITMAP_DEFAULT_GRANULARITY;
    bm->n_bits = bits_for(bm, node->size);
    bm->words = g_new0(uint64_t, n_words(bm->n_bits));
    return bm;
}

void bitmap_free(DirtyBitmap *bm)
{
    if (!bm)
        return;
    bitmap_free(bm->successor);
    g_free(bm->words);
    g_free(bm->name);
    g_free(bm);
}

DirtyBitmap *bitmap_create(BlockNode *node, const char *name, uint32_t granularity,
                           GError **errp)
{
    if (!bitmap_check_new(node, name, granularity, errp))
        return NULL;
    DirtyBitmap *bm = bitmap_new(node, name, granularity);
    node->bitmaps = g_list_append(node->bitmaps, bm);
    node_bitmaps_changed(node);
    return bm;
}

DirtyBitmap *bitmap_create_detached(BlockNode *node, uint32_t granularity)
{
    return bitmap_new(node, NULL, granularity);
}

void bitmap_release(DirtyBitmap *bm)
{
    BlockNode *node = bm->node;

    node->bitmaps = g_list_remove(node->bitmaps, bm);
    bitmap_free(bm);
    node_bitmaps_changed(node);
}

void node_bitmaps_free(BlockNode *node)
{
    g_list_free_full(g_steal_pointer(&node->bitmaps), (GDestroyNotify)bitmap_free);
}

bool bitmap_check_modifiable(const DirtyBitmap *bm, const char *what, GError **errp)
{
    if (bm->busy) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Cannot %s bitmap '%s' of node '%s': it is in use by a job or an export",
                    what, bm->name, bm->node->name);
        return false;
    }
    if (bm->inconsistent) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_STATE,
                    "Cannot %s bitmap '%s' of node '%s': it is inconsistent (the image was "
                    "not closed cleanly); it can only be removed", what, bm->name,
                    bm->node->name);
        return false;
    }
    if (bm->persistent && !node_takes_writes(bm->node)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Cannot %s persistent bitmap '%s': node '%s' is read-only", what,
                    bm->name, bm->node->name);
        return false;
    }
    return true;
}

/* ---- bits ---------------------------------------------------------------- */

static uint64_t word_mask(uint64_t from, uint64_t to)  /* bits [from, to) of one word */
{
    uint64_t hi = to >= WORD_BITS ? ~0ull : (1ull << to) - 1;
    return hi & ~((1ull << from) - 1);
}

void bitmap_fill_bits(DirtyBitmap *bm, uint64_t first, uint64_t n, bool value)
{
    uint64_t end = MIN(first + n, bm->n_bits);

    while (first < end) {
        uint64_t w = first / WORD_BITS, lo = first % WORD_BITS;
        uint64_t hi = MIN(end - w * WORD_BITS, WORD_BITS);
        uint64_t mask = word_mask(lo, hi);
        uint64_t before = bm->words[w];

        bm->words[w] = value ? before | mask : before & ~mask;
        bm->n_set += (uint64_t)__builtin_popcountll(bm->words[w]) -
                     (uint64_t)__builtin_popcountll(before);
        first = w * WORD_BITS + hi;
    }
}

static void byte_range_to_bits(const DirtyBitmap *bm, uint64_t offset, uint64_t bytes,
                               uint64_t *first, uint64_t *n)
{
    *first = offset / bm->granularity;
    *n = bytes ? (offset + bytes - 1) / bm->granularity + 1 - *first : 0;
}

void bitmap_set_range(DirtyBitmap *bm, uint64_t offset, uint64_t bytes)
{
    uint64_t first, n;

    byte_range_to_bits(bm, offset, bytes, &first, &n);
    bitmap_fill_bits(bm, first, n, true);
}

void bitmap_reset_range(DirtyBitmap *bm, uint64_t offset, uint64_t bytes)
{
    uint64_t first, n;

    byte_range_to_bits(bm, offset, bytes, &first, &n);
    bitmap_fill_bits(bm, first, n, false);
}

void bitmap_clear(DirtyBitmap *bm)
{
    memset(bm->words, 0, n_words(bm->n_bits) * sizeof(uint64_t));
    bm->n_set = 0;
}

static bool bit_get(const DirtyBitmap *bm, uint64_t i)
{
    return bm->words[i / WORD_BITS] >> (i % WORD_BITS) & 1;
}

bool bitmap_get(const DirtyBitmap *bm, uint64_t offset)
{
    uint64_t i = offset / bm->granularity;

    return i < bm->n_bits && bit_get(bm, i);
}

uint64_t bitmap_dirty_bytes(const DirtyBitmap *bm)
{
    uint64_t bytes = bm->n_set * bm->granularity;
    uint64_t size = bm->node->size;

    /* The last bit covers only what is left of the node. */
    if (bm->n_bits && bit_get(bm, bm->n_bits - 1) && size % bm->granularity)
        bytes -= bm->granularity - size % bm->granularity;
    return bytes;
}

/* The first bit from i on (< end) whose value differs from value, or end. */
static uint64_t next_differing(const DirtyBitmap *bm, uint64_t i, uint64_t end, bool value)
{
    while (i < end) {
        uint64_t w = bm->words[i / WORD_BITS];
        uint64_t x = (value ? ~w : w) & ~((1ull << (i % WORD_BITS)) - 1);

        if (x)
            return MIN(i / WORD_BITS * WORD_BITS + (uint64_t)__builtin_ctzll(x), end);
        i = (i / WORD_BITS + 1) * WORD_BITS;
    }
    return end;
}

bool bitmap_extent(const DirtyBitmap *bm, uint64_t offset, uint64_t max_len, uint64_t *len)
{
    uint64_t limit = MIN(offset + max_len, bm->node->size);
    uint64_t i = offset / bm->granularity;
    bool dirty = i < bm->n_bits && bit_get(bm, i);
    uint64_t end_bit = bits_for(bm, limit);
    uint64_t j = next_differing(bm, i, MIN(end_bit, bm->n_bits), dirty);
    uint64_t end = j >= MIN(end_bit, bm->n_bits) ? limit : j * bm->granularity;

    *len = MAX(end, offset + 1) - offset;
    return dirty;
}

void bitmap_merge_into(DirtyBitmap *dst, const DirtyBitmap *src)
{
    uint64_t size = src->node->size, len;

    if (dst->granularity == src->granularity && dst->n_bits == src->n_bits) {
        for (uint64_t w = 0; w < n_words(dst->n_bits); w++)
            dst->words[w] |= src->words[w];
        dst->n_set = 0;
        for (uint64_t w = 0; w < n_words(dst->n_bits); w++)
            dst->n_set += (uint64_t)__builtin_popcountll(dst->words[w]);
        return;
    }
    for (uint64_t off = 0; off < size; off += len) {
        if (bitmap_extent(src, off, size - off, &len))
            bitmap_set_range(dst, off, len);
    }
}

bool bitmap_recording(const DirtyBitmap *bm)
{
    return bm->successor ? !bm->successor->disabled : !bm->disabled;
}

static void bitmap_resize(DirtyBitmap *bm)
{
    uint64_t old = bm->n_bits, n = bits_for(bm, bm->node->size);

    if (n < old)
        bitmap_fill_bits(bm, n, old - n, false);
    bm->words = g_renew(uint64_t, bm->words, MAX(n_words(n), 1));
    for (uint64_t w = n_words(old); w < n_words(n); w++)
        bm->words[w] = 0;
    bm->n_bits = n;
    if (bm->successor)
        bitmap_resize(bm->successor);
}

void node_bitmaps_resize(BlockNode *node)
{
    for (GList *l = node->bitmaps; l; l = l->next)
        bitmap_resize(l->data);
    if (node->bitmaps)
        node_bitmaps_changed(node);
}

void node_bitmaps_mark(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    for (GList *l = node->bitmaps; l; l = l->next) {
        DirtyBitmap *bm = l->data;
        DirtyBitmap *target = bm->successor ? bm->successor : bm;

        if (!target->disabled)
            bitmap_set_range(target, offset, bytes);
    }
}

/* ---- serialization ------------------------------------------------------- */

void bitmap_to_bytes(const DirtyBitmap *bm, uint64_t first_bit, uint64_t n_bits, uint8_t *out)
{
    g_assert(first_bit % 8 == 0);
    memset(out, 0, (n_bits + 7) / 8);
    for (uint64_t i = 0; i < n_bits && first_bit + i < bm->n_bits; i += 8) {
        uint64_t b = first_bit + i;
        out[i / 8] = (uint8_t)(bm->words[b / WORD_BITS] >> (b % WORD_BITS));
    }
}

void bitmap_from_bytes(DirtyBitmap *bm, uint64_t first_bit, uint64_t n_bits, const uint8_t *in)
{
    g_assert(first_bit % 8 == 0);
    for (uint64_t i = 0; i < n_bits && first_bit + i < bm->n_bits; i += 8) {
        uint64_t b = first_bit + i;
        uint64_t valid = MIN(MIN(n_bits - i, bm->n_bits - b), 8);
        uint64_t mask = ((1ull << valid) - 1) << (b % WORD_BITS);
        uint64_t *w = &bm->words[b / WORD_BITS];
        uint64_t before = *w;

        *w = (before & ~mask) | (((uint64_t)in[i / 8] << (b % WORD_BITS)) & mask);
        bm->n_set += (uint64_t)__builtin_popcountll(*w) - (uint64_t)__builtin_popcountll(before);
    }
}

/* ---- jobs ---------------------------------------------------------------- */

void bitmap_set_busy(DirtyBitmap *bm, bool busy)
{
    g_assert(busy || bm->busy > 0);
    bm->busy += busy ? 1 : -1;
    node_bitmaps_changed(bm->node);
}

bool bitmap_create_successor(DirtyBitmap *bm, GError **errp)
{
    if (!bitmap_check_modifiable(bm, "use", errp))
        return false;
    if (bm->successor) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "Bitmap '%s' of node '%s' already has a "
                    "successor", bm->name, bm->node->name);
        return false;
    }
    bm->successor = bitmap_new(bm->node, NULL, bm->granularity);
    bm->successor->disabled = bm->disabled;
    bitmap_set_busy(bm, true);
    return true;
}

static DirtyBitmap *take_successor(DirtyBitmap *bm)
{
    DirtyBitmap *succ = g_steal_pointer(&bm->successor);

    g_assert(succ);
    bm->disabled = succ->disabled;
    bitmap_set_busy(bm, false);
    return succ;
}

void bitmap_abdicate(DirtyBitmap *bm)
{
    DirtyBitmap *succ = take_successor(bm);

    g_free(bm->words);
    bm->words = g_steal_pointer(&succ->words);
    bm->n_set = succ->n_set;
    bm->n_bits = succ->n_bits;
    bitmap_free(succ);
}

void bitmap_reclaim(DirtyBitmap *bm)
{
    DirtyBitmap *succ = take_successor(bm);

    bitmap_merge_into(bm, succ);
    bitmap_free(succ);
}

void node_bitmaps_changed(BlockNode *node)
{
    node_notify_changed(node, NODE_CHANGE_BITMAPS);
}
