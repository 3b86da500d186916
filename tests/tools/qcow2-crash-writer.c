/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2-crash-writer IMAGE JOURNAL RUN SEED [lazy]
 *
 * Opens IMAGE through the qcow2 driver and writes stamped random block
 * ranges forever, with a flush every few writes; after each completed
 * flush it replaces JOURNAL with the generation of every block as of that
 * flush.  Some steps discard 64 KiB-aligned ranges instead (generation 0:
 * zeroes or any older data), so clusters are freed and reused all the time.  test-qcow2-crash kills it with SIGKILL at random moments.
 * Generations are RUN * 2^32 + counter, so they grow across runs.  With
 * "lazy" the image is opened with lazy-refcounts=on.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "aio/loop.h"
#include "../unit/test-qcow2-util.h"
#include "qcow2-crash-stamp.h"

static void save_journal(const char *path, const uint64_t *gens, uint64_t n)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, gens, n * 8) != (ssize_t)(n * 8) || fsync(fd) < 0) {
        perror(tmp);
        exit(2);
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        perror(path);
        exit(2);
    }
}

/* Starts from the previous run's journal: those generations are on disk. */
static void load_journal(const char *path, uint64_t *gens, uint64_t n)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    if (g_file_get_contents(path, &data, &len, NULL) && len == n * 8)
        memcpy(gens, data, len);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s IMAGE JOURNAL RUN SEED [lazy]\n", argv[0]);
        return 2;
    }
    uint64_t run = strtoull(argv[3], NULL, 10);
    g_autoptr(GRand) r = g_rand_new_with_seed(strtoul(argv[4], NULL, 10));
    GError *err = NULL;
    bool lazy = argc == 6 && !strcmp(argv[5], "lazy");
    const char *const opts[] = { "discard", "unmap", "lazy-refcounts", lazy ? "on" : "off", NULL };
    TestImage *img = qt_open(argv[1], "crash", false, opts, &err);
    if (!img) {
        fprintf(stderr, "open %s: %s\n", argv[1], err->message);
        return 2;
    }
    uint64_t nblocks = img->node->size / CRASH_BLOCK;
    g_autofree uint64_t *gens = g_new0(uint64_t, nblocks);
    g_autofree uint64_t *flushed = g_new0(uint64_t, nblocks);
    load_journal(argv[2], flushed, nblocks);
    memcpy(gens, flushed, nblocks * 8);
    g_autofree uint8_t *buf = g_malloc(32 * CRASH_BLOCK);
    uint64_t counter = 0;
    for (;;) {
        int writes = g_rand_int_range(r, 1, 20);
        for (int w = 0; w < writes; w++) {
            if (g_rand_int_range(r, 0, 100) < 15) {
                uint64_t per = 65536 / CRASH_BLOCK;
                uint64_t first = g_rand_int_range(r, 0, nblocks / per) * per;
                uint64_t want = per * g_rand_int_range(r, 1, 5);
                uint64_t n = MIN(nblocks - first, want);
                /* The discard may land before the next flush: journal it first. */
                memset(flushed + first, 0, n * 8);
                save_journal(argv[2], flushed, nblocks);
                if (qt_discard(img, first * CRASH_BLOCK, n * CRASH_BLOCK) < 0) {
                    fprintf(stderr, "discard failed\n");
                    return 1;
                }
                memset(gens + first, 0, n * 8);
                continue;
            }
            uint64_t n = g_rand_int_range(r, 1, 33);
            uint64_t first = g_rand_int_range(r, 0, nblocks - n + 1);
            uint64_t gen = (run << 32) | ++counter;
            for (uint64_t b = 0; b < n; b++)
                crash_stamp_block(buf + b * CRASH_BLOCK, first + b, gen);
            if (qt_write(img, first * CRASH_BLOCK, n * CRASH_BLOCK, buf) < 0) {
                fprintf(stderr, "write failed\n");
                return 1;
            }
            for (uint64_t b = 0; b < n; b++)
                gens[first + b] = gen;
        }
        if (qt_flush(img) < 0) {
            fprintf(stderr, "flush failed\n");
            return 1;
        }
        memcpy(flushed, gens, nblocks * 8);
        save_journal(argv[2], flushed, nblocks);
    }
}
