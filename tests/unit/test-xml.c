/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml/: <blockdev> and <export> snippets, configuration files, the config
 * folder listing, node_to_xml / graph_to_xml / graph_to_dot round trips and
 * the RelaxNG schema against fixtures and example configurations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <glib/gstdio.h>
#include <libxml/relaxng.h>

#include "graph/error.h"
#include "graph/node.h"
#include "xml/blockdev-parse.h"
#include "xml/config-file.h"
#include "xml/export-parse.h"
#include "xml/xml-util.h"

#ifndef BG_SOURCE_ROOT
#error "BG_SOURCE_ROOT must name the source tree (tests/unit/meson.build)"
#endif

static char *fixture_path(const char *name)
{
    return g_build_filename(BG_SOURCE_ROOT, "tests", "unit", "data-xml", name, NULL);
}

#include "test-xml-util.h"

static GError *parse_bad(const char *text)
{
    GError *err = NULL;
    g_autoptr(BlockdevSpec) spec = blockdev_parse_xml(text, -1, NULL, &err);

    assert_null(spec);
    assert_non_null(err);
    return err;
}

/* ---- <blockdev> snippets ---------------------------------------------- */

static void test_parse_design_example(void **state)
{
    g_autoptr(BlockdevSpec) spec = parse_ok(
        "<blockdev driver=\"qcow2\" node-name=\"disk0\" discard=\"unmap\">\n"
        "  <file driver=\"file\" node-name=\"disk0-file\" filename=\"/var/lib/vm/disk0.qcow2\" aio=\"threads\"/>\n"
        "  <backing ref=\"base0\"/>\n"
        "  <cache direct=\"off\" no-flush=\"off\"/>\n"
        "</blockdev>\n");
    const ChildSpec *file, *backing;

    assert_string_equal(blockdev_spec_get(spec, "driver"), "qcow2");
    assert_string_equal(blockdev_spec_get(spec, "node-name"), "disk0");
    assert_string_equal(blockdev_spec_get(spec, "discard"), "unmap");
    assert_string_equal(blockdev_spec_get(spec, "cache.direct"), "off");
    assert_string_equal(blockdev_spec_get(spec, "cache.no-flush"), "off");
    assert_int_equal(g_hash_table_size(spec->options), 5);
    assert_string_equal(spec->source, "<test>");
    assert_int_equal(spec->line, 1);

    assert_int_equal(spec->children->len, 2);
    file = blockdev_spec_find_child(spec, "file");
    assert_non_null(file);
    assert_int_equal(file->kind, CHILD_SPEC_INLINE);
    assert_int_equal(file->line, 2);
    assert_string_equal(blockdev_spec_get(file->inline_spec, "filename"), "/var/lib/vm/disk0.qcow2");
    assert_string_equal(blockdev_spec_get(file->inline_spec, "aio"), "threads");
    assert_int_equal(file->inline_spec->line, 2);
    assert_int_equal(file->inline_spec->children->len, 0);

    backing = blockdev_spec_find_child(spec, "backing");
    assert_non_null(backing);
    assert_int_equal(backing->kind, CHILD_SPEC_REF);
    assert_string_equal(backing->ref, "base0");
    assert_int_equal(backing->line, 3);
    assert_null(backing->inline_spec);
}

static void test_parse_inline_two_deep(void **state)
{
    g_autoptr(BlockdevSpec) spec = parse_ok(
        "<blockdev driver=\"raw\" node-name=\"top\">\n"
        "  <file driver=\"raw\" node-name=\"mid\">\n"
        "    <file driver=\"null-co\" node-name=\"bottom\" size=\"1M\">\n"
        "      <cache direct=\"on\"/>\n"
        "    </file>\n"
        "  </file>\n"
        "</blockdev>");
    const ChildSpec *mid = blockdev_spec_find_child(spec, "file");
    const ChildSpec *bottom;

    assert_non_null(mid);
    assert_int_equal(mid->kind, CHILD_SPEC_INLINE);
    assert_string_equal(blockdev_spec_get(mid->inline_spec, "node-name"), "mid");
    bottom = blockdev_spec_find_child(mid->inline_spec, "file");
    assert_non_null(bottom);
    assert_int_equal(bottom->kind, CHILD_SPEC_INLINE);
    assert_int_equal(bottom->line, 3);
    assert_string_equal(blockdev_spec_get(bottom->inline_spec, "size"), "1M");
    assert_string_equal(blockdev_spec_get(bottom->inline_spec, "cache.direct"), "on");
    assert_string_equal(bottom->inline_spec->source, "<test>");
    /* Group options stay with the node that holds the group element. */
    assert_null(blockdev_spec_get(spec, "cache.direct"));
    assert_null(blockdev_spec_get(mid->inline_spec, "cache.direct"));
}

static void test_parse_empty_backing(void **state)
{
    g_autoptr(BlockdevSpec) spec = parse_ok(
        "<blockdev driver=\"qcow2\" node-name=\"d\"><file ref=\"f\"/><backing/></blockdev>");
    const ChildSpec *backing = blockdev_spec_find_child(spec, "backing");

    assert_non_null(backing);
    assert_int_equal(backing->kind, CHILD_SPEC_NONE);
    assert_null(backing->ref);
    assert_null(backing->inline_spec);
    assert_int_equal(blockdev_spec_find_child(spec, "file")->kind, CHILD_SPEC_REF);
}

static void test_parse_empty_group_and_comments(void **state)
{
    g_autoptr(BlockdevSpec) spec = parse_ok(
        "<?xml version=\"1.0\"?>\n<!-- a node -->\n"
        "<blockdev driver=\"null-co\" node-name=\"n\">\n  <!-- none -->\n  <cache/>\n</blockdev>");

    assert_int_equal(spec->children->len, 0);
    assert_int_equal(g_hash_table_size(spec->options), 2);
    assert_int_equal(spec->line, 3);
}

static void test_option_groups_from_tables(void **state)
{
    g_autoptr(GHashTable) groups = blockdev_option_groups();

    assert_true(g_hash_table_contains(groups, "cache"));
    assert_false(g_hash_table_contains(groups, "cache.direct"));
    assert_false(g_hash_table_contains(groups, "node-name"));
}

static void test_parse_malformed(void **state)
{
    g_autoptr(GError) err = parse_bad("<blockdev driver=\"raw\">\n  <file ref=\"a\">\n</blockdev>\n");

    assert_error(err, BG_ERROR_INVALID_XML, "line 3");
    assert_contains(err->message, "malformed XML");
}

static void test_parse_malformed_names_source_and_column(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(BlockdevSpec) spec =
        blockdev_parse_xml("<blockdev\n driver=raw/>", -1, "/etc/x.xml", &err);

    assert_null(spec);
    assert_error(err, BG_ERROR_INVALID_XML, "/etc/x.xml line 2, column");
}

static void test_parse_empty_text(void **state)
{
    g_autoptr(GError) err = parse_bad("");

    assert_error(err, BG_ERROR_INVALID_XML, "line 1");
}

static void test_parse_unknown_element(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\">\n  <cahce direct=\"on\"/>\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 2");
    assert_contains(err->message, "<cahce>");
    assert_contains(err->message, "cache");
}

static void test_parse_unknown_element_in_group(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\">\n<cache>\n<file ref=\"x\"/></cache></blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 3");
    assert_contains(err->message, "<file>");
}

static void test_parse_ref_plus_attributes(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\">\n\n  <file ref=\"base\" filename=\"/x\"/>\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 3");
    assert_contains(err->message, "<file ref=");
    assert_contains(err->message, "filename");
}

static void test_parse_ref_plus_element(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\"><file ref=\"base\"><cache direct=\"on\"/></file></blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 1");
}

static void test_parse_wrong_root(void **state)
{
    g_autoptr(GError) err = parse_bad("\n<disk type=\"file\"/>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 2");
    assert_contains(err->message, "<disk>");
}

static void test_parse_rejects_doctype(void **state)
{
    g_autoptr(GError) internal = parse_bad(
        "<!DOCTYPE blockdev [<!ENTITY e \"raw\">]>\n<blockdev driver=\"&e;\"/>");
    g_autoptr(GError) external = parse_bad(
        "<!DOCTYPE blockdev [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n"
        "<blockdev driver=\"raw\" filename=\"&e;\"/>");

    assert_error(internal, BG_ERROR_INVALID_XML, "DOCTYPE");
    /* Never fetched: refused before libxml2 reads the declaration. */
    assert_error(external, BG_ERROR_INVALID_XML, "DOCTYPE");
    assert_null(strstr(external->message, "root:"));
}

static void test_parse_rejects_text(void **state)
{
    g_autoptr(GError) err = parse_bad("<blockdev driver=\"raw\">\n  hello\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "must not contain text");
}

static void test_parse_duplicate_child(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\">\n<file ref=\"a\"/>\n<file ref=\"b\"/>\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 3");
    assert_contains(err->message, "line 2");
}

static void test_parse_duplicate_option(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\" cache.direct=\"on\">\n<cache direct=\"off\"/>\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_ARGUMENT, "'cache.direct'");
}

static void test_parse_child_without_driver(void **state)
{
    g_autoptr(GError) err = parse_bad(
        "<blockdev driver=\"raw\">\n<file filename=\"/x\"/>\n</blockdev>");

    assert_error(err, BG_ERROR_INVALID_XML, "line 2");
    assert_contains(err->message, "driver=");
}

static void test_parse_ref_on_root(void **state)
{
    g_autoptr(GError) err = parse_bad("<blockdev ref=\"x\"/>");

    assert_error(err, BG_ERROR_INVALID_XML, "ref=");
}

/* ---- <export> --------------------------------------------------------- */

static void test_export_unix(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ExportSpec) spec = export_parse_xml(
        "<export type=\"nbd\" id=\"e0\" node-name=\"disk0\" name=\"vm-disk\" writable=\"on\">\n"
        "  <server type=\"unix\" path=\"/run/blockgraph/nbd.sock\"/>\n</export>",
        -1, "<bus>", &err);
    g_autofree char *addr = NULL;

    assert_non_null(spec);
    assert_string_equal(spec->type, "nbd");
    assert_string_equal(spec->id, "e0");
    assert_string_equal(spec->node_name, "disk0");
    assert_string_equal(spec->name, "vm-disk");
    assert_null(spec->description);
    assert_true(spec->writable);
    assert_int_equal(spec->server.type, EXPORT_SERVER_UNIX);
    assert_string_equal(spec->server.path, "/run/blockgraph/nbd.sock");
    assert_int_equal(spec->line, 1);
    addr = export_server_describe(&spec->server);
    assert_string_equal(addr, "unix:/run/blockgraph/nbd.sock");
}

static void test_export_inet_defaults(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ExportSpec) spec = export_parse_xml(
        "<export type=\"nbd\" id=\"e1\" node-name=\"disk0\" description=\"d\">"
        "<server type=\"inet\" host=\"::1\"/></export>", -1, NULL, &err);
    g_autofree char *addr = NULL;

    assert_non_null(spec);
    assert_string_equal(spec->name, "disk0");
    assert_string_equal(spec->description, "d");
    assert_false(spec->writable);
    assert_int_equal(spec->server.type, EXPORT_SERVER_INET);
    assert_string_equal(spec->server.host, "::1");
    assert_int_equal(spec->server.port, 10809);
    assert_int_equal(spec->limits.max_connections, 0);      /* the export's defaults */
    assert_int_equal(spec->limits.max_in_flight_bytes, 0);
    addr = export_server_describe(&spec->server);
    assert_string_equal(addr, "inet:[::1]:10809");
}

static void test_export_limits(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ExportSpec) spec = export_parse_xml(
        "<export type=\"nbd\" id=\"e1\" node-name=\"disk0\" max-connections=\"3\" "
        "max-in-flight-bytes=\"16M\"><server type=\"unix\" path=\"/s\"/></export>",
        -1, NULL, &err);

    assert_non_null(spec);
    assert_int_equal(spec->limits.max_connections, 3);
    assert_int_equal(spec->limits.max_in_flight_bytes, 16 << 20);
}

static void assert_export_error(const char *text, int code, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ExportSpec) spec = export_parse_xml(text, -1, NULL, &err);

    assert_null(spec);
    assert_error(err, code, needle);
}

static void test_export_errors(void **state)
{
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\" max-connections=\"-1\">"
                        "<server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "max-connections '-1'");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\" max-in-flight-bytes=\"lots\">"
                        "<server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "max-in-flight-bytes 'lots'");
    assert_export_error("<export type=\"nbd\" id=\"e0\">\n<server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'node-name'");
    assert_export_error("<export type=\"nbd\" node-name=\"d\"><server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'id'");
    assert_export_error("<export type=\"iscsi\" id=\"e\" node-name=\"d\"/>",
                        BG_ERROR_INVALID_ARGUMENT, "'iscsi'");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\"/>",
                        BG_ERROR_INVALID_ARGUMENT, "<server>");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\" writable=\"maybe\">"
                        "<server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'maybe'");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\" bitmap=\"b\">"
                        "<server type=\"unix\" path=\"/s\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'bitmap'");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\">\n\n"
                        "<server type=\"inet\" host=\"h\" port=\"99999\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "line 3");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\">"
                        "<server type=\"unix\" host=\"h\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'host'");
    assert_export_error("<export type=\"nbd\" id=\"e\" node-name=\"d\">"
                        "<server type=\"vsock\"/></export>",
                        BG_ERROR_INVALID_ARGUMENT, "'vsock'");
    assert_export_error("<blockdev driver=\"raw\"/>", BG_ERROR_INVALID_XML, "<export>");
}

/* ---- configuration files ---------------------------------------------- */

static void test_config_fixture(void **state)
{
    g_autofree char *path = fixture_path("good-config.xml");
    g_autoptr(GError) err = NULL;
    g_autoptr(ConfigFile) file = config_file_load(path, &err);
    const ConfigItem *item;

    if (!file)
        fail_msg("%s", err->message);
    assert_string_equal(file->path, path);
    assert_int_equal(file->items->len, 5);
    item = g_ptr_array_index(file->items, 0);
    assert_int_equal(item->kind, CONFIG_ITEM_BLOCKDEV);
    assert_string_equal(item->source, path);
    assert_int_equal(item->line, 4);
    assert_string_equal(blockdev_spec_get(item->blockdev, "node-name"), "base0");
    assert_string_equal(item->blockdev->source, path);
    item = g_ptr_array_index(file->items, 1);
    assert_int_equal(item->line, 5);
    assert_non_null(blockdev_spec_find_child(item->blockdev, "file"));
    item = g_ptr_array_index(file->items, 2);
    assert_int_equal(blockdev_spec_find_child(item->blockdev, "backing")->kind, CHILD_SPEC_NONE);
    item = g_ptr_array_index(file->items, 3);
    assert_int_equal(item->kind, CONFIG_ITEM_EXPORT);
    assert_int_equal(item->line, 15);
    assert_string_equal(item->export->id, "e0");
    item = g_ptr_array_index(file->items, 4);
    assert_string_equal(item->export->server.host, "127.0.0.1");
}

static void test_config_error_names_file_and_line(void **state)
{
    g_autofree char *path = fixture_path("bad-line.xml");
    g_autoptr(GError) err = NULL;
    g_autoptr(ConfigFile) file = config_file_load(path, &err);
    g_autofree char *where = g_strdup_printf("%s line 4", path);

    assert_null(file);
    assert_error(err, BG_ERROR_INVALID_XML, where);
}

static void test_config_errors(void **state)
{
    static const struct { const char *text; int code; const char *needle; } cases[] = {
        { "<blockdev driver=\"raw\"/>", BG_ERROR_INVALID_XML, "<blockgraph>" },
        { "<blockgraph>\n<job type=\"stream\"/></blockgraph>", BG_ERROR_INVALID_XML, "c.xml line 2" },
        { "<blockgraph version=\"1\"/>", BG_ERROR_INVALID_XML, "version" },
        { "<blockgraph>\n\n<export type=\"nbd\" id=\"e\"/></blockgraph>",
          BG_ERROR_INVALID_ARGUMENT, "c.xml line 3" },
        { "<blockgraph><blockdev", BG_ERROR_INVALID_XML, "c.xml line 1" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(ConfigFile) file = config_file_parse(cases[i].text, -1, "c.xml", &err);

        assert_null(file);
        assert_error(err, cases[i].code, cases[i].needle);
    }
}

static void test_config_empty_and_missing(void **state)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ConfigFile) file = config_file_parse("<blockgraph/>", -1, "e.xml", &err);
    g_autoptr(ConfigFile) missing = NULL;

    assert_non_null(file);
    assert_int_equal(file->items->len, 0);
    missing = config_file_load("/nonexistent/blockgraph.xml", &err);
    assert_null(missing);
    assert_error(err, BG_ERROR_NOT_FOUND, "/nonexistent/blockgraph.xml");
}

static void touch(const char *dir, const char *name)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);

    assert_true(g_file_set_contents(path, "<blockgraph/>", -1, NULL));
}

static void test_config_dir_list(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("test-xml-XXXXXX", NULL);
    g_autofree char *sub = g_build_filename(dir, "sub.xml", NULL);
    g_autofree char *file = g_build_filename(dir, "20-b.xml", NULL);
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) list = NULL;
    g_auto(GStrv) empty = NULL;

    assert_non_null(dir);
    empty = config_dir_list(dir, &err);
    assert_non_null(empty);
    assert_null(empty[0]);
    touch(dir, "20-b.xml");
    touch(dir, "10-a.xml");
    touch(dir, "notes.txt");
    touch(dir, ".hidden.xml");
    assert_int_equal(g_mkdir(sub, 0700), 0);

    list = config_dir_list(dir, &err);
    assert_non_null(list);
    assert_int_equal(g_strv_length(list), 2);
    assert_true(g_str_has_suffix(list[0], "/10-a.xml"));
    assert_true(g_str_has_suffix(list[1], "/20-b.xml"));
    assert_true(g_str_has_prefix(list[0], dir));

    assert_null(config_dir_list(file, &err));
    assert_error(err, BG_ERROR_INVALID_ARGUMENT, "not a directory");
    g_clear_error(&err);
    g_autofree char *gone = g_build_filename(dir, "gone", NULL);
    assert_null(config_dir_list(gone, &err));
    assert_non_null(err);
    assert_contains(err->message, gone);

    for (char **p = list; *p; p++)
        g_unlink(*p);
    g_autofree char *a = g_build_filename(dir, "notes.txt", NULL);
    g_autofree char *h = g_build_filename(dir, ".hidden.xml", NULL);
    g_unlink(a);
    g_unlink(h);
    g_rmdir(sub);
    g_rmdir(dir);
}

/* ---- RelaxNG schema --------------------------------------------------- */

static bool schema_valid_file(xmlRelaxNGPtr schema, const char *path)
{
    g_autofree char *text = NULL;

    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return schema_valid(schema, text);
}

/* Example configurations shipped in data/ (files with a <blockgraph> root). */
static void validate_examples(xmlRelaxNGPtr schema, const char *dir)
{
    g_auto(GStrv) files = config_dir_list(dir, NULL);

    for (char **p = files; p && *p; p++) {
        g_autofree char *text = NULL;

        if (!g_file_get_contents(*p, &text, NULL, NULL) || !strstr(text, "<blockgraph"))
            continue;
        if (!schema_valid(schema, text))
            fail_msg("%s does not validate against data/blockgraph.rng", *p);
        g_autoptr(GError) err = NULL;
        g_autoptr(ConfigFile) file = config_file_parse(text, -1, *p, &err);
        if (!file)
            fail_msg("%s", err->message);
    }
}

static void test_schema(void **state)
{
    xmlRelaxNGPtr schema = load_schema();
    g_autofree char *good = fixture_path("good-config.xml");
    g_autofree char *bad = fixture_path("bad-line.xml");
    g_autofree char *data = g_build_filename(BG_SOURCE_ROOT, "data", NULL);
    g_autofree char *examples = g_build_filename(BG_SOURCE_ROOT, "data", "examples", NULL);

    assert_true(schema_valid_file(schema, good));
    assert_false(schema_valid_file(schema, bad));
    assert_true(schema_valid(schema,
        "<blockdev driver=\"qcow2\" node-name=\"d\"><file driver=\"file\" filename=\"/x\"/>"
        "<backing/><cache direct=\"on\"/></blockdev>"));
    assert_true(schema_valid(schema,
        "<export type=\"nbd\" id=\"e\" node-name=\"d\"><server type=\"inet\" host=\"h\"/></export>"));
    assert_true(schema_valid(schema,
        "<export type=\"nbd\" id=\"e\" node-name=\"d\"><tls dir=\"/pki\" verify-peer=\"off\"/>"
        "<server type=\"unix\" path=\"/s\"/></export>"));
    assert_false(schema_valid(schema,
        "<export type=\"nbd\" id=\"e\" node-name=\"d\"><server type=\"unix\" path=\"/s\"/>"
        "<tls dir=\"relative\"/></export>"));
    assert_false(schema_valid(schema, "<blockdev node-name=\"nodriver\"/>"));
    assert_false(schema_valid(schema, "<blockdev driver=\"raw\" read-only=\"maybe\"/>"));
    assert_false(schema_valid(schema,
        "<export type=\"nbd\" id=\"e\" node-name=\"d\"><server type=\"unix\"/></export>"));
    validate_examples(schema, data);
    if (g_file_test(examples, G_FILE_TEST_IS_DIR))
        validate_examples(schema, examples);
    xmlRelaxNGFree(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_design_example),
        cmocka_unit_test(test_parse_inline_two_deep),
        cmocka_unit_test(test_parse_empty_backing),
        cmocka_unit_test(test_parse_empty_group_and_comments),
        cmocka_unit_test(test_option_groups_from_tables),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_malformed_names_source_and_column),
        cmocka_unit_test(test_parse_empty_text),
        cmocka_unit_test(test_parse_unknown_element),
        cmocka_unit_test(test_parse_unknown_element_in_group),
        cmocka_unit_test(test_parse_ref_plus_attributes),
        cmocka_unit_test(test_parse_ref_plus_element),
        cmocka_unit_test(test_parse_wrong_root),
        cmocka_unit_test(test_parse_rejects_doctype),
        cmocka_unit_test(test_parse_rejects_text),
        cmocka_unit_test(test_parse_duplicate_child),
        cmocka_unit_test(test_parse_duplicate_option),
        cmocka_unit_test(test_parse_child_without_driver),
        cmocka_unit_test(test_parse_ref_on_root),
        cmocka_unit_test(test_export_unix),
        cmocka_unit_test(test_export_inet_defaults),
        cmocka_unit_test(test_export_limits),
        cmocka_unit_test(test_export_errors),
        cmocka_unit_test(test_config_fixture),
        cmocka_unit_test(test_config_error_names_file_and_line),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_empty_and_missing),
        cmocka_unit_test(test_config_dir_list),
        cmocka_unit_test(test_schema),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
