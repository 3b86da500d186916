/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 under write errors: clusters allocated for a new L2 table, a grown
 * L1 table or guest data are given back when an error comes before they are
 * linked, so that `qemu-img check` finds no leak afterwards.  The errors
 * come from a file size limit (RLIMIT_FSIZE): writes past it fail with
 * EFBIG, as on a full disk.  After the error the limit goes and another
 * write grows the file over the clusters the failed call had allocated, so
 * that `qemu-img check` (which looks only inside the file) sees them.
 */

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "test-qcow2-util.h"

static char *tmpdir;

#define RUN(...) do { \
        if (qt_run(NULL, __VA_ARGS__) != 0) \
            fail_msg("command failed: " __VA_ARGS__); \
    } while (0)

#define CLUSTER 65536

/*
 * A 1 GiB image with 64 KiB clusters and the first cluster written:
 * header, refcount table, refcount block, L1, L2, data: 6 clusters.
 */
static char *image_with_one_cluster(const char *name)
{
    char *path = g_build_filename(tmpdir, name, NULL);
    RUN("qemu-img create -q -f qcow2 %s 1G", path);
    RUN("qemu-io -c 'write -P 0x61 0 64k' %s", path);
    return path;
}

/* Writes past `bytes` into any file fail with EFBIG from now on (0: no limit). */
static void limit_file_size(uint64_t bytes)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes ? bytes : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* qemu-img check finds neither leaks nor corruption. */
static void check_clean(const char *path)
{
    g_autofree char *out = NULL;
    int rc = qt_run(&out, "qemu-img check %s", path);
    if (rc != 0)
        fail_msg("qemu-img check %s: %d\n%s", path, rc, out);
}

static int write_cluster(TestImage *img, uint64_t guest, int pattern)
{
    g_autofree uint8_t *buf = g_malloc(CLUSTER);
    memset(buf, pattern, CLUSTER);
    return qt_write(img, guest, CLUSTER, buf);
}

/* A write needing a new data cluster and a new L2 table; the L2 table fails. */
static void test_new_l2_table_not_linked(void **state)
{
    g_autofree char *path = image_with_one_cluster("l2.qcow2");
    TestImage *img = qt_open(path, "l2", false, NULL, NULL);
    assert_non_null(img);
    /* The data cluster fits below the limit, the new L2 table after it does not. */
    limit_file_size(7 * CLUSTER);
    int ret = write_cluster(img, 512 << 20, 0x62);
    limit_file_size(0);
    assert_true(ret < 0);
    assert_int_equal(write_cluster(img, 512 << 20, 0x63), 0);
    qt_close(img);
    check_clean(path);
}

/* The guest data write itself fails. */
static void test_new_data_cluster_not_written(void **state)
{
    g_autofree char *path = image_with_one_cluster("data.qcow2");
    TestImage *img = qt_open(path, "data", false, NULL, NULL);
    assert_non_null(img);
    limit_file_size(6 * CLUSTER);
    int ret = write_cluster(img, CLUSTER, 0x64);
    limit_file_size(0);
    assert_true(ret < 0);
    assert_int_equal(write_cluster(img, 2 * CLUSTER, 0x65), 0);
    assert_int_equal(write_cluster(img, 3 * CLUSTER, 0x66), 0);
    qt_close(img);
    check_clean(path);
}

static void test_grown_l1_table_not_linked(void **state)
{
    g_autofree char *path = image_with_one_cluster("l1.qcow2");
    TestImage *img = qt_open(path, "l1", false, NULL, NULL);
    assert_non_null(img);
    GError *err = NULL;
    limit_file_size(6 * CLUSTER);
    int ret = qt_truncate(img, 1ull << 40, &err);
    limit_file_size(0);
    assert_true(ret < 0);
    g_clear_error(&err);
    assert_int_equal(write_cluster(img, CLUSTER, 0x67), 0);
    assert_int_equal(write_cluster(img, 2 * CLUSTER, 0x68), 0);
    qt_close(img);
    check_clean(path);
}

static int teardown_each(void **state)
{
    limit_file_size(0);
    qt_close_all();
    return 0;
}

static int setup(void **state)
{
    signal(SIGXFSZ, SIG_IGN);   /* a write past the limit fails instead */
    return qt_tmpdir_create("test-qcow2-errors", &tmpdir);
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
        cmocka_unit_test_teardown(test_new_l2_table_not_linked, teardown_each),
        cmocka_unit_test_teardown(test_new_data_cluster_not_written, teardown_each),
        cmocka_unit_test_teardown(test_grown_l1_table_not_linked, teardown_each),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    aio_loop_shutdown();
    return rc;
}
