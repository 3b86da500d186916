/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml/node-write: node_to_xml on hand-made nodes, round trips through the
 * graph (AddNode with null-co and raw, node_to_xml, parse, same option set),
 * graph_to_xml ordering and graph_to_dot edges.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <glib/gstdio.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/node.h"
#include "xml/blockdev-parse.h"
#include "xml/config-file.h"
#include "xml/node-write.h"
#include "test-xml-util.h"

/* ---- writing nodes: node_to_xml on hand-made nodes ------------------- */

static const BlockDriver fake_format = {
    .name = "fake-format", .kind = BLOCK_DRIVER_FORMAT, .supports_backing = true,
};
static const BlockDriver fake_protocol = {
    .name = "fake-protocol", .kind = BLOCK_DRIVER_PROTOCOL,
};

static OptionSet *parse_common_options(GHashTable *raw)
{
    const OptionSpec *tables[] = { node_common_options, NULL };
    g_autoptr(GError) err = NULL;
    OptionSet *set = option_set_parse(tables, raw, "test node", &err);

    if (!set)
        fail_msg("%s", err->message);
    return set;
}

static OptionSet *common_options(const char *const *pairs)
{
    g_autoptr(GHashTable) raw = g_hash_table_new(g_str_hash, g_str_equal);

    for (; pairs[0]; pairs += 2)
        g_hash_table_insert(raw, (gpointer)pairs[0], (gpointer)pairs[1]);
    return parse_common_options(raw);
}

static void assert_same_options(const OptionSet *a, const OptionSet *b)
{
    assert_int_equal(option_set_count(a), option_set_count(b));
    for (guint i = 0; i < option_set_count(a); i++) {
        const OptionValue *va = option_set_nth(a, i);
        const OptionValue *vb = option_set_nth(b, i);

        assert_string_equal(va->spec->name, vb->spec->name);
        if (va->is_set != vb->is_set)
            fail_msg("option '%s' set differs", va->spec->name);
        if (va->is_set)
            assert_string_equal(va->text, vb->text);
    }
}

static void init_fake_node(BlockNode *node, const char *name, const BlockDriver *drv,
                           OptionSet *opts)
{
    memset(node, 0, sizeof(*node));
    node->name = (char *)name;
    node->drv = drv;
    node->options = opts;
    node->children = g_ptr_array_new();
    node->parents = g_ptr_array_new();
}

static void test_node_to_xml_canonical(void **state)
{
    static const char *const proto_opts[] = {
        "node-name", "proto0", "driver", "raw", "read-only", "yes", "cache.direct", "true", NULL,
    };
    static const char *const fmt_opts[] = {
        "node-name", "fmt0", "driver", "raw", "discard", "unmap", NULL,
    };
    BlockNode proto, fmt;
    BlockChild link = { .node = &proto, .role = (char *)"file", .user_kind = BLOCK_USER_NODE,
                        .parent = &fmt, .user_name = (char *)"fmt0" };
    g_autofree char *proto_xml = NULL;
    g_autofree char *fmt_xml = NULL;
    g_autoptr(BlockdevSpec) spec = NULL;
    g_autoptr(OptionSet) reparsed = NULL;

    init_fake_node(&proto, "proto0", &fake_protocol, common_options(proto_opts));
    init_fake_node(&fmt, "fmt0", &fake_format, common_options(fmt_opts));
    g_ptr_array_add(fmt.children, &link);
    g_ptr_array_add(proto.parents, &link);

    proto_xml = node_to_xml(&proto);
    assert_true(g_str_has_prefix(proto_xml, "<blockdev "));
    assert_contains(proto_xml, "read-only=\"on\"");
    assert_contains(proto_xml, "direct=\"on\"");
    assert_null(strstr(proto_xml, "<backing"));
    assert_null(strstr(proto_xml, "cache.direct"));
    assert_null(strstr(strstr(proto_xml, "<cache") + 1, "<cache"));

    fmt_xml = node_to_xml(&fmt);
    assert_contains(fmt_xml, "node-name=\"fmt0\"");
    assert_contains(fmt_xml, "discard=\"unmap\"");
    assert_contains(fmt_xml, "<file ref=\"proto0\"/>");
    assert_contains(fmt_xml, "<backing/>");

    spec = parse_ok(fmt_xml);
    reparsed = parse_common_options(spec->options);
    assert_same_options(fmt.options, reparsed);
    assert_int_equal(blockdev_spec_find_child(spec, "file")->kind, CHILD_SPEC_REF);
    assert_string_equal(blockdev_spec_find_child(spec, "file")->ref, "proto0");
    assert_int_equal(blockdev_spec_find_child(spec, "backing")->kind, CHILD_SPEC_NONE);

    g_clear_pointer(&spec, blockdev_spec_free);
    g_clear_pointer(&reparsed, option_set_free);
    spec = parse_ok(proto_xml);
    reparsed = parse_common_options(spec->options);
    assert_same_options(proto.options, reparsed);

    for (BlockNode *n = &proto; n; n = n == &proto ? &fmt : NULL) {
        option_set_free(n->options);
        g_ptr_array_unref(n->children);
        g_ptr_array_unref(n->parents);
    }
}

/* ---- round trips through the graph (null-co, raw) --------------------- */

typedef struct GraphCall {
    const BlockdevSpec *spec;
    const char *name;
    BlockNode *node;
    BlockChild *user;
    GError *err;
} GraphCall;

static void add_node_entry(void *opaque)
{
    GraphCall *call = opaque;

    call->node = graph_co_add_node(call->spec, &call->err);
}

static void remove_node_entry(void *opaque)
{
    GraphCall *call = opaque;

    graph_co_remove_node(call->name, &call->err);
}

static void detach_user_entry(void *opaque)
{
    GraphCall *call = opaque;

    node_detach_user(call->user);
}

static BlockNode *add_node(const char *xml)
{
    g_autoptr(BlockdevSpec) spec = parse_ok(xml);
    GraphCall call = { .spec = spec };

    aio_run_coroutine(add_node_entry, &call);
    if (!call.node)
        fail_msg("AddNode failed: %s", call.err->message);
    return call.node;
}

static void remove_node(const char *name)
{
    GraphCall call = { .name = name };

    aio_run_coroutine(remove_node_entry, &call);
    if (call.err)
        fail_msg("RemoveNode failed: %s", call.err->message);
}

/* node_to_xml, parse again, validate with the node's tables: same options. */
static BlockdevSpec *assert_round_trip(const BlockNode *node)
{
    const OptionSpec *tables[] = { node_common_options, node->drv->options, NULL };
    g_autofree char *xml = node_to_xml(node);
    g_autoptr(GError) err = NULL;
    BlockdevSpec *spec = parse_ok(xml);
    g_autoptr(OptionSet) set = option_set_parse(tables, spec->options, "round trip", &err);

    if (!set)
        fail_msg("%s: %s", xml, err->message);
    assert_same_options(node->options, set);
    return spec;
}

static void test_round_trip_null_co(void **state)
{
    BlockNode *node = add_node(
        "<blockdev driver=\"null-co\" node-name=\"rt0\" size=\"64M\" read-only=\"on\">"
        "<cache direct=\"off\" no-flush=\"on\"/></blockdev>");
    g_autoptr(BlockdevSpec) spec = assert_round_trip(node);

    assert_string_equal(blockdev_spec_get(spec, "node-name"), "rt0");
    assert_string_equal(blockdev_spec_get(spec, "driver"), "null-co");
    assert_string_equal(blockdev_spec_get(spec, "read-only"), "on");
    assert_string_equal(blockdev_spec_get(spec, "cache.no-flush"), "on");
    remove_node("rt0");
}

static void test_round_trip_inline_child(void **state)
{
    BlockNode *node = add_node(
        "<blockdev driver=\"raw\" node-name=\"rt1\" discard=\"unmap\">"
        "<file driver=\"null-co\" node-name=\"rt1-file\" size=\"1M\"/></blockdev>");
    g_autoptr(BlockdevSpec) spec = assert_round_trip(node);
    const ChildSpec *file = blockdev_spec_find_child(spec, "file");
    g_autoptr(BlockdevSpec) child_spec = NULL;

    assert_non_null(file);
    assert_int_equal(file->kind, CHILD_SPEC_REF);
    assert_string_equal(file->ref, "rt1-file");
    child_spec = assert_round_trip(graph_lookup("rt1-file"));
    remove_node("rt1");
    assert_null(graph_lookup("rt1-file"));
}

static void test_graph_dot_and_xml(void **state)
{
    BlockNode *base = add_node("<blockdev driver=\"null-co\" node-name=\"g0\" size=\"1M\"/>");
    BlockNode *top = add_node("<blockdev driver=\"raw\" node-name=\"g1\"><file ref=\"g0\"/></blockdev>");
    g_autoptr(GError) err = NULL;
    GraphCall call = { 0 };
    g_autofree char *dot = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(ConfigFile) file = NULL;

    call.user = node_attach_user(top, BLOCK_USER_EXPORT, "e0", "export",
                                 BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, &err);
    if (!call.user)
        fail_msg("%s", err->message);

    dot = graph_describe("dot", &err);
    assert_non_null(dot);
    assert_true(g_str_has_prefix(dot, "digraph"));
    assert_contains(dot, "\"g1\" -> \"g0\" [label=\"file\"]");
    assert_contains(dot, "label=\"g1\\nraw\"");
    assert_contains(dot, "label=\"g0\\nnull-co\"");
    assert_contains(dot, "\"export:e0\" -> \"g1\"");

    xml = graph_describe("xml", &err);
    assert_non_null(xml);
    file = config_file_parse(xml, -1, "<graph>", &err);
    if (!file)
        fail_msg("%s: %s", xml, err->message);
    assert_int_equal(file->items->len, graph_node_count());
    for (guint i = 0; i < file->items->len; i++) {
        const ConfigItem *item = g_ptr_array_index(file->items, i);

        if (g_strcmp0(blockdev_spec_get(item->blockdev, "node-name"), "g1") == 0)
            assert_string_equal(blockdev_spec_find_child(item->blockdev, "file")->ref, "g0");
    }
    assert_null(graph_describe("json", &err));
    assert_error(err, BG_ERROR_INVALID_ARGUMENT, "json");

    aio_run_coroutine(detach_user_entry, &call);
    remove_node("g1");
    remove_node("g0");
    (void)base;
}

static const char *item_name(const ConfigFile *file, guint i)
{
    const ConfigItem *item = g_ptr_array_index(file->items, i);

    return blockdev_spec_get(item->blockdev, "node-name");
}

static void test_graph_xml_order(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(ConfigFile) file = NULL;
    const ChildSpec *owned;

    add_node("<blockdev driver=\"null-co\" node-name=\"o0\" size=\"1M\"/>");
    add_node("<blockdev driver=\"raw\" node-name=\"o1\"><file ref=\"o0\"/></blockdev>");
    add_node("<blockdev driver=\"raw\" node-name=\"o2\">"
             "<file driver=\"null-co\" node-name=\"o2-file\" size=\"1M\"/></blockdev>");
    xml = graph_to_xml();
    file = config_file_parse(xml, -1, "<graph>", &err);
    if (!file)
        fail_msg("%s: %s", xml, err->message);
    /* Every named node is top-level, a referenced node before its users ... */
    assert_int_equal(file->items->len, 4);
    assert_string_equal(item_name(file, 0), "o0");
    assert_string_equal(item_name(file, 1), "o1");
    assert_string_equal(item_name(file, 2), "o2-file");
    assert_string_equal(item_name(file, 3), "o2");
    /* ... also one defined inline: its parent refers to it. */
    owned = blockdev_spec_find_child(((ConfigItem *)file->items->pdata[3])->blockdev, "file");
    assert_int_equal(owned->kind, CHILD_SPEC_REF);
    assert_string_equal(owned->ref, "o2-file");
    xmlRelaxNGPtr schema = load_schema();
    assert_true(schema_valid(schema, xml));
    xmlRelaxNGFree(schema);
    remove_node("o2");
    remove_node("o1");
    remove_node("o0");
    assert_int_equal(graph_node_count(), 0);
}

static void test_graph_xml_unnamed_child_inline(void **state)
{
    BlockNode *node = add_node("<blockdev driver=\"raw\" node-name=\"u1\">"
                               "<file driver=\"null-co\" size=\"1M\"/></blockdev>");
    g_autofree char *node_xml = node_to_xml(node);
    g_autofree char *graph_xml = graph_to_xml();
    g_autoptr(GError) err = NULL;
    g_autoptr(ConfigFile) file = config_file_parse(graph_xml, -1, "<graph>", &err);
    const ChildSpec *child;

    /* GetXML: by reference, as for any child. */
    assert_contains(node_xml, "<file ref=\"#block");
    /* GetGraph: the unnamed child inside its parent, re-appliable. */
    if (!file)
        fail_msg("%s: %s", graph_xml, err->message);
    assert_int_equal(file->items->len, 1);
    child = blockdev_spec_find_child(((ConfigItem *)file->items->pdata[0])->blockdev, "file");
    assert_non_null(child);
    assert_int_equal(child->kind, CHILD_SPEC_INLINE);
    assert_string_equal(blockdev_spec_get(child->inline_spec, "driver"), "null-co");
    assert_null(blockdev_spec_get(child->inline_spec, "node-name"));
    remove_node("u1");
    assert_int_equal(graph_node_count(), 0);
}

/* GetXML text fed back to AddNode gives a node whose GetXML is the same text. */
static void test_getxml_recreates_nodes(void **state)
{
    BlockNode *f = add_node("<blockdev driver=\"null-co\" node-name=\"rc0\" size=\"2M\" "
                            "read-zeroes=\"on\"><cache no-flush=\"on\"/></blockdev>");
    BlockNode *r = add_node("<blockdev driver=\"raw\" node-name=\"rc1\" offset=\"4096\" "
                            "discard=\"unmap\"><file ref=\"rc0\"/></blockdev>");
    g_autofree char *f_xml = node_to_xml(f);
    g_autofree char *r_xml = node_to_xml(r);
    g_autofree char *f_again = NULL;
    g_autofree char *r_again = NULL;

    remove_node("rc1");
    remove_node("rc0");
    f_again = node_to_xml(add_node(f_xml));
    r_again = node_to_xml(add_node(r_xml));
    assert_string_equal(f_again, f_xml);
    assert_string_equal(r_again, r_xml);
    assert_contains(r_xml, "<file ref=\"rc0\"/>");
    assert_contains(f_xml, "no-flush=\"on\"");
    xmlRelaxNGPtr schema = load_schema();
    assert_true(schema_valid(schema, f_xml));
    assert_true(schema_valid(schema, r_xml));
    g_autofree char *graph = graph_to_xml();
    assert_true(schema_valid(schema, graph));
    xmlRelaxNGFree(schema);
    remove_node("rc1");
    remove_node("rc0");
}

/* A qcow2 image without a backing file: <backing/> says so, and re-adds. */
static void test_getxml_qcow2_no_backing(void **state)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    g_autofree char *dir = NULL;
    g_autofree char *img = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *file_xml = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *again = NULL;

    if (!qemu_img || !block_driver_find("qcow2"))
        skip();
    dir = g_dir_make_tmp("test-xml-write-XXXXXX", NULL);
    img = g_build_filename(dir, "a.qcow2", NULL);
    cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 1M", img);
    assert_int_equal(system(cmd), 0);

    file_xml = g_strdup_printf("<blockdev driver=\"file\" node-name=\"qf\" filename=\"%s\"/>", img);
    add_node(file_xml);
    xml = node_to_xml(add_node("<blockdev driver=\"qcow2\" node-name=\"q\"><file ref=\"qf\"/></blockdev>"));
    assert_contains(xml, "<backing/>");
    assert_contains(xml, "<file ref=\"qf\"/>");
    xmlRelaxNGPtr schema = load_schema();
    assert_true(schema_valid(schema, xml));
    xmlRelaxNGFree(schema);
    remove_node("q");
    again = node_to_xml(add_node(xml));
    assert_string_equal(again, xml);
    remove_node("q");
    remove_node("qf");
    g_unlink(img);
    g_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_to_xml_canonical),
        cmocka_unit_test(test_round_trip_null_co),
        cmocka_unit_test(test_round_trip_inline_child),
        cmocka_unit_test(test_graph_dot_and_xml),
        cmocka_unit_test(test_graph_xml_order),
        cmocka_unit_test(test_graph_xml_unnamed_child_inline),
        cmocka_unit_test(test_getxml_recreates_nodes),
        cmocka_unit_test(test_getxml_qcow2_no_backing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
