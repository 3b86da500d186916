/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The target of an image creation (drivers/create.h): a descriptor whose
 * I/O runs in the worker pool, or a link to a protocol node; and the
 * creation of a plain image (file, raw): a length and its preallocation.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

#include "aio/worker-pool.h"
#include "drivers/create.h"
#include "drivers/file-jobs.h"
#include "graph/error.h"
#include "graph/io.h"

/* Preallocation steps (progress and pause points): zeroes are written 1 MiB at a time;
 * a file system allocates a large range in one fallocate about as fast as a small one. */
#define CREATE_CHUNK (1024 * 1024)
#define CREATE_FALLOC_CHUNK (256 * 1024 * 1024)

const char *const create_prealloc_names[] = { "off", "metadata", "falloc", "full", NULL };
const char *const create_prealloc_data_names[] = { "off", "falloc", "full", NULL };

struct CreateTarget {
    int fd;                     /* -1: link */
    BlockChild *link;
    uint64_t length;
};

CreatePrealloc create_prealloc_parse(const char *name)
{
    for (int i = 0; create_prealloc_names[i]; i++)
        if (strcmp(create_prealloc_names[i], name) == 0)
            return (CreatePrealloc)i;
    g_assert_not_reached();     /* the option tables checked it */
}

CreateTarget *create_target_new_fd(int fd, uint64_t length)
{
    CreateTarget *t = g_new0(CreateTarget, 1);

    t->fd = fd;
    t->length = length;
    return t;
}

CreateTarget *create_target_new_link(BlockChild *link)
{
    CreateTarget *t = g_new0(CreateTarget, 1);

    t->fd = -1;
    t->link = link;
    t->length = link->node->size;
    return t;
}

void create_target_free(CreateTarget *t)
{
    g_free(t);
}

uint64_t create_target_length(const ImageCreate *c)
{
    return c->target->length;
}

int create_invalid(ImageCreate *c, GError **errp, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "Cannot create %s: %s", c->what, msg);
    return -EINVAL;
}

int create_io_error(ImageCreate *c, GError **errp, int r, const char *operation)
{
    if (r == -ECANCELED)
        g_set_error(errp, BG_ERROR, BG_ERROR_FAILED, "Creating %s was cancelled", c->what);
    else
        bg_set_error_errno(errp, r, "Failed to create %s: %s", c->what, operation);
    return r;
}

static int coroutine_fn fd_pwrite(CreateTarget *t, uint64_t offset, const void *buf, size_t bytes)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = bytes };
    FileRwJob job = {
        .fd = t->fd, .write = true, .offset = offset, .bytes = bytes, .iov = &iov, .niov = 1,
    };
    long r = worker_pool_co_run(file_job_rw, &job);

    if (r >= 0 && (size_t)r != bytes)
        return -EIO;
    return r < 0 ? (int)r : 0;
}

static int coroutine_fn set_length(CreateTarget *t, uint64_t size);

int coroutine_fn create_target_pwrite(ImageCreate *c, uint64_t offset, const void *buf,
                                      size_t bytes)
{
    CreateTarget *t = c->target;
    int r = 0;

    if (t->fd >= 0) {
        r = fd_pwrite(t, offset, buf, bytes);
    } else {
        /* A node is written within its size only: it grows first. */
        if (offset + bytes > t->length)
            r = set_length(t, offset + bytes);
        if (r == 0)
            r = node_co_pwrite(t->link, offset, bytes, buf, 0);
    }
    if (r == 0 && offset + bytes > t->length)
        t->length = offset + bytes;
    return r;
}

int coroutine_fn create_target_flush(ImageCreate *c)
{
    CreateTarget *t = c->target;

    if (t->fd < 0)
        return node_co_flush(t->link);
    return (int)worker_pool_co_run(file_job_fdatasync, &t->fd);
}

static int coroutine_fn set_length(CreateTarget *t, uint64_t size)
{
    FileTruncateJob job = { .fd = t->fd, .size = size };
    g_autoptr(GError) err = NULL;
    int r;

    if (t->fd >= 0)
        r = (int)worker_pool_co_run(file_job_truncate, &job);
    else
        r = node_co_truncate(t->link, size, &err);
    if (r == 0)
        t->length = size;
    return r;
}

/* One step of preallocation: allocate or write zeroes over [offset, offset + bytes). */
static int coroutine_fn prealloc_step(CreateTarget *t, uint64_t offset, uint64_t bytes,
                                      CreatePrealloc prealloc, const void *zeroes)
{
    if (prealloc == CREATE_PREALLOC_FALLOC && t->fd >= 0) {
        FileFallocateJob job = { .fd = t->fd, .mode = 0, .offset = offset, .bytes = bytes };

        return (int)worker_pool_co_run(file_job_fallocate, &job);
    }
    if (prealloc == CREATE_PREALLOC_FALLOC)
        return node_co_pwrite_zeroes(t->link, offset, bytes, 0);
    if (t->fd >= 0)
        return fd_pwrite(t, offset, zeroes, bytes);
    return node_co_pwrite(t->link, offset, bytes, zeroes, 0);
}

static int coroutine_fn prealloc_range(ImageCreate *c, uint64_t start, uint64_t end,
                                       CreatePrealloc prealloc)
{
    g_autofree void *zeroes = NULL;

    if (prealloc == CREATE_PREALLOC_FULL)
        zeroes = g_malloc0(CREATE_CHUNK);
    uint64_t chunk = prealloc == CREATE_PREALLOC_FALLOC ? CREATE_FALLOC_CHUNK : CREATE_CHUNK;

    for (uint64_t off = start; off < end;) {
        uint64_t n = MIN(chunk, end - off);
        int r = prealloc_step(c->target, off, n, prealloc, zeroes);

        if (r < 0)
            return r;
        off += n;
        if (!c->progress(c, n))
            return -ECANCELED;
    }
    return 0;
}

int coroutine_fn create_target_truncate(ImageCreate *c, uint64_t size, CreatePrealloc prealloc)
{
    CreateTarget *t = c->target;
    uint64_t old = t->length;
    int r;

    if (size <= old || prealloc == CREATE_PREALLOC_OFF || prealloc == CREATE_PREALLOC_METADATA)
        return set_length(t, size);
    /* A file grows first so that a falloc keeps no stale length; a node cannot write past its end. */
    r = set_length(t, size);
    if (r < 0)
        return r;
    return prealloc_range(c, old, size, prealloc);
}

/* ---- file and raw -------------------------------------------------------------- */

const OptionSpec create_plain_options[] = {
    {
        .name = "preallocation", .type = OPTION_ENUM, .default_value = "off",
        .enum_values = create_prealloc_data_names,
        .description = "How the image's data range is allocated: off (sparse), falloc, full",
    },
    OPTION_TABLE_END,
};

int coroutine_fn create_plain_image(ImageCreate *c, GError **errp)
{
    CreatePrealloc prealloc = create_prealloc_parse(option_set_get_string(c->opts,
                                                                          "preallocation"));
    int r;

    c->progress_total(c, prealloc == CREATE_PREALLOC_OFF ? 0 : c->size);
    /* Whatever the target held goes first: preallocation covers the whole image. */
    r = create_target_truncate(c, 0, CREATE_PREALLOC_OFF);
    if (r == 0)
        r = create_target_truncate(c, c->size, prealloc);
    if (r == 0)
        r = create_target_flush(c);
    return r < 0 ? create_io_error(c, errp, r, "setting its size") : 0;
}
