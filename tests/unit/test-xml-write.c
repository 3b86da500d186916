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
#include <string.h>
#include <cmocka.h>

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

static void test_graph_xml_order(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autoptr(ConfigFile) file = NULL;
    const char *first, *second;

    add_node("<blockdev driver=\"raw\" node-name=\"o1\">"
             "<file driver=\"null-co\" node-name=\"o0\" size=\"1M\"/></blockdev>");
    xml = graph_to_xml();
    file = config_file_parse(xml, -1, "<graph>", &err);
    assert_non_null(file);
    assert_int_equal(file->items->len, 2);
    first = blockdev_spec_get(((ConfigItem *)file->items->pdata[0])->blockdev, "node-name");
    second = blockdev_spec_get(((ConfigItem *)file->items->pdata[1])->blockdev, "node-name");
    /* A child comes before the node that refers to it. */
    assert_string_equal(first, "o0");
    assert_string_equal(second, "o1");
    remove_node("o1");
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_to_xml_canonical),
        cmocka_unit_test(test_round_trip_null_co),
        cmocka_unit_test(test_round_trip_inline_child),
        cmocka_unit_test(test_graph_dot_and_xml),
        cmocka_unit_test(test_graph_xml_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
