/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the driver tables say of themselves: Driver.Capabilities follow from
 * the operations a table fills, its flags and options, for every driver.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "graph/driver.h"
#include "graph/node.h"

static bool has_cap(const BlockDriver *drv, const char *cap)
{
    g_auto(GStrv) caps = block_driver_capabilities(drv);

    return g_strv_contains((const char *const *)caps, cap);
}

static void check_cap(const BlockDriver *drv, const char *cap, bool expected)
{
    if (has_cap(drv, cap) != expected)
        fail_msg("driver '%s': capability '%s' %s, but its table says %s", drv->name, cap,
                 expected ? "missing" : "listed", expected ? "it can" : "it cannot");
}

static void test_capabilities_follow_ops(void **state)
{
    for (const BlockDriver *const *d = block_drivers(); *d; d++) {
        const BlockDriver *drv = *d;

        check_cap(drv, "resize", drv->co_truncate != NULL);
        check_cap(drv, "discard", drv->co_pdiscard != NULL);
        check_cap(drv, "zero-write", drv->co_pwrite_zeroes != NULL);
        check_cap(drv, "block-status", drv->co_block_status != NULL);
        check_cap(drv, "backing", drv->supports_backing);
        check_cap(drv, "reopen", drv->reopen_prepare != NULL);
        check_cap(drv, "locking", drv->apply_perm != NULL);
        check_cap(drv, "dynamic-read-only", drv->dynamic_read_only);
        check_cap(drv, "fallback-read-only", !drv->dynamic_read_only);
    }
}

/* host_device shares file's code but cannot resize a device nor report holes. */
static void test_host_device_capabilities(void **state)
{
    const BlockDriver *hdev = block_driver_find("host_device");

    assert_non_null(hdev);
    assert_true(has_cap(hdev, "discard") && has_cap(hdev, "zero-write"));
    assert_true(has_cap(hdev, "dynamic-read-only") && has_cap(hdev, "locking"));
    assert_false(has_cap(hdev, "resize"));
    assert_false(has_cap(hdev, "block-status"));
    assert_true(has_cap(block_driver_find("nbd"), "reconnect"));
    assert_false(has_cap(block_driver_find("file"), "reconnect"));
}

static void check_option_table(const char *what, const OptionSpec *table)
{
    for (const OptionSpec *o = table; o && o->name; o++) {
        if (!o->description || !*o->description)
            fail_msg("%s: option '%s' has no description", what, o->name);
        if (o->type == OPTION_ENUM && o->default_value &&
            !g_strv_contains(o->enum_values, o->default_value))
            fail_msg("%s: option '%s' defaults to '%s', not one of its values", what, o->name,
                     o->default_value);
    }
}

/* Every option is described, and an enum's default is one of its values. */
static void test_option_tables(void **state)
{
    check_option_table("common", node_common_options);
    for (const BlockDriver *const *d = block_drivers(); *d; d++)
        check_option_table((*d)->name, (*d)->options);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capabilities_follow_ops),
        cmocka_unit_test(test_host_device_capabilities),
        cmocka_unit_test(test_option_tables),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
