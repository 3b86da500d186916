/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dirty bitmaps (graph/bitmap.h, graph/bitmap-action.h): bit ranges and
 * counts, extents, serialization, merging across granularities, marking by
 * the request path, successors (abdicate / reclaim) and verbs undone by a
 * transaction.
 */
#include "graph/bitmap-action.h"
#include "tests/unit/test-util.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

static BlockNode *null_node(const char *name, const char *size)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='null-co' node-name='%s' size='%s'/>", name, size);
    return tu_add_xml(xml, NULL);
}

static void test_bitmap_ranges(void **state)
{
    BlockNode *node = null_node("n0", "1000000");     /* not a multiple of the granularity */
    DirtyBitmap *bm = bitmap_create(node, "b", 4096, NULL);
    uint64_t len;

    assert_int_equal(bm->n_bits, 245);
    bitmap_set_range(bm, 5000, 1);                  /* bit 1 */
    assert_true(bitmap_get(bm, 4096));
    assert_false(bitmap_get(bm, 0));
    assert_int_equal(bitmap_dirty_bytes(bm), 4096);
    bitmap_set_range(bm, 4096 * 60, 4096 * 10);     /* crosses a word boundary */
    assert_int_equal(bm->n_set, 11);
    assert_false(bitmap_extent(bm, 0, MiB, &len));
    assert_int_equal(len, 4096);
    assert_true(bitmap_extent(bm, 4096, MiB, &len));
    assert_int_equal(len, 4096);
    assert_true(bitmap_extent(bm, 4096 * 61 + 7, MiB, &len));
    assert_int_equal(len, 4096 * 70 - (4096 * 61 + 7));
    assert_false(bitmap_extent(bm, 4096 * 70, MiB, &len));
    assert_int_equal(len, 1000000 - 4096 * 70);     /* clean to the end of the node */
    bitmap_set_range(bm, 999999, 1);                /* the last bit covers 576 bytes */
    assert_int_equal(bitmap_dirty_bytes(bm), 11 * 4096 + 1000000 % 4096);
    bitmap_reset_range(bm, 4096 * 62, 4096);
    assert_int_equal(bm->n_set, 11);
    bitmap_clear(bm);
    assert_int_equal(bm->n_set, 0);
    tu_remove_all();
}

static void test_bitmap_bytes(void **state)
{
    BlockNode *node = null_node("n0", "1M");
    DirtyBitmap *a = bitmap_create(node, "a", 512, NULL);
    DirtyBitmap *b = bitmap_create(node, "b", 512, NULL);
    uint8_t bytes[256], back[256];

    for (unsigned i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 37 + 11);
    bitmap_from_bytes(a, 0, 2048, bytes);
    bitmap_to_bytes(a, 0, 2048, back);
    assert_memory_equal(bytes, back, sizeof(bytes));
    assert_true(bitmap_get(a, 0) == (bytes[0] & 1));        /* bit 0 of byte 0 first */
    assert_true(bitmap_get(a, 512 * 9) == !!(bytes[1] & 2));
    bitmap_from_bytes(b, 1024, 1024, bytes + 128);          /* the second half alone */
    bitmap_to_bytes(b, 1024, 1024, back);
    assert_memory_equal(bytes + 128, back, 128);
    uint64_t upper = b->n_set;
    bitmap_fill_bits(b, 0, 1024, true);
    assert_int_equal(b->n_set, 1024 + upper);
    bitmap_fill_bits(b, 1000, 30, false);
    assert_int_equal(b->n_set, 1000 + upper - __builtin_popcount(bytes[128] & 0x3f));
    tu_remove_all();
}

static void test_bitmap_merge_granularities(void **state)
{
    BlockNode *node = null_node("n0", "1M");
    DirtyBitmap *fine = bitmap_create(node, "fine", 512, NULL);
    DirtyBitmap *coarse = bitmap_create(node, "coarse", 65536, NULL);

    bitmap_set_range(fine, 70000, 100);
    bitmap_merge_into(coarse, fine);
    assert_int_equal(coarse->n_set, 1);
    assert_true(bitmap_get(coarse, 65536));
    bitmap_merge_into(fine, coarse);
    assert_int_equal(fine->n_set, 128);
    tu_remove_all();
}

typedef struct Io {
    BlockChild *c;
} Io;

static void coroutine_fn write_some(void *opaque)
{
    Io *io = opaque;
    uint8_t buf[4096] = { 1 };

    assert_int_equal(node_co_pwrite(io->c, 8192, sizeof(buf), buf, 0), 0);
    assert_int_equal(node_co_pwrite_zeroes(io->c, 65536, 4096, 0), 0);
}

static void test_bitmap_marked_by_writes(void **state)
{
    g_autofree char *path = tu_pattern_file(MiB, 0);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f0' filename='%s'/>", path);
    BlockNode *node = tu_add_xml(xml, NULL);
    DirtyBitmap *on = bitmap_create(node, "on", 4096, NULL);
    DirtyBitmap *off = bitmap_create(node, "off", 4096, NULL);
    Io io = { tu_attach(node, "w", BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE, NULL) };

    off->disabled = true;
    aio_run_coroutine(write_some, &io);
    assert_int_equal(on->n_set, 2);
    assert_true(bitmap_get(on, 8192) && bitmap_get(on, 65536));
    assert_int_equal(off->n_set, 0);

    /* A successor records in the bitmap's place; reclaim merges it back. */
    assert_true(bitmap_create_successor(on, NULL));
    assert_int_equal(on->busy, 1);
    GError *err = NULL;
    Transaction *tran = tran_new();
    assert_false(node_bitmap_clear(node, "on", tran, &err));
    tran_abort(tran);
    assert_error(err, BG_ERROR_BUSY, "'on'");
    bitmap_clear(on);
    aio_run_coroutine(write_some, &io);
    assert_int_equal(on->n_set, 0);
    bitmap_reclaim(on);
    assert_int_equal(on->busy, 0);
    assert_int_equal(on->n_set, 2);
    /* abdicate: only what the successor saw stays. */
    assert_true(bitmap_create_successor(on, NULL));
    bitmap_abdicate(on);
    assert_int_equal(on->n_set, 0);
    tu_detach(io.c);
    tu_remove_all();
    tu_unlink(g_steal_pointer(&path));
}

static void test_bitmap_transaction_undo(void **state)
{
    BlockNode *node = null_node("n0", "1M");
    GError *err = NULL;
    const char *const srcs[] = { "b", NULL };
    Transaction *tran;

    tran = tran_new();
    assert_true(node_bitmap_add(node, "a", 0, false, false, tran, NULL));
    assert_true(node_bitmap_add(node, "b", 512, false, false, tran, NULL));
    tran_commit(tran);
    bitmap_set_range(bitmap_find(node, "a"), 0, 4096);
    bitmap_set_range(bitmap_find(node, "b"), 100000, 1);

    tran = tran_new();
    assert_true(node_bitmap_clear(node, "a", tran, NULL));
    assert_true(node_bitmap_merge(node, "a", srcs, tran, NULL));
    assert_true(node_bitmap_remove(node, "b", tran, NULL));
    assert_true(node_bitmap_enable(node, "a", false, tran, NULL));
    assert_true(node_bitmap_add(node, "c", 0, false, false, tran, NULL));
    assert_null(bitmap_find(node, "b"));
    assert_false(node_bitmap_add(node, "c", 0, false, false, tran, &err));
    assert_error(err, BG_ERROR_EXISTS, "'c'");
    tran_abort(tran);

    DirtyBitmap *a = bitmap_find(node, "a"), *b = bitmap_find(node, "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(bitmap_find(node, "c"));
    assert_ptr_equal(node->bitmaps->data, a);       /* the order is kept too */
    assert_int_equal(a->n_set, 1);
    assert_true(bitmap_get(a, 0));
    assert_false(a->disabled);
    assert_int_equal(b->n_set, 1);
    tu_remove_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitmap_ranges),
        cmocka_unit_test(test_bitmap_bytes),
        cmocka_unit_test(test_bitmap_merge_granularities),
        cmocka_unit_test(test_bitmap_marked_by_writes),
        cmocka_unit_test(test_bitmap_transaction_undo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
