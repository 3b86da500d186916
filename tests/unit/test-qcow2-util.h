/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the qcow2 tests and the crash helper: open a qcow2 node
 * on a file through the graph, do I/O on it from the main loop, and run
 * qemu-img / qemu-io as oracles.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "graph/node.h"

typedef struct TestImage {
    char *node_name;
    BlockNode *node;
    BlockChild *child;
} TestImage;

/*
 * Opens path as a qcow2 node named name.  opts: NULL-terminated name/value
 * pairs added to the <blockdev> ("backing" with value "" means <backing/>,
 * "backing-ref" a <backing ref=.../>, "file.NAME" option NAME of the inline
 * file child).  Returns NULL with *errp set on failure.
 */
TestImage *qt_open(const char *path, const char *name, bool read_only,
                   const char *const *opts, GError **errp);
void qt_close(TestImage *img);
/* Closes whatever a failed test left open. */
void qt_close_all(void);

int qt_read(TestImage *img, uint64_t off, uint64_t len, void *buf);
int qt_write(TestImage *img, uint64_t off, uint64_t len, const void *buf);
int qt_write_zeroes(TestImage *img, uint64_t off, uint64_t len, int flags);
int qt_discard(TestImage *img, uint64_t off, uint64_t len);
int qt_flush(TestImage *img);
int qt_truncate(TestImage *img, uint64_t size, GError **errp);
int qt_block_status(TestImage *img, uint64_t off, uint64_t len, uint64_t *pnum,
                    uint64_t *map);

/* Runs a command line (shell quoting); returns the exit status, output in *out. */
int qt_run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
bool qt_have_qemu_tools(void);
/* A scratch folder /tmp/<prefix>-XXXXXX for one test program, and its removal. */
int qt_tmpdir_create(const char *prefix, char **ret_dir);
void qt_tmpdir_remove(char **dir);
