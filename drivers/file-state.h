/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The per-node state of the `file` driver, which host_device shares (drivers/file.h). */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "drivers/file-inline.h"
#include "drivers/file-mem-rent.h"

typedef enum FileAio {
    FILE_AIO_THREADS,
    FILE_AIO_NATIVE,
    FILE_AIO_IO_URING,
    FILE_AIO_AUTO,              /* aio not given: chosen at open (file_choose_aio) */
} FileAio;

typedef enum FileLocking {
    FILE_LOCKING_AUTO,
    FILE_LOCKING_ON,
    FILE_LOCKING_OFF,
} FileLocking;

typedef struct FileState {
    int fd;
    int buffered_fd;            /* O_DIRECT: for the unaligned tail, opened on demand */
    unsigned buffered_users;    /* tail transfers in the pool on a buffered descriptor */
    unsigned buffered_gen;      /* changes when buffered_fd is retired */
    GArray *retired_fds;        /* int: retired buffered descriptors still in use */
    FileAio aio;
    FileLocking locking;
    bool lock_enabled;          /* locking=on, or auto on a file system with OFD locks */
    bool direct;
    bool no_flush;
    bool unmap;                 /* discard=unmap */
    bool has_zero_range;        /* cleared when the file system refuses them */
    bool has_punch_hole;
    bool has_dsync;             /* pwritev2(RWF_DSYNC) works */
    uint32_t mem_align;         /* O_DIRECT buffer alignment; 1 without */
    bool memory_fs;             /* tmpfs or ramfs, found when the file was opened */
    bool warned_short;          /* logged that the file is shorter than the node */
    FileInline inline_io;       /* aio=threads: transfers that skip the pool */
    void *mem;                  /* zero-copy writes: the file mapped (file-mem.c), or NULL */
    uint64_t mem_size;
    bool mem_refused;           /* mmap failed on this descriptor */
    uint64_t mem_file_size;     /* the file's size at the last check (file-mem.c); 0: none */
    FileMemRent mem_rent;       /* ranges written through a buffer until mapping them pays */
    /*
     * The last data extent block status found, as QEMU keeps one per protocol node:
     * SEEK_HOLE scans page by page up to the next hole, so on a fully
     * allocated tmpfs file every query cost a walk to the end of the file.
     * Writes only turn holes into data and leave it valid; zero writes,
     * discards and resizes drop it (a new descriptor after a reopen shows
     * the same file, so it stays).  data_gen changes with
     * every drop, so that a query that raced with one does not store its
     * answer.
     */
    uint64_t data_start, data_end;      /* empty when data_end <= data_start */
    unsigned data_gen;
} FileState;
