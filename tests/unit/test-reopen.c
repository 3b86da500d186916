/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "tests/unit/test-util.h"

#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Files {
    char *a, *b;
} Files;

static int setup(void **state)
{
    Files *f = g_new0(Files, 1);

    f->a = tu_pattern_file(64 * 1024, 0);
    f->b = tu_pattern_file(64 * 1024, 100);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Files *f = *state;

    tu_remove_all();
    tu_unlink(f->a);
    tu_unlink(f->b);
    g_free(f);
    return 0;
}

static BlockNode *add_file(const char *name, const char *path)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='%s' filename='%s'/>", name, path);
    return tu_add_xml(xml, NULL);
}

static void test_raw_window_moves_and_omitted_option_resets(void **state)
{
    Files *f = *state;
    uint8_t buf[512];
    BlockNode *r;
    BlockChild *c;

    add_file("fa", f->a);
    r = tu_add_xml("<blockdev driver='raw' node-name='r' offset='1024' size='4096'>"
                   "<file ref='fa'/></blockdev>", NULL);
    c = tu_attach(r, "reader", BLOCK_PERM_CONSISTENT_READ, NULL);
    assert_int_equal(tu_pread(c, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 2);       /* sector 2 of the file */

    assert_null(tu_reopen("<blockdev driver='raw' node-name='r' offset='8k' size='4k'>"
                          "<file ref='fa'/></blockdev>", NULL));
    assert_int_equal(tu_pread(c, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 16);
    assert_int_equal(r->size, 4096);

    /* offset and size left out: back to the defaults, the whole file. */
    assert_null(tu_reopen("<blockdev node-name='r'><file ref='fa'/></blockdev>", NULL));
    assert_int_equal(r->size, 64 * 1024);
    assert_int_equal(tu_pread(c, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 0);
    tu_detach(c);
}

static void test_immutable_options_and_driver(void **state)
{
    Files *f = *state;
    g_autofree char *other = g_strdup_printf(
        "<blockdev driver='file' node-name='fa' filename='%s'/>", f->b);
    g_autofree char *locking = g_strdup_printf(
        "<blockdev driver='file' node-name='fl' filename='%s'/>", f->a);
    g_autofree char *before = NULL, *after = NULL;

    add_file("fa", f->a);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='fl' filename='%s' locking='off'/>", f->a);
    tu_add_xml(xml, NULL);
    before = tu_graph_snapshot();
    assert_error(tu_reopen(other, NULL), BG_ERROR_INVALID_ARGUMENT,
                 "Cannot change the option 'filename'");
    assert_error(tu_reopen(locking, NULL), BG_ERROR_INVALID_ARGUMENT,
                 "Option 'locking' cannot be reset to its default value");
    assert_error(tu_reopen("<blockdev driver='null-co' node-name='fa'/>", NULL),
                 BG_ERROR_INVALID_ARGUMENT, "Cannot change the driver of node 'fa'");
    assert_error(tu_reopen("<blockdev driver='null-co'/>", NULL), BG_ERROR_INVALID_ARGUMENT,
                 "needs the node-name");
    assert_error(tu_reopen("<blockdev driver='null-co' node-name='ghost'/>", NULL),
                 BG_ERROR_NOT_FOUND, "'ghost'");
    after = tu_graph_snapshot();
    assert_string_equal(before, after);
}

static void test_replace_file_child_by_ref(void **state)
{
    Files *f = *state;
    uint8_t buf[512];
    BlockNode *r;
    BlockChild *c;

    add_file("fa", f->a);
    add_file("fb", f->b);
    r = tu_add_xml("<blockdev driver='raw' node-name='r'><file ref='fa'/></blockdev>", NULL);
    c = tu_attach(r, "reader", BLOCK_PERM_CONSISTENT_READ, NULL);
    assert_null(tu_reopen("<blockdev driver='raw' node-name='r'><file ref='fb'/></blockdev>",
                          NULL));
    assert_ptr_equal(r->file->node, graph_lookup("fb"));
    assert_int_equal(tu_pread(c, 0, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], 100);
    assert_int_equal(graph_lookup("fa")->parents->len, 0);
    tu_detach(c);
}

static void test_swap_children_in_one_call(void **state)
{
    Files *f = *state;
    g_autoptr(GError) separately = NULL;
    g_autofree char *before = NULL, *after = NULL;

    add_file("fa", f->a);
    add_file("fb", f->b);
    /* raw passes its users' needs down: exclusive writers take write and share none. */
    const uint64_t rw = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE;
    BlockNode *r1 = tu_add_xml("<blockdev driver='raw' node-name='r1'><file ref='fa'/></blockdev>",
                               NULL);
    BlockNode *r2 = tu_add_xml("<blockdev driver='raw' node-name='r2'><file ref='fb'/></blockdev>",
                               NULL);
    assert_non_null(node_attach_user(r1, BLOCK_USER_EXPORT, "w1", "export", rw,
                                     BLOCK_PERM_CONSISTENT_READ, NULL));
    assert_non_null(node_attach_user(r2, BLOCK_USER_EXPORT, "w2", "export", rw,
                                     BLOCK_PERM_CONSISTENT_READ, NULL));
    before = tu_graph_snapshot();
    separately = tu_reopen("<blockdev driver='raw' node-name='r1'><file ref='fb'/></blockdev>",
                           NULL);
    assert_error(separately, BG_ERROR_PERMISSION_CONFLICT, "Permission conflict on node 'fb'");
    after = tu_graph_snapshot();
    assert_string_equal(before, after);

    assert_null(tu_reopen("<blockdev driver='raw' node-name='r1'><file ref='fb'/></blockdev>",
                          "<blockdev driver='raw' node-name='r2'><file ref='fa'/></blockdev>",
                          NULL));
    assert_string_equal(graph_lookup("r1")->file->node->name, "fb");
    assert_string_equal(graph_lookup("r2")->file->node->name, "fa");
    assert_true(graph_lookup("r1")->file->perm & BLOCK_PERM_WRITE);
}

static void test_cycle_refused(void **state)
{
    Files *f = *state;

    add_file("fa", f->a);
    tu_add_xml("<blockdev driver='raw' node-name='low'><file ref='fa'/></blockdev>", NULL);
    tu_add_xml("<blockdev driver='raw' node-name='high'><file ref='low'/></blockdev>", NULL);
    assert_error(tu_reopen("<blockdev driver='raw' node-name='low'><file ref='high'/></blockdev>",
                           NULL),
                 BG_ERROR_INVALID_ARGUMENT, "would create a cycle");
    assert_error(tu_reopen("<blockdev driver='raw' node-name='low'><file ref='low'/></blockdev>",
                           NULL),
                 BG_ERROR_INVALID_ARGUMENT, "would create a cycle");
    assert_string_equal(graph_lookup("low")->file->node->name, "fa");
}

static void test_read_only_while_writer_uses_it(void **state)
{
    BlockNode *n = tu_add_xml("<blockdev driver='null-co' node-name='n' size='1M'/>", NULL);
    BlockChild *w = tu_attach(n, "e0", RW, NULL);
    GError *err;

    err = tu_reopen("<blockdev driver='null-co' node-name='n' size='1M' read-only='on'/>", NULL);
    assert_error(err, BG_ERROR_READ_ONLY, "export 'e0' (uses node 'n') needs to write");
    assert_false(n->read_only);
    assert_true(n->writable);
    tu_detach(w);
    assert_null(tu_reopen("<blockdev driver='null-co' node-name='n' size='1M' read-only='on'/>", NULL));
    assert_true(n->read_only);
    assert_false(n->writable);
    assert_null(tu_attach(n, "e1", RW, &err));
    assert_error(err, BG_ERROR_READ_ONLY, "read-only");
    assert_null(tu_reopen("<blockdev driver='null-co' node-name='n' size='1M'/>", NULL));
    assert_true(n->writable);
}

static void test_failed_multi_node_reopen_changes_nothing(void **state)
{
    Files *f = *state;
    g_autofree char *before = NULL, *after = NULL;

    add_file("fa", f->a);
    tu_add_xml("<blockdev driver='raw' node-name='r1' offset='512'><file ref='fa'/></blockdev>",
               NULL);
    tu_add_xml("<blockdev driver='null-co' node-name='n' size='1M'/>", NULL);
    before = tu_graph_snapshot();
    /* The first would work, the second asks for a window past the end. */
    assert_error(tu_reopen("<blockdev driver='raw' node-name='r1' offset='1k' "
                           "detect-zeroes='on'><file ref='fa'/></blockdev>",
                           "<blockdev driver='null-co' node-name='n' size='1M' read-only='on'/>",
                           "<blockdev driver='raw' node-name='r1'/>", NULL),
                 BG_ERROR_INVALID_ARGUMENT, "more than once");
    assert_error(tu_reopen("<blockdev driver='null-co' node-name='n' size='1M' read-only='on'/>",
                           "<blockdev driver='raw' node-name='r1' offset='1M'>"
                           "<file ref='fa'/></blockdev>", NULL),
                 BG_ERROR_INVALID_ARGUMENT, "past the end");
    after = tu_graph_snapshot();
    assert_string_equal(before, after);
    assert_false(graph_lookup("n")->read_only);
    assert_true(graph_lookup("n")->writable);
}

static void test_inline_child_reopens_current_child(void **state)
{
    Files *f = *state;
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='r'><file driver='file' node-name='rf' "
        "filename='%s'/></blockdev>", f->a);
    g_autofree char *reopen = g_strdup_printf(
        "<blockdev driver='raw' node-name='r'><file driver='file' filename='%s' "
        "detect-zeroes='on'/></blockdev>", f->a);
    g_autofree char *other = g_strdup_printf(
        "<blockdev driver='raw' node-name='r'><file driver='file' node-name='new' "
        "filename='%s'/></blockdev>", f->a);

    tu_add_xml(xml, NULL);
    assert_null(tu_reopen(reopen, NULL));
    assert_int_equal(graph_lookup("rf")->detect_zeroes, DETECT_ZEROES_ON);
    assert_error(tu_reopen(other, NULL), BG_ERROR_INVALID_ARGUMENT, "cannot create nodes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_window_moves_and_omitted_option_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_immutable_options_and_driver, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_file_child_by_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_children_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_while_writer_uses_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_multi_node_reopen_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_child_reopens_current_child, setup, teardown),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
