/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * When a range of a tmpfs file is worth mapping for zero-copy writes
 * (drivers/file-mem-rent.c): copied until its copies cost what its first
 * faults would, mapped after that.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <glib.h>

#include "drivers/file-mem-rent.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_limit_for(void **state)
{
    (void)state;
    /* Faults cheaper than the copy a mapped write saves: mapped at once. */
    assert_int_equal(file_mem_rent_limit_for(0), 0);
    assert_int_equal(file_mem_rent_limit_for(300), 0);
    /* A VM with shadow page tables: ~9 µs per first store. */
    assert_int_equal(file_mem_rent_limit_for(8800), 25);
    assert_int_equal(file_mem_rent_limit_for(1000000), FILE_MEM_RENT_MAX);
}

static void test_limit_forced(void **state)
{
    (void)state;
    /* Read once per process: the first call decides. */
    setenv("BLOCKGRAPHD_TEST_MAP_AFTER", "7", 1);
    assert_int_equal(file_mem_rent_limit(), 7);
    setenv("BLOCKGRAPHD_TEST_MAP_AFTER", "0", 1);
    assert_int_equal(file_mem_rent_limit(), 7);
}

static void test_zero_limit_maps_at_once(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    assert_true(file_mem_rent_paid(&r, GiB, 5 * MiB, MiB, 0));
    assert_null(r.copied);      /* nothing counted, nothing allocated */
}

static void test_whole_chunk_writes(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_false(file_mem_rent_paid(&r, GiB, 7 * MiB, MiB, 3));
    assert_true(file_mem_rent_paid(&r, GiB, 7 * MiB, MiB, 3));
    assert_true(file_mem_rent_paid(&r, GiB, 7 * MiB + 4 * KiB, 64 * KiB, 3));
    /* Its neighbours were not written: still copied. */
    assert_false(file_mem_rent_paid(&r, GiB, 8 * MiB, MiB, 3));
    assert_false(file_mem_rent_paid(&r, GiB, 6 * MiB + 512 * KiB, MiB, 3));
    file_mem_rent_reset(&r);
}

static void test_small_writes_count_their_pages(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    /* 256 KiB writes: a chunk's worth of copying takes four of them, per pass. */
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t off = 0; off < MiB; off += 256 * KiB)
            assert_false(file_mem_rent_paid(&r, GiB, off, 256 * KiB, 2));
    assert_true(file_mem_rent_paid(&r, GiB, 0, 256 * KiB, 2));
    /* An odd write counts each page it touches, in each chunk it touches. */
    assert_false(file_mem_rent_paid(&r, GiB, 2 * MiB - 1, 2, 1));
    assert_int_equal(r.copied[1], 1);
    assert_int_equal(r.copied[2], 1);
    file_mem_rent_reset(&r);
}

static void test_spanning_write_needs_every_chunk(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    assert_false(file_mem_rent_paid(&r, GiB, 10 * MiB, MiB, 1));
    assert_true(file_mem_rent_paid(&r, GiB, 10 * MiB, MiB, 1));
    /* Half in the paid chunk, half in the next one: copied, and the next one counted. */
    assert_false(file_mem_rent_paid(&r, GiB, 10 * MiB + 512 * KiB, MiB, 1));
    assert_false(file_mem_rent_paid(&r, GiB, 11 * MiB + 512 * KiB, 512 * KiB, 1));
    assert_true(file_mem_rent_paid(&r, GiB, 10 * MiB + 512 * KiB, MiB, 1));
    file_mem_rent_reset(&r);
}

static void test_reset_and_growth(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    assert_false(file_mem_rent_paid(&r, 4 * MiB, 3 * MiB, MiB, 1));
    assert_true(file_mem_rent_paid(&r, 4 * MiB, 3 * MiB, MiB, 1));
    /* The file grew: its new chunks start from nothing, the old ones keep their count. */
    assert_false(file_mem_rent_paid(&r, 64 * MiB, 60 * MiB, MiB, 1));
    assert_true(file_mem_rent_paid(&r, 64 * MiB, 3 * MiB, MiB, 1));
    /* Unmapped: the faults come again, so does the copying. */
    file_mem_rent_reset(&r);
    assert_false(file_mem_rent_paid(&r, 64 * MiB, 3 * MiB, MiB, 1));
    file_mem_rent_reset(&r);
}

static void test_counts_saturate(void **state)
{
    FileMemRent r = { 0 };

    (void)state;
    for (int i = 0; i < FILE_MEM_RENT_MAX; i++)
        assert_false(file_mem_rent_paid(&r, GiB, 0, MiB, FILE_MEM_RENT_MAX));
    assert_true(file_mem_rent_paid(&r, GiB, 0, MiB, FILE_MEM_RENT_MAX));
    assert_int_equal(r.copied[0], FILE_MEM_RENT_MAX * 256);
    file_mem_rent_reset(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_for),
        cmocka_unit_test(test_limit_forced),
        cmocka_unit_test(test_zero_limit_maps_at_once),
        cmocka_unit_test(test_whole_chunk_writes),
        cmocka_unit_test(test_small_writes_count_their_pages),
        cmocka_unit_test(test_spanning_write_needs_every_chunk),
        cmocka_unit_test(test_reset_and_growth),
        cmocka_unit_test(test_counts_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
