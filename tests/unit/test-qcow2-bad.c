/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 bad input: corrupt headers and tables, unsupported features,
 * broken backing chains.  Each gives a clear error naming the image and the
 * problem, never a crash or an out-of-bounds access (run under ASan).
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/io.h"
#include "test-qcow2-util.h"

static char *tmpdir;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

#define RUN(...) do { \
        if (qt_run(NULL, __VA_ARGS__) != 0) \
            fail_msg("command failed: " __VA_ARGS__); \
    } while (0)

static void put_be(const char *path, off_t off, uint64_t v, int bytes)
{
    uint8_t buf[8];
    for (int i = 0; i < bytes; i++)
        buf[i] = v >> (8 * (bytes - 1 - i));
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, bytes, off), bytes);
    close(fd);
}

/* A 1 MiB v3 image, 64 KiB clusters, one data cluster written at 0. */
static char *fresh_image(const char *name)
{
    char *path = tmp_path(name);
    RUN("qemu-img create -q -f qcow2 %s 1M", path);
    RUN("qemu-io -c 'write -P 0x61 0 64k' %s", path);
    return path;
}

/* Opening must fail with code and a message containing each of the words. */
static void expect_open_error(const char *path, bool read_only, int code, ...)
{
    GError *err = NULL;
    TestImage *img = qt_open(path, "bad", read_only, NULL, &err);
    if (img)
        fail_msg("%s opened although it is broken", path);
    assert_non_null(err);
    if (err->code != code)
        fail_msg("error code %d (%s), expected %d", err->code, err->message, code);
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));) {
        if (!strstr(err->message, w))
            fail_msg("'%s' not in error message '%s'", w, err->message);
    }
    va_end(ap);
    g_error_free(err);
}

enum {
    H_VERSION = 4, H_BACKING_OFF = 8, H_BACKING_LEN = 16, H_CLUSTER_BITS = 20, H_SIZE = 24,
    H_CRYPT = 32, H_L1_SIZE = 36, H_L1_OFF = 40, H_RT_OFF = 48, H_RT_CLUSTERS = 56,
    H_NB_SNAP = 60, H_INCOMPAT = 72, H_HDR_LEN = 100,
};
/* Where qemu-img puts things in a fresh 64 KiB-cluster image. */
enum { RT_OFF = 0x10000, RB_OFF = 0x20000, L1_OFF = 0x30000, L2_OFF = 0x40000 };

static void test_bad_magic(void **state)
{
    g_autofree char *p = fresh_image("magic.qcow2");
    put_be(p, 0, 0x51464900, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "magic.qcow2", "magic", NULL);
}

static void test_bad_version(void **state)
{
    g_autofree char *p = fresh_image("version.qcow2");
    put_be(p, H_VERSION, 4, 4);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "version 4", NULL);
}

static void test_bad_cluster_bits(void **state)
{
    g_autofree char *p = fresh_image("cbits.qcow2");
    put_be(p, H_CLUSTER_BITS, 30, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "cluster_bits 30", NULL);
    put_be(p, H_CLUSTER_BITS, 8, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "cluster_bits 8", NULL);
}

static void test_tables_past_eof(void **state)
{
    g_autofree char *p = fresh_image("eof.qcow2");
    put_be(p, H_L1_OFF, 0x100000000ull, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "L1 table", "end of the file", NULL);
    put_be(p, H_L1_OFF, L1_OFF, 8);
    put_be(p, H_RT_OFF, 0x7fff0000ull, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "refcount table", NULL);
    put_be(p, H_RT_OFF, RT_OFF, 8);
    /* An L2 table and a refcount block past the end. */
    put_be(p, L1_OFF, 0x8000000000010000ull, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "L2 table", NULL);
    put_be(p, L1_OFF, 0x8000000000000000ull | L2_OFF, 8);
    put_be(p, RT_OFF, 0x10000000ull, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "refcount block", NULL);
}

static void test_overlapping_metadata(void **state)
{
    g_autofree char *p = fresh_image("overlap.qcow2");
    put_be(p, H_L1_OFF, RT_OFF, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "overlaps", NULL);
    put_be(p, H_L1_OFF, L1_OFF, 8);
    /* L2 table on top of the refcount block. */
    put_be(p, L1_OFF, 0x8000000000000000ull | RB_OFF, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "overlaps", NULL);
    put_be(p, L1_OFF, 0x8000000000000000ull | L2_OFF, 8);
    /* L1 table on the header. */
    put_be(p, H_L1_OFF, 0, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "header", NULL);
}

static void test_absurd_sizes(void **state)
{
    g_autofree char *p = fresh_image("sizes.qcow2");
    put_be(p, H_SIZE, 1ull << 62, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "L1 table", NULL);
    put_be(p, H_SIZE, UINT64_MAX, 8);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "virtual size", NULL);
    put_be(p, H_SIZE, 1 << 20, 8);
    put_be(p, H_L1_SIZE, 0xffffffffu, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "L1 table", NULL);
    put_be(p, H_L1_SIZE, 1, 4);
    put_be(p, H_RT_CLUSTERS, 0x10000000u, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "refcount table", NULL);
    put_be(p, H_RT_CLUSTERS, 1, 4);
    put_be(p, H_HDR_LEN, 1001, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "header_length", NULL);
    put_be(p, H_HDR_LEN, 112, 4);
    put_be(p, H_BACKING_OFF, 0x200, 8);
    put_be(p, H_BACKING_LEN, 5000, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "backing file name", NULL);
    put_be(p, H_BACKING_OFF, 0x1fff0, 8);
    put_be(p, H_BACKING_LEN, 100, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "backing file name", NULL);
    put_be(p, H_BACKING_OFF, 0, 8);
    put_be(p, H_NB_SNAP, 1000000, 4);
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "snapshots", NULL);
}

static void test_truncated_file(void **state)
{
    g_autofree char *p = tmp_path("short.qcow2");
    const uint8_t hdr[40] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
    assert_true(g_file_set_contents(p, (const char *)hdr, sizeof(hdr), NULL));
    expect_open_error(p, true, BG_ERROR_INVALID_ARGUMENT, "too short", NULL);
}

static void test_unsupported_features(void **state)
{
    g_autofree char *p = fresh_image("features.qcow2");
    put_be(p, H_INCOMPAT, 1ull << 10, 8);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "bit 10", NULL);
    put_be(p, H_INCOMPAT, 1ull << 2, 8);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "external data file", NULL);
    put_be(p, H_INCOMPAT, 1ull << 4, 8);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "extended L2", NULL);
    put_be(p, H_INCOMPAT, 0, 8);
    put_be(p, H_CRYPT, 1, 4);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "AES encryption", NULL);
    put_be(p, H_CRYPT, 2, 4);
    expect_open_error(p, true, BG_ERROR_NOT_SUPPORTED, "LUKS encryption", NULL);
}

static void test_qemu_made_unsupported(void **state)
{
    g_autofree char *ext = tmp_path("extl2.qcow2");
    RUN("qemu-img create -q -f qcow2 -o extended_l2=on %s 1M", ext);
    expect_open_error(ext, true, BG_ERROR_NOT_SUPPORTED, "extended L2", NULL);
    g_autofree char *df = tmp_path("datafile.qcow2");
    g_autofree char *dfraw = tmp_path("datafile.raw");
    RUN("qemu-img create -q -f qcow2 -o data_file=%s %s 1M", dfraw, df);
    expect_open_error(df, true, BG_ERROR_NOT_SUPPORTED, "external data file", NULL);
}

static void test_corrupt_bit(void **state)
{
    g_autofree char *p = fresh_image("corrupt.qcow2");
    put_be(p, H_INCOMPAT, 1ull << 1, 8);
    expect_open_error(p, false, BG_ERROR_READ_ONLY, "corrupt", "read-only", NULL);
    GError *err = NULL;
    TestImage *img = qt_open(p, "bad", true, NULL, &err);
    assert_non_null(img);
    uint8_t buf[512];
    assert_int_equal(qt_read(img, 0, sizeof(buf), buf), 0);
    assert_int_equal(buf[0], 0x61);
    qt_close(img);
}

/* Broken entries found only at I/O time give EIO, not garbage or a crash. */
/* Keeps the last warning logged. */
static void keep_warning(const char *domain, GLogLevelFlags level, const char *msg, void *opaque)
{
    char **last = opaque;
    g_free(*last);
    *last = g_strdup(msg);
}

static void test_bad_l2_entries(void **state)
{
    g_autofree char *p = fresh_image("l2.qcow2");
    GError *err = NULL;
    uint8_t buf[4096];
    /* Misaligned data cluster offset: the warning names the offset, not the flag bits. */
    put_be(p, L2_OFF, 0x8000000000050200ull, 8);
    TestImage *img = qt_open(p, "bad", true, NULL, &err);
    assert_non_null(img);
    g_autofree char *warning = NULL;
    GLogFunc old = g_log_set_default_handler(keep_warning, &warning);
    assert_int_equal(qt_read(img, 0, sizeof(buf), buf), -EIO);
    g_log_set_default_handler(old, NULL);
    assert_non_null(warning);
    if (!strstr(warning, "misaligned host offset 0x50200") || strstr(warning, "0x8000"))
        fail_msg("warning: %s", warning);
    qt_close(img);
    /* Compressed cluster with garbage and one past the end of the file. */
    put_be(p, L2_OFF, 0x4000000000030000ull, 8);
    img = qt_open(p, "bad", true, NULL, &err);
    assert_non_null(img);
    assert_int_equal(qt_read(img, 0, sizeof(buf), buf), -EIO);
    qt_close(img);
    put_be(p, L2_OFF, 0x4000000000f00000ull, 8);
    img = qt_open(p, "bad", true, NULL, &err);
    assert_non_null(img);
    assert_int_equal(qt_read(img, 0, sizeof(buf), buf), -EIO);
    qt_close(img);
    /* A data cluster on the L1 table: writes are refused and the image marked corrupt. */
    put_be(p, L2_OFF, 0x8000000000000000ull | L1_OFF, 8);
    img = qt_open(p, "bad", false, NULL, &err);
    assert_non_null(img);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(qt_write(img, 0, sizeof(buf), buf), -EIO);
    /* Fatal: the node now answers with the error driver, reads included. */
    assert_string_equal(img->node->drv->name, "error");
    assert_int_equal(qt_write(img, 65536, sizeof(buf), buf), -EIO);
    assert_int_equal(qt_read(img, 65536, sizeof(buf), buf), -EIO);
    qt_close(img);
    expect_open_error(p, false, BG_ERROR_READ_ONLY, "corrupt", NULL);
}

static void test_missing_backing(void **state)
{
    g_autofree char *base = tmp_path("gone.qcow2");
    g_autofree char *top = tmp_path("orphan.qcow2");
    RUN("qemu-img create -q -f qcow2 %s 1M", base);
    RUN("qemu-img create -q -f qcow2 -b gone.qcow2 -F qcow2 %s 1M", top);
    unlink(base);
    GError *err = NULL;
    TestImage *img = qt_open(top, "top", true, NULL, &err);
    assert_null(img);
    assert_non_null(strstr(err->message, "gone.qcow2"));
    g_clear_error(&err);
    /* <backing/> opens it without. */
    const char *const none[] = { "backing", "", NULL };
    img = qt_open(top, "top", true, none, &err);
    assert_non_null(img);
    qt_close(img);
}

static void test_cyclic_backing(void **state)
{
    g_autofree char *a = tmp_path("cycle-a.qcow2");
    g_autofree char *b = tmp_path("cycle-b.qcow2");
    RUN("qemu-img create -q -f qcow2 %s 1M", a);
    RUN("qemu-img create -q -f qcow2 -b cycle-a.qcow2 -F qcow2 %s 1M", b);
    RUN("qemu-img rebase -u -f qcow2 -b cycle-b.qcow2 -F qcow2 %s", a);
    GError *err = NULL;
    assert_null(qt_open(b, "b", true, NULL, &err));
    assert_non_null(strstr(err->message, "cyclic"));
    g_clear_error(&err);
    /* Its own backing file. */
    RUN("qemu-img rebase -u -f qcow2 -b cycle-a.qcow2 -F qcow2 %s", a);
    assert_null(qt_open(a, "a", true, NULL, &err));
    assert_non_null(strstr(err->message, "cyclic"));
    g_clear_error(&err);
}

static int teardown_each(void **state)
{
    qt_close_all();
    return 0;
}

static int setup(void **state)
{
    return qt_tmpdir_create("test-qcow2-bad", &tmpdir);
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
        cmocka_unit_test_teardown(test_bad_magic, teardown_each),
        cmocka_unit_test_teardown(test_bad_version, teardown_each),
        cmocka_unit_test_teardown(test_bad_cluster_bits, teardown_each),
        cmocka_unit_test_teardown(test_tables_past_eof, teardown_each),
        cmocka_unit_test_teardown(test_overlapping_metadata, teardown_each),
        cmocka_unit_test_teardown(test_absurd_sizes, teardown_each),
        cmocka_unit_test_teardown(test_truncated_file, teardown_each),
        cmocka_unit_test_teardown(test_unsupported_features, teardown_each),
        cmocka_unit_test_teardown(test_qemu_made_unsupported, teardown_each),
        cmocka_unit_test_teardown(test_corrupt_bit, teardown_each),
        cmocka_unit_test_teardown(test_bad_l2_entries, teardown_each),
        cmocka_unit_test_teardown(test_missing_backing, teardown_each),
        cmocka_unit_test_teardown(test_cyclic_backing, teardown_each),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    aio_loop_shutdown();
    return rc;
}
