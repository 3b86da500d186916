/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 crash safety: qcow2-crash-writer writes stamped data with periodic
 * flushes and is killed with SIGKILL at random moments, many times over
 * the same images.  After every kill, `qemu-img check` must find no
 * corruption (leaks are allowed) and every block must hold data at least
 * as new as what was written before the last completed flush.  With lazy
 * refcounts the image is left dirty; opening it read-write here repairs
 * it, and then the same checks apply.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "test-qcow2-util.h"
#include "../tools/qcow2-crash-stamp.h"

static char *tmpdir;

/*
 * Opens and closes the image read-write here: repairs a dirty image.  The
 * killed writer's io_uring requests end after it was reaped (the kernel
 * tears its ring down in the background), and its image lock goes with the
 * last of them: a lock conflict is tried again for a while.
 */
static void repair(const char *image)
{
    GError *err = NULL;
    TestImage *img = NULL;

    for (int tries = 0; !img; tries++) {
        g_clear_error(&err);
        img = qt_open(image, "repair", false, NULL, &err);
        if (!img && (tries >= 200 || !strstr(err->message, "lock")))
            fail_msg("open %s for repair: %s", image, err->message);
        if (!img)
            g_usleep(50 * 1000);
    }
    qt_close(img);
}

static void verify(const char *image, const char *journal, uint64_t size, bool lazy)
{
    if (lazy)
        repair(image);
    g_autofree char *out = NULL;
    int rc = qt_run(&out, "qemu-img check -U %s", image);
    if (rc != 0 && rc != 3)
        fail_msg("qemu-img check %s: %d\n%s", image, rc, out);
    g_autofree char *raw = g_strconcat(image, ".raw", NULL);
    if (qt_run(NULL, "qemu-img convert -U -O raw %s %s", image, raw) != 0)
        fail_msg("qemu-img convert %s failed", image);
    g_autofree uint8_t *data = NULL, *jdata = NULL;
    gsize len = 0, jlen = 0;
    assert_true(g_file_get_contents(raw, (char **)&data, &len, NULL));
    assert_int_equal(len, size);
    uint64_t nblocks = size / CRASH_BLOCK;
    g_autofree uint64_t *flushed = g_new0(uint64_t, nblocks);
    if (g_file_get_contents(journal, (char **)&jdata, &jlen, NULL) && jlen == nblocks * 8)
        memcpy(flushed, jdata, jlen);
    for (uint64_t b = 0; b < nblocks; b++) {
        for (unsigned s = 0; s < CRASH_BLOCK / CRASH_SECTOR; s++) {
            const uint8_t *sec = data + b * CRASH_BLOCK + s * CRASH_SECTOR;
            uint64_t gen = 0;
            int k = crash_check_sector(sec, s, b, &gen);
            if (k < 0)
                fail_msg("%s: block %" PRIu64 " sector %u holds garbage", image, b, s);
            if (gen < flushed[b])
                fail_msg("%s: block %" PRIu64 " sector %u has generation %" PRIx64
                         ", flushed %" PRIx64 " was lost", image, b, s, gen, flushed[b]);
        }
    }
    unlink(raw);
}

static void crash_runs(const char *cluster_size, int runs, unsigned seed, bool lazy)
{
    const char *writer = g_getenv("QCOW2_CRASH_WRITER");
    if (!writer)
        skip();
    g_autofree char *image = g_strdup_printf("%s/crash-%s%s.qcow2", tmpdir, cluster_size,
                                             lazy ? "-lazy" : "");
    g_autofree char *journal = g_strconcat(image, ".journal", NULL);
    unlink(journal);
    const uint64_t size = 32 << 20;
    if (qt_run(NULL, "qemu-img create -q -f qcow2 -o cluster_size=%s %s %" PRIu64,
               cluster_size, image, size) != 0)
        fail_msg("qemu-img create failed");
    /* QCOW2_CRASH_SEED varies the runs for soak testing. */
    const char *extra = g_getenv("QCOW2_CRASH_SEED");
    g_autoptr(GRand) r = g_rand_new_with_seed(seed + (extra ? atoi(extra) * 1000 : 0));
    for (int run = 1; run <= runs; run++) {
        g_autofree char *run_s = g_strdup_printf("%d", run);
        g_autofree char *seed_s = g_strdup_printf("%u", g_rand_int(r));
        char *argv[] = { (char *)writer, image, journal, run_s, seed_s,
                         lazy ? "lazy" : NULL, NULL };
        GPid pid;
        GError *err = NULL;
        if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err))
            fail_msg("spawn %s: %s", writer, err->message);
        g_usleep(g_rand_int_range(r, 100, 700) * 1000);
        int status;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            fail_msg("writer exited early with status %d", status);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        g_spawn_close_pid(pid);
        verify(image, journal, size, lazy);
    }
}

static void test_crash_4k(void **state)
{
    crash_runs("4096", 10, 1, false);
}

static void test_crash_64k(void **state)
{
    crash_runs("65536", 10, 2, false);
}

static void test_crash_512(void **state)
{
    crash_runs("512", 6, 3, false);
}

static void test_crash_lazy_refcounts(void **state)
{
    crash_runs("4096", 8, 4, true);
}

static int setup(void **state)
{
    return qt_tmpdir_create("test-qcow2-crash", &tmpdir);
}

static int teardown(void **state)
{
    qt_tmpdir_remove(&tmpdir);
    return 0;
}

int main(void)
{
    if (!qt_have_qemu_tools()) {
        g_printerr("qemu-img / qemu-io missing: skipping\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_4k),
        cmocka_unit_test(test_crash_64k),
        cmocka_unit_test(test_crash_512),
        cmocka_unit_test(test_crash_lazy_refcounts),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    aio_loop_shutdown();
    return rc;
}
