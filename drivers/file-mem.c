/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Why a mapping: on tmpfs a buffered write is a copy into the page cache,
 * and an NBD write's payload already costs a copy out of the socket; a
 * recv(2) into the mapped file does both in one (docs/nbd.md, "Zero-copy
 * writes").  Why only tmpfs and ramfs: a store into a mapping of a disk
 * file may have to read the page from the disk first, on the loop thread.
 * Why only kernel copies into it: past the end of a file that another
 * program shrank, a store raises SIGBUS; the kernel's copy fails with
 * EFAULT, and the caller writes the rest the normal way.
 *
 * A range is written through a buffer until mapping it pays: where a
 * first store into a mapped page costs many copies (drivers/file-mem-rent.h).
 *
 * The mapping covers the file as the node knows it and grows with it; its
 * pages count in the daemon's resident set (as shared memory: the file's
 * own pages, no extra copy) and their page tables cost 2 MiB per GiB
 * written.
 */

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "aio/worker-pool.h"
#include "drivers/file-inline.h"
#include "drivers/file-mem.h"
#include "drivers/file.h"

/* Larger files are written the normal way: the mapping's address space stays small. */
#define FILE_MEM_MAX_SIZE (1ULL << 40)

typedef struct FileMemUnmap {
    void *mem;
    uint64_t size;
} FileMemUnmap;

static long file_mem_unmap_job(void *opaque)
{
    FileMemUnmap *u = opaque;

    munmap(u->mem, u->size);
    g_free(u);
    return 0;
}

void file_mem_drop(FileState *s)
{
    if (s->mem) {
        /* Tearing down the page tables takes ~18 ms per GiB written: not on the loop. */
        FileMemUnmap *u = g_new(FileMemUnmap, 1);

        *u = (FileMemUnmap){ s->mem, s->mem_size };
        worker_pool_run_detached(file_mem_unmap_job, u);
    }
    file_mem_rent_reset(&s->mem_rent);
    s->mem = NULL;
    s->mem_size = 0;
    s->mem_file_size = 0;
    s->mem_refused = false;
}

/*
 * A file shrunk behind our back: into the rest of its last page a copy
 * would not fail, and what POSIX makes of bytes there is unspecified; the
 * normal write extends the file (fstat of a file in memory does not
 * block).  Checked once per write, for the whole of it: fstat was 7 % of
 * an iothread's time when every piece of a 1 MiB payload asked again
 * (docs/nbd.md, "Placement, and one size check per write").
 */
static bool file_mem_size_covers(FileState *s, uint64_t end, bool continued)
{
    struct stat st;

    if (continued && end <= s->mem_file_size)
        return true;
    if (fstat(s->fd, &st) < 0)
        return false;
    s->mem_file_size = (uint64_t)st.st_size;
    return end <= s->mem_file_size;
}

void *file_mem_write(BlockNode *node, uint64_t offset, uint64_t bytes, bool continued)
{
    FileState *s = node->opaque;

    /*
     * On every loop, the main one included: a copy saved is CPU time saved,
     * and a host serving many guests has none to spare.  The pool's overlap
     * (the loop receives the next payload while a worker copies this one)
     * won only with a CPU idle; with fio beside the daemon on two CPUs the
     * mapping is faster there too (docs/nbd.md, "Mapped writes on the main
     * loop").
     */
    if (!s->inline_io.memory_fs || !node->writable || s->mem_refused)
        return NULL;
    if (node->size > FILE_MEM_MAX_SIZE || offset + bytes > node->size)
        return NULL;
    /* Where a page's first fault costs many copies, a range is copied a while first. */
    if (!file_mem_rent_paid(&s->mem_rent, node->size, offset, bytes, file_mem_rent_limit()))
        return NULL;
    if (!file_mem_size_covers(s, offset + bytes, continued))
        return NULL;
    if (offset + bytes > s->mem_size) {
        /* First use, or the node grew: map it as it is now. */
        if (s->mem)
            file_mem_drop(s);
        void *p = mmap(NULL, node->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
        if (p == MAP_FAILED) {
            g_debug("Node '%s': writes are copied, the file cannot be mapped: %s",
                    node->name, g_strerror(errno));
            s->mem_refused = true;
            return NULL;
        }
        s->mem = p;
        s->mem_size = node->size;
    }
    return (uint8_t *)s->mem + offset;
}
