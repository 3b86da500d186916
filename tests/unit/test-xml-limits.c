/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xml/xml-scan.c: the limits of xml-util.h refuse oversized input with a
 * clear InvalidXml before libxml2 parses it; input at a limit still parses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "graph/error.h"
#include "xml/blockdev-parse.h"
#include "xml/config-file.h"
#include "xml/xml-util.h"

#include "test-xml-util.h"

/* <blockdev driver="null-co" a0="" a1="" ...> with n attributes in all. */
static char *element_with_attributes(unsigned n)
{
    GString *s = g_string_new("<blockdev driver=\"null-co\"");

    for (unsigned i = 1; i < n; i++)
        g_string_append_printf(s, " a%u=\"\"", i);
    g_string_append(s, "/>");
    return g_string_free(s, FALSE);
}

/* <blockdev driver="raw"> with n - 1 empty <backing/> children. */
static char *element_with_children(unsigned n, const char *child)
{
    GString *s = g_string_new("<blockdev driver=\"raw\">");

    for (unsigned i = 1; i < n; i++)
        g_string_append(s, child);
    g_string_append(s, "</blockdev>");
    return g_string_free(s, FALSE);
}

static char *nested(unsigned depth)
{
    GString *s = g_string_new("");

    for (unsigned i = 0; i < depth; i++)
        g_string_append(s, "<cache>");
    for (unsigned i = 0; i < depth; i++)
        g_string_append(s, "</cache>");
    return g_string_free(s, FALSE);
}

static GError *read_bad(const char *text)
{
    GError *err = NULL;
    g_autoptr(xmlDoc) doc = bg_xml_read(text, -1, "<bus>", &err);

    assert_null(doc);
    assert_non_null(err);
    return err;
}

static void read_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(xmlDoc) doc = bg_xml_read(text, -1, "<bus>", &err);

    if (!doc)
        fail_msg("refused: %s", err->message);
}

static void test_snippet_size(void **state)
{
    g_autofree char *big = g_strnfill(BG_XML_SNIPPET_MAX_BYTES - 30, ' ');
    g_autofree char *ok = g_strdup_printf("<blockdev driver=\"null-co\"/>%s", big);
    g_autofree char *over = g_strdup_printf("%s<!-- one byte too many -->", ok);
    g_autoptr(GError) err = NULL;

    assert_true(strlen(ok) <= BG_XML_SNIPPET_MAX_BYTES);
    read_ok(ok);
    err = read_bad(over);
    assert_error(err, BG_ERROR_INVALID_XML, "<bus>: XML text of");
    assert_contains(err->message, "larger than the limit of 65536 bytes");
}

static void test_attributes_per_element(void **state)
{
    g_autofree char *ok = element_with_attributes(BG_XML_MAX_ATTRIBUTES);
    g_autofree char *over = element_with_attributes(BG_XML_MAX_ATTRIBUTES + 1);
    g_autofree char *flood = element_with_attributes(50000);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) flood_err = NULL;
    g_autoptr(ConfigFile) file = NULL;
    g_autofree char *file_text = NULL;

    read_ok(ok);
    err = read_bad(over);
    assert_error(err, BG_ERROR_INVALID_XML, "<bus> line 1: element <blockdev> has more than 64");

    /* 50,000 attributes fit in a configuration file's size, not its limits. */
    file_text = g_strdup_printf("<blockgraph>\n%s\n</blockgraph>", flood);
    file = config_file_parse(file_text, -1, "big.xml", &flood_err);
    assert_null(file);
    assert_error(flood_err, BG_ERROR_INVALID_XML, "big.xml line 2: element <blockdev>");
}

static void test_elements_per_snippet(void **state)
{
    g_autofree char *ok = element_with_children(BG_XML_MAX_ELEMENTS, "<cache/>");
    g_autofree char *over = element_with_children(BG_XML_MAX_ELEMENTS + 1, "<cache/>");
    g_autofree char *flood = element_with_children(100000, "<backing/>");
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) flood_err = NULL;

    read_ok(ok);
    err = read_bad(over);
    assert_error(err, BG_ERROR_INVALID_XML, "more than 1024 elements in one snippet");
    flood_err = read_bad(flood);
    assert_error(flood_err, BG_ERROR_INVALID_XML, "<bus>: XML text of");
}

/* In a configuration file each top-level element is a snippet of its own. */
static void test_elements_per_config_item(void **state)
{
    g_autofree char *item = element_with_children(BG_XML_MAX_ELEMENTS, "<cache/>");
    g_autofree char *big = element_with_children(BG_XML_MAX_ELEMENTS + 1, "<cache/>");
    g_autofree char *two = g_strdup_printf("<blockgraph>%s%s</blockgraph>", item, item);
    g_autofree char *one = g_strdup_printf("<blockgraph>\n%s\n</blockgraph>", big);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err_big = NULL;
    g_autoptr(xmlDoc) doc = bg_xml_read_limited(two, -1, "c.xml", &bg_xml_file_limits, &err);
    g_autoptr(xmlDoc) doc_big = NULL;

    if (!doc)
        fail_msg("refused: %s", err->message);
    doc_big = bg_xml_read_limited(one, -1, "c.xml", &bg_xml_file_limits, &err_big);
    assert_null(doc_big);
    assert_error(err_big, BG_ERROR_INVALID_XML, "c.xml line 2: more than 1024 elements");
}

static void test_nesting_depth(void **state)
{
    g_autofree char *ok = nested(BG_XML_MAX_DEPTH);
    g_autofree char *over = nested(BG_XML_MAX_DEPTH + 1);
    g_autofree char *deep = nested(300);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) deep_err = NULL;

    read_ok(ok);
    err = read_bad(over);
    assert_error(err, BG_ERROR_INVALID_XML, "<cache> is nested more than 32 elements deep");
    deep_err = read_bad(deep);
    assert_error(deep_err, BG_ERROR_INVALID_XML, "nested more than 32");
}

static void test_name_and_value_lengths(void **state)
{
    g_autofree char *name = g_strnfill(BG_XML_NAME_MAX + 1, 'n');
    g_autofree char *value = g_strnfill(BG_XML_VALUE_MAX + 1, 'v');
    g_autofree char *long_elem = g_strdup_printf("<%s/>", name);
    g_autofree char *long_attr = g_strdup_printf("<blockdev\n%s=\"x\"/>", name);
    g_autofree char *long_value = g_strdup_printf("<blockdev\n\nnode-name='%s'/>", value);
    g_autofree char *max_value = g_strdup_printf("<blockdev filename='%.*s'/>",
                                                 BG_XML_VALUE_MAX, value);
    g_autoptr(GError) e1 = read_bad(long_elem);
    g_autoptr(GError) e2 = read_bad(long_attr);
    g_autoptr(GError) e3 = read_bad(long_value);

    assert_error(e1, BG_ERROR_INVALID_XML, "element name longer than 64 characters");
    assert_error(e2, BG_ERROR_INVALID_XML, "line 2: attribute name of <blockdev> longer than 64");
    assert_error(e3, BG_ERROR_INVALID_XML,
                 "line 3: value of attribute 'node-name' of <blockdev> longer than 4096 bytes");
    read_ok(max_value);
}

/* Markup the scan skips (comments, CDATA, PIs, '>' in values) is not counted. */
static void test_scan_lexical_shapes(void **state)
{
    read_ok("<?xml version=\"1.0\"?>\n<!-- <a b='1' c='2'> -->\n"
            "<blockdev driver=\"raw\" filename=\"/a>b\" x='\"'><![CDATA[ <x> ]]></blockdev>");
}

/* Malformed text still gets libxml2's message for the spot. */
static void test_malformed_after_scan_stop(void **state)
{
    g_autofree char *tail = element_with_attributes(5000);
    g_autofree char *text = g_strdup_printf("<blockdev driver=raw>%s</blockdev>", tail);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) doctype = read_bad("<!DOCTYPE blockdev [<!ENTITY e \"raw\">]>\n"
                                         "<blockdev driver=\"&e;\"/>");

    assert_error(doctype, BG_ERROR_INVALID_XML, "<bus> line 1: document type declarations");
    err = read_bad(text);
    assert_error(err, BG_ERROR_INVALID_XML, "<bus> line 1, column");
    assert_contains(err->message, "malformed XML");
}

/*
 * libxml2 reports encoding conversion errors without a parser context: they
 * went to stderr (the journal), not to the caller.  They are the caller's
 * error now.  A bus snippet is UTF-8 whatever its declaration says (D-Bus
 * strings are UTF-8), so a declared encoding cannot reinterpret its bytes.
 */
static void test_encoding_errors_reach_the_caller(void **state)
{
    static const char ucs4_decl[] = "<?xml version=\"1.0\" encoding=\"ISO-10646-UCS-4\"?>"
                                    "<blockdev driver=\"null-co\"/>";
    static const char utf16_in_file[] = "\xfe\xff\x00<\x00b\xd8\x00\x00\x00";
    g_autoptr(GError) err = NULL;
    g_autoptr(xmlDoc) file_doc = NULL;
    int saved = dup(STDERR_FILENO);
    FILE *captured = tmpfile();
    char out[256] = "";

    assert_non_null(captured);
    dup2(fileno(captured), STDERR_FILENO);
    read_ok(ucs4_decl);
    file_doc = bg_xml_read_limited(utf16_in_file, sizeof(utf16_in_file) - 1, "c.xml",
                                   &bg_xml_file_limits, &err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(captured);
    size_t n = fread(out, 1, sizeof(out) - 1, captured);
    fclose(captured);
    out[n] = 0;
    assert_string_equal(out, "");
    assert_null(file_doc);
    assert_error(err, BG_ERROR_INVALID_XML, "c.xml line 1");
    assert_contains(err->message, "malformed XML");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snippet_size),
        cmocka_unit_test(test_attributes_per_element),
        cmocka_unit_test(test_elements_per_snippet),
        cmocka_unit_test(test_elements_per_config_item),
        cmocka_unit_test(test_nesting_depth),
        cmocka_unit_test(test_name_and_value_lengths),
        cmocka_unit_test(test_scan_lexical_shapes),
        cmocka_unit_test(test_malformed_after_scan_stop),
        cmocka_unit_test(test_encoding_errors_reach_the_caller),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
