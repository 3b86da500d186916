/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus/bus.h helpers that need no connection: error names, object paths. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bus/bus.h"
#include "graph/error.h"

static void test_error_names(void **state)
{
    static const struct { BgErrorCode code; const char *name; } cases[] = {
        { BG_ERROR_NOT_FOUND, "NotFound" },
        { BG_ERROR_EXISTS, "Exists" },
        { BG_ERROR_INVALID_ARGUMENT, "InvalidArgument" },
        { BG_ERROR_INVALID_XML, "InvalidXml" },
        { BG_ERROR_PERMISSION_CONFLICT, "PermissionConflict" },
        { BG_ERROR_READ_ONLY, "ReadOnly" },
        { BG_ERROR_FROZEN, "Frozen" },
        { BG_ERROR_BUSY, "Busy" },
        { BG_ERROR_INACTIVE, "Inactive" },
        { BG_ERROR_NOT_SUPPORTED, "NotSupported" },
        { BG_ERROR_IO_ERROR, "IOError" },
        { BG_ERROR_ACCESS_DENIED, "AccessDenied" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = g_error_new(BG_ERROR, cases[i].code, "node 'x': oops");
        g_autofree char *want = g_strconcat(BUS_ERROR_PREFIX, cases[i].name, NULL);

        assert_string_equal(bus_error_name(err), want);
        /* The same last component as the graph's own table. */
        assert_string_equal(bg_error_code_name(cases[i].code), cases[i].name);
    }
}

static void test_error_fallbacks(void **state)
{
    g_autoptr(GError) failed = g_error_new(BG_ERROR, BG_ERROR_FAILED, "x");
    g_autoptr(GError) other = g_error_new(G_FILE_ERROR, G_FILE_ERROR_NOENT, "x");
    g_autoptr(GError) unknown = g_error_new(BG_ERROR, 9999, "x");

    assert_string_equal(bus_error_name(failed), SD_BUS_ERROR_FAILED);
    assert_string_equal(bus_error_name(other), SD_BUS_ERROR_FAILED);
    assert_string_equal(bus_error_name(unknown), SD_BUS_ERROR_FAILED);
    assert_string_equal(bus_error_name(NULL), SD_BUS_ERROR_FAILED);
}

static void test_error_set(void **state)
{
    g_autoptr(GError) err = g_error_new(BG_ERROR, BG_ERROR_EXISTS, "Node 'disk0' exists");
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = bus_error_set_gerror(&e, err);

    assert_true(r < 0);
    assert_string_equal(e.name, BUS_ERROR_PREFIX "Exists");
    assert_string_equal(e.message, "Node 'disk0' exists");
    sd_bus_error_free(&e);
}

static void test_paths(void **state)
{
    static const struct { const char *name, *label; } cases[] = {
        { "disk0", "disk0" },
        { "my-disk", "my_2ddisk" },
        { "a.b_c", "a_2eb_5fc" },
        { "#block12", "_23block12" },
        { "0a", "_30a" },
        { "null-co", "null_2dco" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = bus_path_encode(BUS_NODE_PREFIX, cases[i].name);
        g_autofree char *want = g_strconcat(BUS_NODE_PREFIX "/", cases[i].label, NULL);
        g_autofree char *back = bus_path_decode(BUS_NODE_PREFIX, path);
        g_autofree char *elsewhere = bus_path_decode(BUS_DRIVER_PREFIX, path);

        assert_string_equal(path, want);
        assert_non_null(back);
        assert_string_equal(back, cases[i].name);
        assert_null(elsewhere);
    }
    assert_null(bus_path_decode(BUS_NODE_PREFIX, BUS_NODE_PREFIX));
    assert_null(bus_path_decode(BUS_NODE_PREFIX, BUS_NODE_PREFIX "/"));
    assert_null(bus_path_decode(BUS_NODE_PREFIX, BUS_NODE_PREFIX "/a/b"));
    assert_null(bus_path_decode(BUS_NODE_PREFIX, BUS_NODE_PREFIX "x/a"));
    assert_null(bus_path_decode(BUS_NODE_PREFIX, BUS_ROOT_PATH));
}

/* Without a connection every emitter is a no-op (unit tests, --check-config). */
static void test_no_connection(void **state)
{
    assert_null(bus_get());
    bus_emit_object_added(BUS_NODE_PREFIX "/x", BUS_INTERFACE_NODE);
    bus_queue_property_changed(BUS_NODE_PREFIX "/x", BUS_INTERFACE_NODE, "Size");
    bus_flush_property_changes();
    bus_emit_object_removed(BUS_NODE_PREFIX "/x", BUS_INTERFACE_NODE);
    bus_close();
    assert_null(bus_get());
}

static void test_features(void **state)
{
    const char *const *f = bus_manager_features();
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

    assert_non_null(f);
    assert_true(g_strv_contains(f, "blockdev-add"));
    for (; *f; f++) {
        assert_false(g_hash_table_contains(seen, *f));
        g_hash_table_add(seen, (gpointer)*f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_error_fallbacks),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_no_connection),
        cmocka_unit_test(test_features),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
