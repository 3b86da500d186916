/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Which ranges of a node a job still has to copy: one bit per granule
 * (backup's copy list; mirror and active commit use a node bitmap).
 */

#include <stdbool.h>
#include <stdint.h>

typedef struct JobDirty {
    uint64_t size;              /* bytes covered */
    uint64_t granularity;       /* bytes per bit, a power of two */
    uint64_t nbits;
    uint64_t count;             /* bits set */
    uint64_t *words;
} JobDirty;

void job_dirty_init(JobDirty *d, uint64_t size, uint64_t granularity);
void job_dirty_destroy(JobDirty *d);
/* Marks every granule [offset, offset + bytes) touches. */
void job_dirty_set(JobDirty *d, uint64_t offset, uint64_t bytes);
/* Clears the granules [offset, offset + bytes) touches. */
void job_dirty_clear(JobDirty *d, uint64_t offset, uint64_t bytes);
/* Bytes marked (whole granules, the last one cut at size). */
uint64_t job_dirty_bytes(const JobDirty *d);
/*
 * The first marked run at or after from (wrapping round to 0), at most max
 * bytes, granule-aligned and within size; false when nothing is marked.
 */
bool job_dirty_next(const JobDirty *d, uint64_t from, uint64_t max, uint64_t *ret_offset,
                    uint64_t *ret_bytes);
