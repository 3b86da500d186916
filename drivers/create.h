/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a driver's co_create (graph/driver.h) gets: the validated options of
 * one <create> and the target the image goes to, with the few operations a
 * creation needs.  The target is either a file the create job opened (a new
 * one, or an existing one with overwrite=on): its I/O runs in the worker
 * pool; or an existing protocol node (<file ref=.../>), written through the
 * job's link to it (graph/io.h).  Nothing here blocks the loop.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "graph/driver.h"
#include "graph/option.h"

typedef enum CreatePrealloc {
    CREATE_PREALLOC_OFF,
    CREATE_PREALLOC_METADATA,   /* qcow2: tables for every cluster, data left sparse */
    CREATE_PREALLOC_FALLOC,     /* the data range allocated (fallocate) */
    CREATE_PREALLOC_FULL,       /* the data range written with zeroes */
} CreatePrealloc;

/* "off", "metadata", "falloc", "full" (NULL-terminated, for option tables). */
extern const char *const create_prealloc_names[];
/* "off", "falloc", "full": what a protocol or raw image can do. */
extern const char *const create_prealloc_data_names[];
CreatePrealloc create_prealloc_parse(const char *name);

typedef struct CreateTarget CreateTarget;

struct ImageCreate {
    const OptionSet *opts;      /* common and driver options, validated */
    uint64_t size;              /* the virtual size asked for */
    const char *what;           /* "image '/path'" or "node 'name'", for messages */
    CreateTarget *target;
    /* Told of every bytes done (a pause point; false: cancelled, stop). */
    bool coroutine_fn (*progress)(ImageCreate *c, uint64_t done);
    void (*progress_total)(ImageCreate *c, uint64_t total);
    void *opaque;               /* the job */
};

/* The target's operations; each returns 0 or a negative errno. */
int coroutine_fn create_target_pwrite(ImageCreate *c, uint64_t offset, const void *buf,
                                      size_t bytes);
int coroutine_fn create_target_flush(ImageCreate *c);
/*
 * Sets the target's length to size; the range from its old length to size
 * is allocated (falloc) or written with zeroes (full) with progress, or
 * left sparse (off, metadata).
 */
int coroutine_fn create_target_truncate(ImageCreate *c, uint64_t size, CreatePrealloc prealloc);
/* The target's length now. */
uint64_t create_target_length(const ImageCreate *c);

/* A target over a descriptor the caller keeps (closed after the creation). */
CreateTarget *create_target_new_fd(int fd, uint64_t length);
/* A target over a link to a protocol node (the creating job's). */
CreateTarget *create_target_new_link(BlockChild *link);
void create_target_free(CreateTarget *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CreateTarget, create_target_free)

/* Sets errp to "Cannot create <what>: <message>" with code InvalidArgument; returns -EINVAL. */
int create_invalid(ImageCreate *c, GError **errp, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Sets errp to "Failed to create <what>: <operation>: <strerror>"; returns r. */
int create_io_error(ImageCreate *c, GError **errp, int r, const char *operation);

/* The file and raw drivers' co_create: size and preallocation of a plain image. */
int coroutine_fn create_plain_image(ImageCreate *c, GError **errp);
extern const OptionSpec create_plain_options[];
