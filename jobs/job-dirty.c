/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jobs/job-dirty.h"

#include <glib.h>

void job_dirty_init(JobDirty *d, uint64_t size, uint64_t granularity)
{
    g_assert(granularity > 0 && (granularity & (granularity - 1)) == 0);
    d->size = size;
    d->granularity = granularity;
    d->nbits = (size + granularity - 1) / granularity;
    d->count = 0;
    d->words = g_new0(uint64_t, (d->nbits + 63) / 64 + 1);
}

void job_dirty_destroy(JobDirty *d)
{
    g_clear_pointer(&d->words, g_free);
    d->count = d->nbits = 0;
}

static bool bit_get(const JobDirty *d, uint64_t bit)
{
    return d->words[bit / 64] & (UINT64_C(1) << (bit % 64));
}

/* The bits [first, end) that [offset, offset + bytes) touches. */
static bool bit_span(const JobDirty *d, uint64_t offset, uint64_t bytes, uint64_t *first,
                     uint64_t *end)
{
    if (bytes == 0 || offset >= d->size)
        return false;
    *first = offset / d->granularity;
    *end = MIN((offset + bytes + d->granularity - 1) / d->granularity, d->nbits);
    return true;
}

void job_dirty_set(JobDirty *d, uint64_t offset, uint64_t bytes)
{
    uint64_t bit, end;

    if (!d->words || !bit_span(d, offset, bytes, &bit, &end))
        return;
    for (; bit < end; bit++) {
        if (!bit_get(d, bit)) {
            d->words[bit / 64] |= UINT64_C(1) << (bit % 64);
            d->count++;
        }
    }
}

void job_dirty_clear(JobDirty *d, uint64_t offset, uint64_t bytes)
{
    uint64_t bit, end;

    if (!d->words || !bit_span(d, offset, bytes, &bit, &end))
        return;
    for (; bit < end; bit++) {
        if (bit_get(d, bit)) {
            d->words[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
            d->count--;
        }
    }
}

uint64_t job_dirty_bytes(const JobDirty *d)
{
    uint64_t bytes = d->count * d->granularity;

    if (d->count && bit_get(d, d->nbits - 1))
        bytes -= d->nbits * d->granularity - d->size;
    return bytes;
}

/* The first set bit at or after bit (below end), or end. */
static uint64_t next_set(const JobDirty *d, uint64_t bit, uint64_t end)
{
    while (bit < end) {
        uint64_t w = d->words[bit / 64] >> (bit % 64);

        if (w)
            return MIN(bit + (uint64_t)__builtin_ctzll(w), end);
        bit = (bit / 64 + 1) * 64;
    }
    return end;
}

bool job_dirty_next(const JobDirty *d, uint64_t from, uint64_t max, uint64_t *ret_offset,
                    uint64_t *ret_bytes)
{
    uint64_t start = from / d->granularity, bit, n = 1;

    if (d->count == 0)
        return false;
    bit = next_set(d, MIN(start, d->nbits), d->nbits);
    if (bit == d->nbits)
        bit = next_set(d, 0, d->nbits);
    while (bit + n < d->nbits && bit_get(d, bit + n) && (n + 1) * d->granularity <= max)
        n++;
    *ret_offset = bit * d->granularity;
    *ret_bytes = MIN(n * d->granularity, d->size - *ret_offset);
    return true;
}
