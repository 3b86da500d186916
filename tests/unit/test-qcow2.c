/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 driver against qemu-img / qemu-io in both directions: images QEMU
 * wrote read back identical here; images written here pass `qemu-img check`,
 * `qemu-img compare` against the expected raw data and `qemu-io read -P`.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "graph/driver.h"
#include "graph/io.h"
#include "test-qcow2-util.h"
#include "test-util.h"

static char *tmpdir;

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void must_run(const char *what, int rc)
{
    if (rc != 0)
        fail_msg("%s failed with %d", what, rc);
}

#define RUN(...) must_run(#__VA_ARGS__, qt_run(NULL, __VA_ARGS__))

static void fill_random(GRand *r, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = g_rand_int(r);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    GError *err = NULL;
    if (!g_file_set_contents(path, buf, len, &err))
        fail_msg("%s", err->message);
}

/* Reads the whole image here and compares with expected. */
static void assert_image_reads(TestImage *img, const uint8_t *expected, size_t size)
{
    g_autofree uint8_t *buf = g_malloc(size);
    assert_int_equal(qt_read(img, 0, size, buf), 0);
    for (size_t i = 0; i < size; i++) {
        if (buf[i] != expected[i])
            fail_msg("byte %zu: got 0x%02x, expected 0x%02x", i, buf[i], expected[i]);
    }
}

/* qemu-img check must be clean (0) or report only leaks (3 when allowed). */
static void assert_check_clean(const char *path, bool leaks_ok)
{
    g_autofree char *out = NULL;
    int rc = qt_run(&out, "qemu-img check %s", path);
    if (rc != 0 && !(leaks_ok && rc == 3))
        fail_msg("qemu-img check %s: %d\n%s", path, rc, out);
}

static void assert_compare(const char *img, const char *raw)
{
    g_autofree char *out = NULL;
    int rc = qt_run(&out, "qemu-img compare -f qcow2 -F raw %s %s", img, raw);
    if (rc != 0)
        fail_msg("qemu-img compare: %d\n%s", rc, out);
}

/* ---- QEMU writes, we read ---- */

typedef struct Geometry {
    const char *compat;
    unsigned cluster_size;
    uint64_t size;
} Geometry;

static const Geometry geometries[] = {
    { "0.10", 65536, 8 << 20 },
    { "1.1", 65536, 8 << 20 },
    { "1.1", 512, 4 << 20 },
    { "0.10", 512, 2 << 20 },
    { "1.1", 2 << 20, 16 << 20 },
};

static void qemu_write_pattern(const char *path, uint8_t *expected, unsigned pat,
                               uint64_t off, uint64_t len)
{
    RUN("qemu-io -c 'write -P 0x%02x %" PRIu64 " %" PRIu64 "' %s", pat, off, len, path);
    memset(expected + off, pat, len);
}

static void test_read_qemu_images(void **state)
{
    for (size_t g = 0; g < G_N_ELEMENTS(geometries); g++) {
        const Geometry *geo = &geometries[g];
        g_autofree char *path = tmp_path("qemu-written.qcow2");
        RUN("qemu-img create -q -f qcow2 -o compat=%s,cluster_size=%u %s %" PRIu64,
            geo->compat, geo->cluster_size, path, geo->size);
        g_autofree uint8_t *expected = g_malloc0(geo->size);
        qemu_write_pattern(path, expected, 0xab, 0, 65536);
        qemu_write_pattern(path, expected, 0xcd, (1 << 20) + 512, 3 * 1024 + 512);
        qemu_write_pattern(path, expected, 0x11, geo->size - 4096, 4096);
        qemu_write_pattern(path, expected, 0x5a, 3 << 19, 200 * 1024);
        RUN("qemu-io -c 'write -z 32768 16384' %s", path);
        memset(expected + 32768, 0, 16384);

        GError *err = NULL;
        TestImage *img = qt_open(path, "img", true, NULL, &err);
        if (!img)
            fail_msg("open %s: %s", path, err->message);
        assert_int_equal(img->node->size, geo->size);
        assert_image_reads(img, expected, geo->size);
        qt_close(img);
    }
}

/* ---- we write, QEMU checks ---- */

static void random_writes(TestImage *img, GRand *r, uint8_t *expected, uint64_t size,
                          int count, uint64_t max_len)
{
    g_autofree uint8_t *buf = g_malloc(max_len);
    for (int i = 0; i < count; i++) {
        uint64_t len = g_rand_int_range(r, 1, max_len);
        uint64_t off = (uint64_t)(g_rand_double(r) * (size - len));
        fill_random(r, buf, len);
        assert_int_equal(qt_write(img, off, len, buf), 0);
        memcpy(expected + off, buf, len);
    }
}

static void write_and_check(const Geometry *geo, unsigned refcount_bits)
{
    g_printerr("# compat=%s cluster_size=%u refcount_bits=%u\n", geo->compat,
               geo->cluster_size, refcount_bits);
    g_autofree char *path = tmp_path("written.qcow2");
    g_autofree char *raw = tmp_path("expected.raw");
    RUN("qemu-img create -q -f qcow2 -o compat=%s,cluster_size=%u,refcount_bits=%u %s %" PRIu64,
        geo->compat, geo->cluster_size, refcount_bits, path, geo->size);
    g_autofree uint8_t *expected = g_malloc0(geo->size);
    g_autoptr(GRand) r = g_rand_new_with_seed(geo->cluster_size + refcount_bits);

    GError *err = NULL;
    const char *const unmap[] = { "discard", "unmap", NULL };
    TestImage *img = qt_open(path, "img", false, unmap, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    random_writes(img, r, expected, geo->size, 60, 300 * 1024);
    /* Zeroes over whole and partial clusters, with and without unmap. */
    uint64_t cs = geo->cluster_size, nc = geo->size / cs;
    assert_int_equal(qt_write_zeroes(img, 100000, 2 * cs + 7, 0), 0);
    memset(expected + 100000, 0, 2 * cs + 7);
    assert_int_equal(qt_write_zeroes(img, nc / 4 * cs, 2 * cs, BLOCK_REQ_MAY_UNMAP), 0);
    memset(expected + nc / 4 * cs, 0, 2 * cs);
    /* Discard of whole clusters: they read as zeroes (no backing file). */
    assert_int_equal(qt_discard(img, nc * 3 / 4 * cs, cs), 0);
    memset(expected + nc * 3 / 4 * cs, 0, cs);
    /* A final known pattern for qemu-io to verify. */
    g_autofree uint8_t *pat = g_malloc(8192);
    memset(pat, 0x3c, 8192);
    assert_int_equal(qt_write(img, geo->size / 2 + 1000, 8192, pat), 0);
    memset(expected + geo->size / 2 + 1000, 0x3c, 8192);
    assert_image_reads(img, expected, geo->size);
    qt_close(img);

    assert_check_clean(path, false);
    write_file(raw, expected, geo->size);
    assert_compare(path, raw);
    RUN("qemu-io -r -c 'read -P 0x3c %" PRIu64 " 8192' %s", geo->size / 2 + 1000, path);

    /* And once more: reopen here, the data is still there. */
    img = qt_open(path, "img", true, NULL, &err);
    assert_non_null(img);
    assert_image_reads(img, expected, geo->size);
    qt_close(img);
}

static void test_write_qemu_checks(void **state)
{
    for (size_t g = 0; g < G_N_ELEMENTS(geometries); g++)
        write_and_check(&geometries[g], 16);
}

static void test_refcount_widths(void **state)
{
    static const unsigned widths[] = { 1, 2, 4, 8, 32, 64 };
    const Geometry geo = { "1.1", 512, 2 << 20 };
    for (size_t i = 0; i < G_N_ELEMENTS(widths); i++)
        write_and_check(&geo, widths[i]);
}

/* 512-byte clusters: 24 MiB of data outgrows the one-cluster refcount table. */
static void test_refcount_table_growth(void **state)
{
    g_autofree char *path = tmp_path("grow.qcow2");
    g_autofree char *raw = tmp_path("grow.raw");
    const uint64_t size = 24 << 20;
    RUN("qemu-img create -q -f qcow2 -o cluster_size=512 %s %" PRIu64, path, size);
    g_autofree uint8_t *expected = g_malloc(size);
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    fill_random(r, expected, size);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    assert_non_null(img);
    for (uint64_t off = 0; off < size; off += 1 << 20)
        assert_int_equal(qt_write(img, off, 1 << 20, expected + off), 0);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);
    write_file(raw, expected, size);
    assert_compare(path, raw);
}

static void test_resize(void **state)
{
    g_autofree char *path = tmp_path("resize.qcow2");
    RUN("qemu-img create -q -f qcow2 -o cluster_size=512 %s 1M", path);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    assert_non_null(img);
    const uint64_t size = 100 << 20;
    assert_int_equal(qt_truncate(img, size, &err), 0);
    assert_int_equal(img->node->size, size);
    uint8_t buf[4096];
    memset(buf, 0x77, sizeof(buf));
    assert_int_equal(qt_write(img, size - sizeof(buf), sizeof(buf), buf), 0);
    assert_int_equal(qt_write(img, 0, sizeof(buf), buf), 0);
    /* Shrinking is refused with a message. */
    assert_true(qt_truncate(img, 1 << 20, &err) < 0);
    assert_non_null(err);
    g_clear_error(&err);
    qt_close(img);
    assert_check_clean(path, false);
    g_autofree char *out = NULL;
    assert_int_equal(qt_run(&out, "qemu-img info %s", path), 0);
    assert_non_null(strstr(out, "virtual size: 100 MiB"));
    RUN("qemu-io -r -c 'read -P 0x77 %" PRIu64 " 4096' -c 'read -P 0x77 0 4096' %s",
        size - 4096, path);
}

/* ---- backing chains ---- */

static void test_backing_chain(void **state)
{
    g_autofree char *base = tmp_path("base.qcow2");
    g_autofree char *mid = tmp_path("mid.qcow2");
    g_autofree char *top = tmp_path("top.qcow2");
    g_autofree char *raw = tmp_path("chain.raw");
    const uint64_t size = 4 << 20;
    g_autofree uint8_t *expected = g_malloc0(size);
    RUN("qemu-img create -q -f qcow2 %s 3M", base);   /* shorter than the overlays */
    qemu_write_pattern(base, expected, 0xb0, 0, 1 << 20);
    RUN("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 %s %" PRIu64, mid, size);
    qemu_write_pattern(mid, expected, 0xa1, 512 * 1024, 100 * 1024);
    RUN("qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 %s %" PRIu64,
        top, size);
    qemu_write_pattern(top, expected, 0xc2, 700 * 1024, 1000);

    GError *err = NULL;
    TestImage *img = qt_open(top, "top", false, NULL, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    assert_non_null(img->node->backing);
    assert_non_null(img->node->backing->node->backing);
    assert_image_reads(img, expected, size);

    /* Block status: allocated only where top holds data. */
    uint64_t pnum, map;
    int st = qt_block_status(img, 700 * 1024, 4096, &pnum, &map);
    assert_true(st & BLOCK_STATUS_ALLOCATED);
    assert_true(st & BLOCK_STATUS_DATA);
    st = qt_block_status(img, 0, 4096, &pnum, &map);
    assert_false(st & BLOCK_STATUS_ALLOCATED);

    /* Partial-cluster writes copy the rest of the cluster from below. */
    uint8_t buf[100];
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(qt_write(img, 513 * 1024 + 17, sizeof(buf), buf), 0);
    memcpy(expected + 513 * 1024 + 17, buf, sizeof(buf));
    assert_int_equal(qt_write(img, 3 * 1024 * 1024 + 5, sizeof(buf), buf), 0);
    memcpy(expected + 3 * 1024 * 1024 + 5, buf, sizeof(buf));
    /* Unaligned multi-cluster writes: one allocation, head and tail from below. */
    g_autoptr(GRand) r = g_rand_new_with_seed(17);
    random_writes(img, r, expected, size, 30, 60000);
    assert_image_reads(img, expected, size);
    qt_close(img);

    assert_check_clean(top, false);
    assert_check_clean(mid, false);
    write_file(raw, expected, size);
    assert_compare(top, raw);

    /* <backing/>: no backing file, unallocated clusters read as zeroes. */
    const char *const none[] = { "backing", "", NULL };
    img = qt_open(top, "top", true, none, &err);
    assert_non_null(img);
    assert_null(img->node->backing);
    uint8_t z[4096];
    assert_int_equal(qt_read(img, 0, sizeof(z), z), 0);
    for (size_t i = 0; i < sizeof(z); i++)
        assert_int_equal(z[i], 0);
    qt_close(img);
}

/* Discard over a backing file: v3 hides the backing data (zero flag), v2 cannot. */
static void discard_over_backing(const char *compat, const char *const *extra, bool hides)
{
    g_autofree char *base = tmp_path("dbase.qcow2");
    g_autofree char *top = tmp_path("dtop.qcow2");
    g_autofree char *raw = tmp_path("dtop.raw");
    const uint64_t size = 1 << 20;
    g_autofree uint8_t *expected = g_malloc0(size);
    RUN("qemu-img create -q -f qcow2 %s %" PRIu64, base, size);
    qemu_write_pattern(base, expected, 0x44, 0, size);
    RUN("qemu-img create -q -f qcow2 -o compat=%s -b dbase.qcow2 -F qcow2 %s %" PRIu64,
        compat, top, size);
    const char *opts[8] = { "discard", "unmap" };
    for (int i = 0; extra && extra[i]; i++)
        opts[2 + i] = extra[i];
    GError *err = NULL;
    TestImage *img = qt_open(top, "top", false, opts, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    uint8_t buf[65536];
    memset(buf, 0x45, sizeof(buf));
    assert_int_equal(qt_write(img, 0, sizeof(buf), buf), 0);
    /* Cluster 0 is allocated in top, cluster 1 is not. */
    assert_int_equal(qt_discard(img, 0, 2 * 65536), 0);
    if (hides)
        memset(expected, 0, 2 * 65536);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(top, false);
    write_file(raw, expected, size);
    assert_compare(top, raw);
}

/*
 * A discard reaches the disk through an inline file child that does not say
 * discard="unmap" itself: the child inherits it (as in QEMU), and the
 * qcow2 node's own discard option decides.
 */
static void test_discard_reaches_file(void **state)
{
    g_autofree char *path = tmp_path("dfile.qcow2");
    const uint64_t size = 4 << 20, data = 2 << 20;
    RUN("qemu-img create -q -f qcow2 %s %" PRIu64, path, size);
    const char *const unmap[] = { "discard", "unmap", NULL };
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, unmap, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    g_autofree uint8_t *buf = g_malloc(data);
    memset(buf, 0x5a, data);
    assert_int_equal(qt_write(img, 0, data, buf), 0);
    assert_int_equal(qt_flush(img), 0);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_int_equal(qt_discard(img, 0, data), 0);
    assert_int_equal(qt_flush(img), 0);
    assert_int_equal(stat(path, &after), 0);
    /* st_blocks counts 512-byte units; most of the 2 MiB went back to the disk. */
    assert_true(before.st_blocks - after.st_blocks >= (blkcnt_t)(data * 3 / 4 / 512));
    g_autofree uint8_t *zero = g_malloc0(size);
    assert_image_reads(img, zero, size);
    qt_close(img);
    assert_check_clean(path, false);
}

static void test_discard_backing(void **state)
{
    discard_over_backing("1.1", NULL, true);
    discard_over_backing("0.10", NULL, false);
    const char *const keep[] = { "discard-no-unref", "on", NULL };
    discard_over_backing("1.1", keep, true);
}

/* ---- compressed clusters ---- */

static void compressed_case(const char *extra)
{
    g_autofree char *src = tmp_path("src.raw");
    g_autofree char *path = tmp_path("compressed.qcow2");
    g_autofree char *raw = tmp_path("compressed.raw");
    const uint64_t size = 2 << 20;
    g_autofree uint8_t *expected = g_malloc0(size);
    g_autoptr(GRand) r = g_rand_new_with_seed(3);
    for (uint64_t i = 0; i < size; i += 1000)
        memset(expected + i, g_rand_int_range(r, 0, 4), 1000 > size - i ? size - i : 1000);
    fill_random(r, expected + 300000, 70000);   /* incompressible run */
    write_file(src, expected, size);
    RUN("qemu-img convert -c -O qcow2 %s %s %s", extra, src, path);

    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    assert_image_reads(img, expected, size);
    /* Overwrite parts of compressed clusters: copy-on-write from the decompressed data. */
    uint8_t buf[3000];
    memset(buf, 0x99, sizeof(buf));
    assert_int_equal(qt_write(img, 65536 + 100, sizeof(buf), buf), 0);
    memcpy(expected + 65536 + 100, buf, sizeof(buf));
    assert_int_equal(qt_write_zeroes(img, 5 * 65536, 65536, 0), 0);
    memset(expected + 5 * 65536, 0, 65536);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);
    write_file(raw, expected, size);
    assert_compare(path, raw);
}

static void test_compressed_zlib(void **state)
{
    compressed_case("");
}

static void test_compressed_zstd(void **state)
{
    compressed_case("-o compression_type=zstd");
}

/* ---- options ---- */

static void test_small_caches(void **state)
{
    /* Tiny caches with slices force evictions in the middle of everything. */
    const char *const opts[] = { "l2-cache-size", "2048", "l2-cache-entry-size", "1024",
                                 "refcount-cache-size", "1024", "overlap-check", "all",
                                 NULL };
    g_autofree char *path = tmp_path("small-cache.qcow2");
    g_autofree char *raw = tmp_path("small-cache.raw");
    const uint64_t size = 8 << 20;
    RUN("qemu-img create -q -f qcow2 -o cluster_size=4096 %s %" PRIu64, path, size);
    g_autofree uint8_t *expected = g_malloc0(size);
    g_autoptr(GRand) r = g_rand_new_with_seed(11);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, opts, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    random_writes(img, r, expected, size, 100, 40000);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);
    write_file(raw, expected, size);
    assert_compare(path, raw);

    const char *const bad[] = { "l2-cache-entry-size", "1000", NULL };
    assert_null(qt_open(path, "img", false, bad, &err));
    assert_non_null(strstr(err->message, "l2-cache-entry-size"));
    g_clear_error(&err);
}

/*
 * Cache sizes far beyond what the image can use (the fuzzer's ReopenNodes
 * with l2-cache-size near 2^36) are capped, not allocated: each slot costs
 * 40 bytes at open, and 2^31 slots of 512 bytes aborted the daemon.
 */
static void test_huge_caches(void **state)
{
    g_autofree char *path = tmp_path("huge-cache.qcow2");
    RUN("qemu-img create -q -f qcow2 -o cluster_size=512 %s 1M", path);
    g_autofree char *huge = g_strdup_printf("%" PRIu64, (uint64_t)INT32_MAX * 512);
    const char *const opts[] = { "l2-cache-size", huge, "l2-cache-entry-size", "512",
                                 "refcount-cache-size", huge, NULL };
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, opts, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    const uint64_t size = 1 << 20;
    g_autofree uint8_t *expected = g_malloc0(size);
    g_autoptr(GRand) r = g_rand_new_with_seed(12);
    random_writes(img, r, expected, size, 50, 8192);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);

    g_autofree char *add = g_strdup_printf(
        "<blockdev driver=\"qcow2\" node-name=\"h\"><file driver=\"file\" node-name=\"hf\""
        " filename=\"%s\"/></blockdev>", path);
    tu_add_xml(add, NULL);
    g_autofree char *reopen = g_strdup_printf(
        "<blockdev driver=\"qcow2\" node-name=\"h\" l2-cache-size=\"%s\""
        " l2-cache-entry-size=\"512\" refcount-cache-size=\"%s\"><file ref=\"hf\"/>"
        "</blockdev>", huge, huge);
    err = tu_reopen(reopen, NULL);
    if (err)
        fail_msg("reopen: %s", err->message);
    tu_remove_all();
}

static void sleep_entry(void *opaque)
{
    coroutine_sleep_ns(*(uint64_t *)opaque);
}

/* cache-clean-interval drops unused entries; everything still reads back. */
static void test_cache_clean(void **state)
{
    const char *const opts[] = { "cache-clean-interval", "1", NULL };
    g_autofree char *path = tmp_path("clean.qcow2");
    const uint64_t size = 4 << 20;
    RUN("qemu-img create -q -f qcow2 -o cluster_size=4096 %s %" PRIu64, path, size);
    g_autofree uint8_t *expected = g_malloc0(size);
    g_autoptr(GRand) r = g_rand_new_with_seed(5);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, opts, &err);
    assert_non_null(img);
    random_writes(img, r, expected, size, 20, 100000);
    assert_int_equal(qt_flush(img), 0);
    uint64_t ns = 2500000000ull;    /* two timer rounds: used, then unused */
    aio_run_coroutine(sleep_entry, &ns);
    assert_image_reads(img, expected, size);
    random_writes(img, r, expected, size, 20, 100000);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);
}

static void test_lazy_refcounts(void **state)
{
    g_autofree char *path = tmp_path("lazy.qcow2");
    RUN("qemu-img create -q -f qcow2 -o lazy_refcounts=on %s 4M", path);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    assert_non_null(img);
    uint8_t buf[65536];
    memset(buf, 0x42, sizeof(buf));
    assert_int_equal(qt_write(img, 65536, sizeof(buf), buf), 0);
    g_autofree char *out = NULL;
    /* While open, the image is dirty. */
    qt_run(&out, "qemu-img info -U %s", path);
    assert_non_null(strstr(out, "lazy refcounts: true"));
    qt_close(img);
    assert_check_clean(path, false);
    RUN("qemu-io -r -c 'read -P 0x42 65536 65536' %s", path);

    /* lazy-refcounts on a v2 image is refused. */
    g_autofree char *v2 = tmp_path("lazy-v2.qcow2");
    RUN("qemu-img create -q -f qcow2 -o compat=0.10 %s 4M", v2);
    const char *const opts[] = { "lazy-refcounts", "on", NULL };
    assert_null(qt_open(v2, "img", false, opts, &err));
    assert_non_null(strstr(err->message, "lazy-refcounts"));
    g_clear_error(&err);
}

static bool header_dirty(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    assert_true(g_file_get_contents(path, &data, &len, NULL));
    assert_true(len > 80);
    return data[79] & 1;
}

/* A dirty image (crashed with lazy refcounts) is repaired on read-write open. */
static void put_bytes(const char *path, off_t off, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseeko(f, off, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static void test_dirty_repair(void **state)
{
    g_autofree char *path = tmp_path("dirty.qcow2");
    RUN("qemu-img create -q -f qcow2 -o lazy_refcounts=on %s 4M", path);
    RUN("qemu-io -c 'write -P 0x42 0 256k' %s", path);
    RUN("truncate -s 1M %s", path);
    /* Data clusters 5 and 6 lost their refcounts, cluster 12 leaked, dirty bit set. */
    const uint8_t zero[4] = { 0 }, one[2] = { 0, 1 }, dirty[1] = { 1 };
    put_bytes(path, 0x20000 + 2 * 5, zero, 4);
    put_bytes(path, 0x20000 + 2 * 12, one, 2);
    put_bytes(path, 79, dirty, 1);
    g_autofree char *out = NULL;
    assert_int_equal(qt_run(&out, "qemu-img check %s", path), 2);

    /* Read-only opens leave it alone; read-write repairs. */
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", true, NULL, &err);
    assert_non_null(img);
    qt_close(img);
    assert_true(header_dirty(path));
    img = qt_open(path, "img", false, NULL, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    assert_false(header_dirty(path));
    uint8_t buf[4096];
    memset(buf, 0x43, sizeof(buf));
    assert_int_equal(qt_write(img, 1 << 20, sizeof(buf), buf), 0);
    qt_close(img);
    assert_check_clean(path, false);
    RUN("qemu-io -r -c 'read -P 0x42 0 256k' -c 'read -P 0x43 1M 4k' %s", path);
}

/* ---- internal snapshots: shared clusters are copied, never overwritten ---- */

static void test_snapshot_cow(void **state)
{
    g_autofree char *path = tmp_path("snap.qcow2");
    g_autofree char *raw = tmp_path("snap.raw");
    const uint64_t size = 2 << 20;
    g_autofree uint8_t *expected = g_malloc0(size);
    RUN("qemu-img create -q -f qcow2 %s %" PRIu64, path, size);
    qemu_write_pattern(path, expected, 0x51, 0, 256 * 1024);
    RUN("qemu-img snapshot -c snap1 %s", path);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    if (!img)
        fail_msg("open: %s", err->message);
    uint8_t buf[1000];
    memset(buf, 0x52, sizeof(buf));
    assert_int_equal(qt_write(img, 70000, sizeof(buf), buf), 0);
    memcpy(expected + 70000, buf, sizeof(buf));
    assert_int_equal(qt_write(img, 1 << 20, sizeof(buf), buf), 0);
    memcpy(expected + (1 << 20), buf, sizeof(buf));
    assert_int_equal(qt_write_zeroes(img, 131072, 65536, 0), 0);
    memset(expected + 131072, 0, 65536);
    assert_image_reads(img, expected, size);
    qt_close(img);
    assert_check_clean(path, false);
    write_file(raw, expected, size);
    assert_compare(path, raw);
    /* The snapshot still holds the old data. */
    RUN("qemu-img snapshot -a snap1 %s", path);
    RUN("qemu-io -r -c 'read -P 0x51 0 256k' %s", path);
    assert_check_clean(path, false);
}

/* ---- reopen: every option can change; lazy-refcounts toggles the dirty bit ---- */


static void test_reopen(void **state)
{
    g_autofree char *path = tmp_path("reopen.qcow2");
    RUN("qemu-img create -q -f qcow2 %s 4M", path);
    g_autofree char *add = g_strdup_printf(
        "<blockdev driver=\"qcow2\" node-name=\"r\"><file driver=\"file\" node-name=\"rf\""
        " filename=\"%s\"/></blockdev>", path);
    BlockNode *node = tu_add_xml(add, NULL);
    BlockChild *c = tu_attach(node, "test", BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE, NULL);
    uint8_t buf[4096];
    memset(buf, 0x61, sizeof(buf));
    assert_int_equal(tu_pwrite(c, 0, buf, sizeof(buf)), 0);
    assert_false(header_dirty(path));

    GError *err = tu_reopen("<blockdev driver=\"qcow2\" node-name=\"r\" lazy-refcounts=\"on\""
                            " l2-cache-size=\"64k\" l2-cache-entry-size=\"4k\""
                            " overlap-check=\"all\" cache-clean-interval=\"1\">"
                            "<file ref=\"rf\"/></blockdev>", NULL);
    if (err)
        fail_msg("reopen: %s", err->message);
    assert_int_equal(tu_pwrite(c, 65536, buf, sizeof(buf)), 0);
    assert_true(header_dirty(path));    /* lazy refcounts: dirty while writing */

    /* A bad value is refused and changes nothing. */
    err = tu_reopen("<blockdev driver=\"qcow2\" node-name=\"r\" l2-cache-entry-size=\"1000\">"
                    "<file ref=\"rf\"/></blockdev>", NULL);
    assert_non_null(err);
    assert_non_null(strstr(err->message, "l2-cache-entry-size"));
    g_clear_error(&err);
    assert_true(header_dirty(path));

    /* Back to the defaults: refcounts written, dirty bit cleared. */
    err = tu_reopen("<blockdev driver=\"qcow2\" node-name=\"r\"><file ref=\"rf\"/></blockdev>",
                    NULL);
    if (err)
        fail_msg("reopen: %s", err->message);
    assert_false(header_dirty(path));
    assert_int_equal(tu_pwrite(c, 131072, buf, sizeof(buf)), 0);
    tu_detach(c);
    tu_remove_all();
    assert_check_clean(path, false);
    RUN("qemu-io -r -c 'read -P 0x61 0 4k' -c 'read -P 0x61 64k 4k' -c 'read -P 0x61 128k 4k' %s",
        path);
}

static void test_reopen_read_write(void **state)
{
    g_autofree char *path = tmp_path("reopen-rw.qcow2");
    RUN("qemu-img create -q -f qcow2 %s 4M", path);
    RUN("qemu-io -c 'write -P 0x21 0 64k' %s", path);
    g_autofree char *add = g_strdup_printf(
        "<blockdev driver=\"qcow2\" node-name=\"rw\" read-only=\"on\">"
        "<file driver=\"file\" node-name=\"rwf\" filename=\"%s\" read-only=\"on\"/>"
        "</blockdev>", path);
    BlockNode *node = tu_add_xml(add, NULL);
    assert_false(node->writable);
    /* The qcow2 node and its file go read-write in one transaction. */
    g_autofree char *file_xml = g_strdup_printf(
        "<blockdev driver=\"file\" node-name=\"rwf\" filename=\"%s\"/>", path);
    GError *err = tu_reopen("<blockdev driver=\"qcow2\" node-name=\"rw\"><file ref=\"rwf\"/>"
                            "</blockdev>", file_xml, NULL);
    if (err)
        fail_msg("reopen read-write: %s", err->message);
    assert_true(node->writable);
    BlockChild *c = tu_attach(node, "test", BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE, NULL);
    uint8_t buf[4096];
    memset(buf, 0x22, sizeof(buf));
    assert_int_equal(tu_pwrite(c, 65536 + 512, buf, sizeof(buf)), 0);
    tu_detach(c);
    /* And back to read-only: everything is written back first. */
    err = tu_reopen("<blockdev driver=\"qcow2\" node-name=\"rw\" read-only=\"on\">"
                    "<file ref=\"rwf\"/></blockdev>", NULL);
    if (err)
        fail_msg("reopen read-only: %s", err->message);
    assert_check_clean(path, false);
    tu_remove_all();
    assert_check_clean(path, false);
    RUN("qemu-io -r -c 'read -P 0x21 0 64k' -c 'read -P 0x22 66048 4096' %s", path);
}

/* ---- concurrency ---- */

typedef struct ConcurrentWrite {
    TestImage *img;
    uint64_t off, len;
    uint8_t *buf;
    int ret;
    unsigned *left;
    bool *done;
} ConcurrentWrite;

static void concurrent_entry(void *opaque)
{
    ConcurrentWrite *w = opaque;
    w->ret = node_co_pwrite(w->img->child, w->off, w->len, w->buf, 0);
    if (--*w->left == 0)
        *w->done = true;
}

static void test_concurrent_writes(void **state)
{
    g_autofree char *path = tmp_path("concurrent.qcow2");
    g_autofree char *raw = tmp_path("concurrent.raw");
    const uint64_t size = 4 << 20;
    RUN("qemu-img create -q -f qcow2 -o cluster_size=65536 %s %" PRIu64, path, size);
    g_autofree uint8_t *expected = g_malloc0(size);
    GError *err = NULL;
    TestImage *img = qt_open(path, "img", false, NULL, &err);
    assert_non_null(img);
    /* 48 writes in flight: distinct clusters, and disjoint pieces of shared clusters. */
    enum { N = 48 };
    ConcurrentWrite w[N];
    unsigned left = N;
    bool done = false;
    for (int i = 0; i < N; i++) {
        uint64_t off = i < 32 ? (uint64_t)i * 65536 * 2 : (uint64_t)(i - 32) * 4096 + 65536;
        uint64_t len = i < 32 ? 65536 + 4096 : 4096;
        w[i] = (ConcurrentWrite){ img, off, len, g_malloc(len), -1, &left, &done };
        memset(w[i].buf, i + 1, len);
    }
    for (int i = 0; i < N; i++)
        coroutine_start(concurrent_entry, &w[i]);
    aio_run_until(&done);
    for (int i = 0; i < N; i++) {
        assert_int_equal(w[i].ret, 0);
        memcpy(expected + w[i].off, w[i].buf, w[i].len);
    }
    /* Overlaps between the two groups were written in an unknown order: read them back. */
    g_autofree uint8_t *got = g_malloc(size);
    assert_int_equal(qt_read(img, 0, size, got), 0);
    for (int i = 32; i < N; i++) {
        if (i > 32)     /* the first piece also overlaps write 0 */
            assert_int_equal(got[w[i].off + 1], i + 1);
        g_free(w[i].buf);
    }
    for (int i = 0; i < 32; i++) {
        uint64_t end = w[i].off + w[i].len;
        for (uint64_t o = w[i].off; o < end; o++) {
            bool other = o >= 65536 && o < 65536 + 16 * 4096;
            if (!other)
                assert_int_equal(got[o], i + 1);
        }
        g_free(w[i].buf);
    }
    qt_close(img);
    assert_check_clean(path, false);
    write_file(raw, got, size);
    assert_compare(path, raw);
}

static void test_driver_table(void **state)
{
    const BlockDriver *drv = block_driver_find("qcow2");
    assert_non_null(drv);
    assert_true(drv->supports_backing);
    const uint8_t magic[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
    assert_int_equal(drv->probe(magic, sizeof(magic)), 100);
    assert_int_equal(drv->probe((const uint8_t *)"nothing!", 8), 0);
}

static int teardown_each(void **state)
{
    qt_close_all();
    return 0;
}

static int setup(void **state)
{
    if (!qt_have_qemu_tools())
        return 0;
    return qt_tmpdir_create("test-qcow2", &tmpdir);
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
        cmocka_unit_test_teardown(test_driver_table, teardown_each),
        cmocka_unit_test_teardown(test_read_qemu_images, teardown_each),
        cmocka_unit_test_teardown(test_write_qemu_checks, teardown_each),
        cmocka_unit_test_teardown(test_refcount_widths, teardown_each),
        cmocka_unit_test_teardown(test_refcount_table_growth, teardown_each),
        cmocka_unit_test_teardown(test_resize, teardown_each),
        cmocka_unit_test_teardown(test_backing_chain, teardown_each),
        cmocka_unit_test_teardown(test_discard_backing, teardown_each),
        cmocka_unit_test_teardown(test_discard_reaches_file, teardown_each),
        cmocka_unit_test_teardown(test_compressed_zlib, teardown_each),
        cmocka_unit_test_teardown(test_compressed_zstd, teardown_each),
        cmocka_unit_test_teardown(test_small_caches, teardown_each),
        cmocka_unit_test_teardown(test_huge_caches, teardown_each),
        cmocka_unit_test_teardown(test_cache_clean, teardown_each),
        cmocka_unit_test_teardown(test_lazy_refcounts, teardown_each),
        cmocka_unit_test_teardown(test_dirty_repair, teardown_each),
        cmocka_unit_test_teardown(test_snapshot_cow, teardown_each),
        cmocka_unit_test_teardown(test_reopen, teardown_each),
        cmocka_unit_test_teardown(test_reopen_read_write, teardown_each),
        cmocka_unit_test_teardown(test_concurrent_writes, teardown_each),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    aio_loop_shutdown();
    return rc;
}
