/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Manager.CreateImage: a job of type `create` that writes a fresh image with
 * a driver's co_create (drivers/create.h), onto a file it makes (filename=)
 * or onto an existing protocol node (<file ref=.../>).  Options are checked
 * before anything is created; a failed creation removes the file the job
 * made, never one it did not make.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "jobs/job.h"

/* A parsed <create> snippet (xml/create-parse.c). */
typedef struct CreateSpec {
    GHashTable *attrs;          /* every attribute: name -> text */
    char *file_ref;             /* <file ref=.../>, or NULL */
} CreateSpec;

void create_spec_free(CreateSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CreateSpec, create_spec_free)

/* Checks spec and starts its job, all or nothing (nothing created on failure). */
Job *coroutine_fn create_job_co_start(const CreateSpec *spec, const char *xml, uint32_t uid,
                                      GError **errp);

/* ---- between jobs/create*.c -------------------------------------------------------- */

typedef struct CreateFile {
    char *path;                 /* the path opened (symlinks resolved when confined) */
    int fd;
    bool created;               /* the job made it: removed if the creation fails */
} CreateFile;

/* Makes path (or opens it with overwrite, if no node holds it) in the worker pool. */
int coroutine_fn create_file_co_open(const char *path, bool overwrite, CreateFile *ret,
                                     GError **errp);
/* Closes it, and with remove unlinks it if the job made it. */
void coroutine_fn create_file_co_close(CreateFile *f, bool remove);

/*
 * The virtual size of backing (relative to image's folder) in format fmt
 * (qcow2 or raw; NULL refused as qemu-img does), read in the worker pool.
 * what names the image in errors.
 */
int coroutine_fn create_co_backing_size(const char *image, const char *backing,
                                        const char *fmt, const char *what, uint64_t *ret,
                                        GError **errp);
