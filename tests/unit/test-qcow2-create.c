/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The layout and first cluster of a new qcow2 image (qcow2-create.c),
 * without I/O: the refcount blocks and table cover every cluster up to the
 * end (themselves included), the parts do not overlap, and the header
 * parses back (qcow2_header_parse, the open path's parser) with exactly the
 * options given.  The images themselves are checked against qemu-img in
 * tests/interop/test-create-qcow2.py.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "drivers/qcow2/qcow2.h"

static void check_layout(const Qcow2CreateParams *p)
{
    Qcow2CreateLayout l;
    uint64_t cs = p->cluster_size;

    qcow2_create_layout(p, &l);
    assert_true(l.refblocks * (cs * 8 / p->refcount_bits) >= l.clusters);
    assert_true(l.reftable_clusters * (cs / 8) >= l.refblocks);
    assert_int_equal(l.reftable_offset, cs);
    assert_int_equal(l.refblock_offset, l.reftable_offset + l.reftable_clusters * cs);
    assert_int_equal(l.l1_offset, l.refblock_offset + l.refblocks * cs);
    assert_true(l.l1_entries * 8 <= l.l2_offset - l.l1_offset);
    assert_int_equal(l.data_offset, l.l2_offset + l.l2_tables * cs);
    assert_int_equal(l.data_offset + l.data_clusters * cs, l.clusters * cs);
    if (p->prealloc != CREATE_PREALLOC_OFF) {
        assert_true(l.data_clusters * cs >= p->size);
        assert_true(l.l2_tables * (cs / 8) >= l.data_clusters);
        assert_int_equal(l.file_length, l.clusters * cs);
    }
}

static void test_layout_covers_itself(void **state)
{
    static const uint64_t sizes[] = { 0, 512, 1 << 20, (1ull << 30) + 512, 10ull << 30 };

    for (uint64_t cs = 512; cs <= 2 * 1024 * 1024; cs *= 4)
        for (uint64_t bits = 1; bits <= 64; bits *= 2)
            for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++)
                for (int pre = CREATE_PREALLOC_OFF; pre <= CREATE_PREALLOC_METADATA; pre++) {
                    Qcow2CreateParams p = {
                        .size = sizes[i], .cluster_size = cs, .refcount_bits = bits,
                        .version = 3, .prealloc = pre,
                    };

                    if (pre && cs == 512 && sizes[i] > (1ull << 30))
                        continue;   /* millions of clusters: slow, nothing new */
                    check_layout(&p);
                }
}

static void parse_back(const Qcow2CreateParams *p, Qcow2Header *h)
{
    Qcow2CreateLayout l;
    g_autofree uint8_t *buf = g_malloc(p->cluster_size);
    g_autoptr(GError) err = NULL;

    qcow2_create_layout(p, &l);
    qcow2_create_header(p, &l, buf);
    assert_true(qcow2_header_parse(buf, p->cluster_size, l.clusters * p->cluster_size,
                                   "new image", h, &err));
    assert_int_equal(h->size, p->size);
    assert_int_equal(1u << h->cluster_bits, p->cluster_size);
    assert_int_equal(1u << h->refcount_order, p->refcount_bits);
    assert_int_equal(h->l1_table_offset, l.l1_offset);
    assert_int_equal(h->l1_size, l.l1_entries);
    assert_int_equal(h->refcount_table_offset, l.reftable_offset);
    assert_int_equal(h->refcount_table_clusters, l.reftable_clusters);
}

static void test_header_v3(void **state)
{
    Qcow2CreateParams p = {
        .size = 1ull << 30, .cluster_size = 4096, .refcount_bits = 8, .version = 3,
        .lazy_refcounts = true, .compression = QCOW2_COMPRESSION_ZSTD,
        .backing_file = "base.qcow2", .backing_fmt = "qcow2",
    };
    Qcow2Header h;

    parse_back(&p, &h);
    assert_int_equal(h.version, 3);
    assert_int_equal(h.compatible_features, QCOW2_COMPAT_LAZY_REFCOUNTS);
    assert_int_equal(h.incompatible_features, QCOW2_INCOMPAT_COMPRESSION);
    assert_int_equal(h.compression_type, QCOW2_COMPRESSION_ZSTD);
    assert_string_equal(h.backing_file, "base.qcow2");
    assert_string_equal(h.backing_format, "qcow2");
    qcow2_header_clear(&h);
}

static void test_header_v2(void **state)
{
    Qcow2CreateParams p = {
        .size = 64 << 20, .cluster_size = 65536, .refcount_bits = 16, .version = 2,
        .backing_file = "b.raw",
    };
    Qcow2Header h;

    parse_back(&p, &h);
    assert_int_equal(h.version, 2);
    assert_string_equal(h.backing_file, "b.raw");
    assert_null(h.backing_format);
    qcow2_header_clear(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_covers_itself),
        cmocka_unit_test(test_header_v3),
        cmocka_unit_test(test_header_v2),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
