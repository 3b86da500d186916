/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for qcow2 header and table parsing.  The input is an
 * image file: its first cluster goes through qcow2_header_parse directly,
 * then the whole input is opened read-only through the real driver (on a
 * memfd, via the file driver) and read at a few places, which walks the
 * L1, L2 and refcount tables and decompresses compressed clusters.  Then
 * it is opened read-write (which repairs a dirty image) and written to at
 * two places, which allocates clusters and L2 tables over whatever the
 * refcounts claim.  The driver's warnings about the image are dropped
 * (fuzz-quiet.h).
 *
 * What does not depend on the input is done once or not at all: the
 * buffers are static, and the file node takes no image locks (locking=off:
 * the memfd is the harness's own, and the lock code never sees the input).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "aio/loop.h"
#include "drivers/qcow2/qcow2.h"
#include "fuzz/fuzz-quiet.h"
#include "tests/unit/test-qcow2-util.h"

static int image_fd = -1;
static char image_path[64];
static const char *const open_opts[] = { "backing", "", "file.locking", "off", NULL };
static uint8_t read_buf[65536];
static uint8_t write_buf[3000];

static void parse_only(const uint8_t *data, size_t size)
{
    Qcow2Header h;
    GError *err = NULL;
    if (qcow2_header_parse(data, MIN(size, (size_t)1 << QCOW2_MAX_CLUSTER_BITS), size,
                           "fuzz", &h, &err))
        qcow2_header_clear(&h);
    else
        g_clear_error(&err);
    qcow2_header_clear(&h);
}

static void read_around(TestImage *img)
{
    uint64_t size = img->node->size;
    for (unsigned i = 0; i < 8 && size; i++) {
        uint64_t off = (size / 8) * i;
        uint64_t len = MIN(sizeof(read_buf), size - off);
        uint64_t pnum, map;
        (void)qt_read(img, off, len, read_buf);
        (void)qt_block_status(img, off, len, &pnum, &map);
    }
}

static void write_some(void)
{
    GError *err = NULL;
    TestImage *img = qt_open(image_path, "fuzzrw", false, open_opts, &err);
    if (!img) {
        g_clear_error(&err);
        return;
    }
    uint64_t size = img->node->size;
    if (size >= sizeof(write_buf)) {
        (void)qt_write(img, 0, sizeof(write_buf), write_buf);
        (void)qt_write(img, size - sizeof(write_buf), sizeof(write_buf), write_buf);
        (void)qt_flush(img);
    }
    qt_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_only(data, size);
    if (image_fd < 0) {
        fuzz_quiet_init();
        image_fd = memfd_create("fuzz-qcow2", 0);
        if (image_fd < 0)
            return 0;
        snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
        memset(write_buf, 0x5a, sizeof(write_buf));
    }
    if (ftruncate(image_fd, 0) < 0 || pwrite(image_fd, data, size, 0) != (ssize_t)size)
        return 0;
    GError *err = NULL;
    TestImage *img = qt_open(image_path, "fuzz", true, open_opts, &err);
    if (!img) {
        g_clear_error(&err);
        return 0;
    }
    read_around(img);
    qt_close(img);
    write_some();
    return 0;
}
