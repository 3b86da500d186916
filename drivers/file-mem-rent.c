/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <glib.h>

#include "aio/loop.h"
#include "drivers/file-mem-rent.h"

#define CHUNK_SHIFT 20
#define PAGE_SIZE_4K 4096u
#define PAGES_PER_CHUNK ((1u << CHUNK_SHIFT) / PAGE_SIZE_4K)

/*
 * What a mapped write saves per 4 KiB page: one connection's 1 MiB writes
 * took 70-110 µs less per MiB through the mapping than through a buffer
 * (docs/nbd.md, "First stores into the mapping").
 */
#define COPY_SAVED_NS 350

unsigned file_mem_rent_limit_for(uint64_t first_touch_ns)
{
    return (unsigned)MIN(first_touch_ns / COPY_SAVED_NS, FILE_MEM_RENT_MAX);
}

/*
 * The cost of a first store into a page: the best of three runs over 16
 * fresh anonymous pages (the best, so that a run the scheduler interrupted
 * does not count).  A fault on a page of a shared file mapping costs about
 * the same: both are the kernel's fault path plus, in a VM with shadow page
 * tables, the hypervisor's.
 */
static uint64_t first_touch_ns(void)
{
    enum { PAGES = 16, RUNS = 3 };
    uint64_t best = UINT64_MAX;

    for (int run = 0; run < RUNS; run++) {
        volatile uint8_t *p = mmap(NULL, PAGES * PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 0;
        int64_t t0 = aio_now_ns();
        for (unsigned i = 0; i < PAGES; i++)
            p[i * PAGE_SIZE_4K] = 1;
        best = MIN(best, (uint64_t)(aio_now_ns() - t0) / PAGES);
        munmap((void *)p, PAGES * PAGE_SIZE_4K);
    }
    return best;
}

static unsigned find_limit(void)
{
    const char *forced = getenv("BLOCKGRAPHD_TEST_MAP_AFTER");

    if (forced && *forced)
        return (unsigned)MIN(strtoul(forced, NULL, 10), FILE_MEM_RENT_MAX);
    uint64_t ns = first_touch_ns();
    unsigned limit = file_mem_rent_limit_for(ns);
    g_debug("zero-copy writes: a first store into a page costs %" PRIu64 " ns; a range is mapped "
            "once each of its pages was written %u times through a buffer", ns, limit);
    return limit;
}

unsigned file_mem_rent_limit(void)
{
    static gsize limit;     /* the limit + 1; 0 until found */

    if (g_once_init_enter(&limit))
        g_once_init_leave(&limit, find_limit() + 1);
    return (unsigned)limit - 1;
}

bool file_mem_rent_paid(FileMemRent *r, uint64_t file_size, uint64_t off, uint64_t len,
                        unsigned limit)
{
    if (limit == 0 || len == 0)
        return true;
    uint64_t first = off >> CHUNK_SHIFT, last = (off + len - 1) >> CHUNK_SHIFT;
    uint64_t chunks = MAX((file_size + (1u << CHUNK_SHIFT) - 1) >> CHUNK_SHIFT, last + 1);
    if (r->chunks < chunks) {
        r->copied = g_renew(uint16_t, r->copied, chunks);
        memset(r->copied + r->chunks, 0, (chunks - r->chunks) * sizeof(*r->copied));
        r->chunks = chunks;
    }
    uint32_t full = limit * PAGES_PER_CHUNK;
    bool paid = true;
    for (uint64_t c = first; c <= last; c++)
        paid = paid && r->copied[c] >= full;
    if (paid)
        return true;
    for (uint64_t c = first; c <= last; c++) {
        uint64_t start = MAX(off, c << CHUNK_SHIFT);
        uint64_t end = MIN(off + len, (c + 1) << CHUNK_SHIFT);
        uint64_t pages = (end - start + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
        r->copied[c] = (uint16_t)MIN(full, r->copied[c] + pages);
    }
    return false;
}

void file_mem_rent_reset(FileMemRent *r)
{
    g_clear_pointer(&r->copied, g_free);
    r->chunks = 0;
}
