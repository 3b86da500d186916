/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "graph/error.h"
#include "graph/node.h"
#include "graph/option.h"

typedef enum Colour { COLOUR_RED, COLOUR_GREEN } Colour;
static const char *const colours[] = { [COLOUR_RED] = "red", [COLOUR_GREEN] = "green", NULL };
static const OptionSpec test_options[] = {
    { .name = "name", .type = OPTION_STRING, .required = true, .description = "a required string" },
    { .name = "flag", .type = OPTION_BOOL, .default_value = "off", .mutable_on_reopen = true,
      .description = "a bool" },
    { .name = "count", .type = OPTION_UINT, .default_value = "7", .description = "a number" },
    { .name = "size", .type = OPTION_SIZE, .default_value = "1M", .description = "a size" },
    { .name = "colour", .type = OPTION_ENUM, .default_value = "red", .enum_values = colours,
      .description = "an enum" },
    { .name = "group.inner", .type = OPTION_BOOL, .description = "nested, no default" },
    { .name = "limited", .type = OPTION_SIZE, .max_value = 1024, .description = "a size up to 1k" },
    OPTION_TABLE_END
};
static const OptionSpec *const tables[] = { test_options, NULL };

static GHashTable *raw_new(const char *first, ...)
{
    GHashTable *raw = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    va_list ap;

    va_start(ap, first);
    for (const char *k = first; k; k = va_arg(ap, const char *))
        g_hash_table_insert(raw, g_strdup(k), g_strdup(va_arg(ap, const char *)));
    va_end(ap);
    return raw;
}

static void test_defaults_filled_in_table_order(void **state)
{
    g_autoptr(GHashTable) raw = raw_new("name", "x", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(OptionSet) set = option_set_parse(tables, raw, "node 'n'", &err);

    assert_non_null(set);
    assert_string_equal(option_set_get_string(set, "name"), "x");
    assert_false(option_set_get_bool(set, "flag"));
    assert_int_equal(option_set_get_uint(set, "count"), 7);
    assert_int_equal(option_set_get_uint(set, "size"), 1024 * 1024);
    assert_string_equal(option_set_get_string(set, "colour"), "red");
    assert_false(option_set_is_set(set, "group.inner"));
    assert_true(option_set_lookup(set, "size")->is_default);
    assert_int_equal(option_set_count(set), 7);
    assert_string_equal(option_set_nth(set, 3)->spec->name, "size");
    assert_string_equal(option_set_nth(set, 3)->text, "1048576");
}

/* The one enum decoder: the value's position in enum_values, default or given. */
static void test_enum_decodes_to_index(void **state)
{
    g_autoptr(GHashTable) raw = raw_new("name", "x", NULL);
    g_autoptr(GHashTable) green = raw_new("name", "x", "colour", "green", NULL);
    g_autoptr(OptionSet) a = option_set_parse(tables, raw, "node 'n'", NULL);
    g_autoptr(OptionSet) b = option_set_parse(tables, green, "node 'n'", NULL);

    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(option_set_get_enum(a, "colour"), COLOUR_RED);
    assert_int_equal(option_set_get_enum(b, "colour"), COLOUR_GREEN);
    assert_string_equal(option_set_get_string(b, "colour"), "green");
}

static void test_booleans_all_spellings(void **state)
{
    const char *on[] = { "on", "true", "yes" }, *off[] = { "off", "false", "no" };

    for (int i = 0; i < 3; i++) {
        bool v;
        assert_true(option_parse_bool(on[i], &v));
        assert_true(v);
        assert_true(option_parse_bool(off[i], &v));
        assert_false(v);
    }
    bool v;
    assert_false(option_parse_bool("1", &v));
    assert_false(option_parse_bool("On ", &v));
}

static void test_size_suffixes(void **state)
{
    uint64_t v;

    assert_true(option_parse_size("512", &v));
    assert_int_equal(v, 512);
    assert_true(option_parse_size("64k", &v));
    assert_int_equal(v, 65536);
    assert_true(option_parse_size("2G", &v));
    assert_int_equal(v, 2ull << 30);
    assert_true(option_parse_size("1T", &v));
    assert_int_equal(v, 1ull << 40);
    assert_true(option_parse_size("3MiB", &v));
    assert_int_equal(v, 3ull << 20);
    /* A leading zero is decimal, not octal; 0x is hex. */
    assert_true(option_parse_size("010M", &v));
    assert_int_equal(v, 10ull << 20);
    assert_true(option_parse_size("0x1000", &v));
    assert_int_equal(v, 4096);
    assert_false(option_parse_size("0x", &v));
    assert_false(option_parse_size("", &v));
    assert_false(option_parse_size("-1", &v));
    assert_false(option_parse_size("12Q", &v));
    assert_false(option_parse_size("99999999999E", &v));
    assert_false(option_parse_size("18446744073709551616", &v));
}

static void expect_error(GHashTable *raw, const char *fragment)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OptionSet) set = option_set_parse(tables, raw, "node 'n'", &err);

    assert_null(set);
    assert_non_null(err);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    if (!strstr(err->message, fragment))
        fail_msg("'%s' does not contain '%s'", err->message, fragment);
}

static void test_errors_name_the_option(void **state)
{
    g_autoptr(GHashTable) unknown = raw_new("name", "x", "bogus", "1", NULL);
    g_autoptr(GHashTable) missing = raw_new("flag", "on", NULL);
    g_autoptr(GHashTable) badbool = raw_new("name", "x", "flag", "maybe", NULL);
    g_autoptr(GHashTable) badenum = raw_new("name", "x", "colour", "blue", NULL);
    g_autoptr(GHashTable) baduint = raw_new("name", "x", "count", "12abc", NULL);

    expect_error(unknown, "Unknown option 'bogus' for node 'n'");
    expect_error(missing, "Missing required option 'name'");
    expect_error(badbool, "Invalid value 'maybe' for option 'flag'");
    expect_error(badenum, "enum(red|green)");
    expect_error(baduint, "option 'count'");
}

static void test_upper_limit(void **state)
{
    g_autoptr(GHashTable) at_limit = raw_new("name", "x", "limited", "1k", NULL);
    g_autoptr(GHashTable) over = raw_new("name", "x", "limited", "1025", NULL);
    g_autoptr(GHashTable) huge = raw_new("name", "x", "limited", "18446744073709551615", NULL);
    g_autoptr(OptionSet) set = option_set_parse(tables, at_limit, "node 'n'", NULL);

    assert_non_null(set);
    assert_int_equal(option_set_get_uint(set, "limited"), 1024);
    expect_error(over, "Invalid value '1025' for option 'limited': expected at most 1024");
    expect_error(huge, "option 'limited'");
}

static void test_canonical_text(void **state)
{
    g_autoptr(GHashTable) raw = raw_new("name", "x", "flag", "yes", "count", "0x10",
                                        "group.inner", "false", NULL);
    g_autoptr(OptionSet) set = option_set_parse(tables, raw, "node 'n'", NULL);

    assert_non_null(set);
    assert_string_equal(option_set_lookup(set, "flag")->text, "on");
    assert_string_equal(option_set_lookup(set, "count")->text, "16");
    assert_string_equal(option_set_lookup(set, "group.inner")->text, "off");
    assert_false(option_set_lookup(set, "flag")->is_default);
}

static void test_node_name_rules(void **state)
{
    assert_true(node_name_is_valid("disk0"));
    assert_true(node_name_is_valid("a-b.c_d"));
    assert_true(node_name_is_valid("abcdefghijklmnopqrstuvwxyz01234"));   /* 31 */
    assert_false(node_name_is_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
    assert_false(node_name_is_valid(""));
    assert_false(node_name_is_valid("0disk"));
    assert_false(node_name_is_valid("#block001"));
    assert_false(node_name_is_valid("disk 0"));
    assert_false(node_name_is_valid("disk/0"));
    assert_false(node_name_is_valid("-disk"));
}

static void test_common_options_table(void **state)
{
    const OptionSpec *const common[] = { node_common_options, NULL };

    assert_non_null(option_tables_find(common, "cache.no-flush"));
    assert_true(option_tables_find(common, "driver")->required);
    assert_string_equal(option_tables_find(common, "discard")->default_value, "ignore");
    assert_null(option_tables_find(common, "filename"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_filled_in_table_order),
        cmocka_unit_test(test_enum_decodes_to_index),
        cmocka_unit_test(test_booleans_all_spellings),
        cmocka_unit_test(test_size_suffixes),
        cmocka_unit_test(test_errors_name_the_option),
        cmocka_unit_test(test_upper_limit),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_node_name_rules),
        cmocka_unit_test(test_common_options_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
