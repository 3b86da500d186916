/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * When a range of a file is worth mapping for zero-copy writes
 * (drivers/file-mem.c).  A mapped write saves a copy each time, but the
 * first store into each page of a new mapping costs a page fault, and on
 * some hosts that fault costs as much as dozens of copies (a VM with shadow
 * page tables: ~9-11 µs per 4 KiB page against ~0.35 µs saved).  A file
 * written once (an image copied in) would then be written several times
 * slower than by copying.  So each range is first written the copying way
 * until its copies have cost what its faults would (rent), and mapped after
 * that (buy): never more than twice the cheaper of the two, whatever the
 * pattern of writes.  Where faults are cheap the limit is 0: mapped at once.
 */

#include <stdbool.h>
#include <stdint.h>

/*
 * Pages written the copying way, per 1 MiB chunk of the file, since it was
 * last mapped: 2 bytes per MiB of the file, allocated with the first count.
 */
typedef struct FileMemRent {
    uint16_t *copied;
    uint64_t chunks;
} FileMemRent;

#define FILE_MEM_RENT_MAX 64

/*
 * How many times each page of a range is written the copying way before
 * the range is mapped, for a first store into a page costing
 * first_touch_ns: 0 (map at once) up to FILE_MEM_RENT_MAX.
 */
unsigned file_mem_rent_limit_for(uint64_t first_touch_ns);

/*
 * This host's limit, found once per process by timing first stores into
 * fresh pages; BLOCKGRAPHD_TEST_MAP_AFTER (tests) sets it instead.
 */
unsigned file_mem_rent_limit(void);

/*
 * Whether [off, +len) of a file of file_size bytes is to be written through
 * the mapping now: true once every 1 MiB chunk it touches has had limit
 * times its pages written the copying way; otherwise false, and the pages
 * of this write are counted (the caller copies).
 */
bool file_mem_rent_paid(FileMemRent *r, uint64_t file_size, uint64_t off, uint64_t len,
                        unsigned limit);

/* Forgets the counts: the mapping is gone, so are its pages' faults. */
void file_mem_rent_reset(FileMemRent *r);
