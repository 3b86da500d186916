/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A recycling pool of page-aligned I/O buffers in power-of-two size classes
 * (4 KiB .. 32 MiB), one per event loop (thread-local: no lock on the
 * request path; an iothread's goes when it stops).  A loop's pool serves
 * all its clients and exports (buffers are interchangeable), and keeps a
 * bounded number per class (and 128 MiB in all) so memory stays bounded.
 */

#include <stdlib.h>

#include "aio/loop.h"
#include "exports/nbd-server.h"

#define POOL_MIN_SHIFT 12
#define POOL_MAX_SHIFT 25
#define POOL_CLASSES   (POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)

typedef struct PoolClass {
    void **free;
    unsigned n;
} PoolClass;

static __thread PoolClass pool[POOL_CLASSES];
static __thread size_t pool_cached_bytes;
static __thread bool pool_exit_registered;

/* An iothread stops: its cached buffers go. */
static void pool_free_all(void *opaque)
{
    for (unsigned i = 0; i < POOL_CLASSES; i++) {
        while (pool[i].n)
            free(pool[i].free[--pool[i].n]);
        g_clear_pointer(&pool[i].free, g_free);
    }
    pool_cached_bytes = 0;
    pool_exit_registered = false;
}

/* All classes together keep at most this much memory cached. */
#define POOL_MAX_CACHED_BYTES ((size_t)128 << 20)

static unsigned pool_class(size_t size)
{
    unsigned shift = POOL_MIN_SHIFT;
    while (shift < POOL_MAX_SHIFT && ((size_t)1 << shift) < size)
        shift++;
    return shift - POOL_MIN_SHIFT;
}

/*
 * How many free buffers a class keeps: up to 64 MiB worth, at least 4 and
 * at most 256.  A count per class that ignored the size (64 of 256 KiB)
 * freed buffers while nbdcopy kept 256 of them in flight, and every new one
 * cost page faults: 1,300 mmap/munmap pairs and ~13 % of the daemon's time
 * per 1 GiB copy.
 */
static unsigned pool_cap(unsigned cls)
{
    size_t size = (size_t)1 << (cls + POOL_MIN_SHIFT);
    return (unsigned)CLAMP((64u << 20) / size, 4, 256);
}

void *nbd_buffer_get(size_t size)
{
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << POOL_MAX_SHIFT))
        return g_malloc(size);      /* never happens for checked requests */
    unsigned cls = pool_class(size);
    PoolClass *pc = &pool[cls];
    if (pc->n) {
        pool_cached_bytes -= (size_t)1 << (cls + POOL_MIN_SHIFT);
        return pc->free[--pc->n];
    }
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, (size_t)1 << (cls + POOL_MIN_SHIFT)) != 0)
        g_error("out of memory for an NBD buffer of %zu bytes", size);
    return buf;
}

void nbd_buffer_put(void *buf, size_t size)
{
    if (!buf)
        return;
    if (size == 0)
        size = 1;
    if (size > ((size_t)1 << POOL_MAX_SHIFT)) {
        g_free(buf);
        return;
    }
    unsigned cls = pool_class(size);
    PoolClass *pc = &pool[cls];
    unsigned cap = pool_cap(cls);
    size_t class_size = (size_t)1 << (cls + POOL_MIN_SHIFT);
    if (pc->n == cap || pool_cached_bytes + class_size > POOL_MAX_CACHED_BYTES) {
        free(buf);
        return;
    }
    if (!pc->free)
        pc->free = g_new(void *, cap);
    if (!pool_exit_registered && !aio_loop_is_main(aio_loop_self())) {
        pool_exit_registered = true;
        aio_loop_at_exit(pool_free_all, NULL);
    }
    pc->free[pc->n++] = buf;
    pool_cached_bytes += class_size;
}
