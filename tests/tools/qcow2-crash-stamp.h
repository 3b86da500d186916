/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The crash test's data format: every 512-byte sector written carries a
 * stamp (magic, block, generation) and a filler derived from it, so a
 * sector read back after a crash tells which write it came from and whether
 * it is intact.  The journal lists, per 4 KiB block, the generation last
 * written before the most recent completed flush.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CRASH_BLOCK 4096u
#define CRASH_SECTOR 512u
#define CRASH_MAGIC 0x71636f7732637261ull   /* "qcow2cra" */

static inline void crash_stamp_block(uint8_t *buf, uint64_t block, uint64_t gen)
{
    for (unsigned s = 0; s < CRASH_BLOCK / CRASH_SECTOR; s++) {
        uint64_t *p = (uint64_t *)(buf + s * CRASH_SECTOR);
        p[0] = CRASH_MAGIC;
        p[1] = block;
        p[2] = gen;
        for (unsigned i = 3; i < CRASH_SECTOR / 8; i++)
            p[i] = (block * 0x9e3779b97f4a7c15ull) ^ (gen + i) ^ ((uint64_t)s << 56);
    }
}

/* 1: valid stamp of block (gen in *gen), 0: all zero, -1: garbage. */
static inline int crash_check_sector(const uint8_t *sec, unsigned s, uint64_t block,
                                     uint64_t *gen)
{
    const uint64_t *p = (const uint64_t *)sec;
    if (p[0] != CRASH_MAGIC) {
        for (unsigned i = 0; i < CRASH_SECTOR; i++) {
            if (sec[i])
                return -1;
        }
        return 0;
    }
    if (p[1] != block)
        return -1;
    for (unsigned i = 3; i < CRASH_SECTOR / 8; i++) {
        if (p[i] != ((block * 0x9e3779b97f4a7c15ull) ^ (p[2] + i) ^ ((uint64_t)s << 56)))
            return -1;
    }
    *gen = p[2];
    return 1;
}
