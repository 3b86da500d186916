/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus/authorize-actions.c: which method needs which polkit action. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bus/authorize.h"
#include "bus/bus.h"

#define A(x) AUTHORIZE_ACTION_PREFIX x

static void check_action(const char *interface, const char *member, const char *want)
{
    const char *got = authorize_action_for(interface, member);

    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
}

static void test_reads_are_open(void **state)
{
    check_action(BUS_INTERFACE_MANAGER, "GetGraph", NULL);
    check_action(BUS_INTERFACE_NODE, "GetXML", NULL);
    check_action(BUS_INTERFACE_JOB, "GetXML", NULL);
    check_action("org.freedesktop.DBus.Properties", "Get", NULL);
    check_action("org.freedesktop.DBus.Properties", "GetAll", NULL);
    check_action("org.freedesktop.DBus.Introspectable", "Introspect", NULL);
    check_action("org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL);
    check_action("org.freedesktop.DBus.Peer", "Ping", NULL);
}

static void test_changes_need_actions(void **state)
{
    check_action(BUS_INTERFACE_MANAGER, "AddNode", A("manage-nodes"));
    check_action(BUS_INTERFACE_MANAGER, "RemoveNode", A("manage-nodes"));
    check_action(BUS_INTERFACE_MANAGER, "ReopenNodes", A("manage-nodes"));
    check_action(BUS_INTERFACE_MANAGER, "AddExport", A("manage-exports"));
    check_action(BUS_INTERFACE_MANAGER, "StartJob", A("manage-jobs"));
    check_action(BUS_INTERFACE_MANAGER, "CreateImage", A("create-image"));
    check_action(BUS_INTERFACE_NODE, "Flush", A("manage-nodes"));
    check_action(BUS_INTERFACE_NODE, "Resize", A("manage-nodes"));
    check_action(BUS_INTERFACE_NODE, "Reopen", A("manage-nodes"));
    check_action(BUS_INTERFACE_NODE, "SetActive", A("manage-nodes"));
    check_action(BUS_INTERFACE_EXPORT, "Remove", A("manage-exports"));
    check_action(BUS_INTERFACE_JOB, "Cancel", A("manage-jobs"));
    check_action(BUS_INTERFACE_JOB, "SetSpeed", A("manage-jobs"));
    check_action("org.freedesktop.DBus.Properties", "Set", A("manage-nodes"));
}

/* What the table does not know is guarded, never open. */
static void test_unknown_is_guarded(void **state)
{
    check_action(BUS_INTERFACE_MANAGER, "AddSomethingNew", A("manage-nodes"));
    check_action("org.blockgraph.BlockGraph1.Future", "Do", A("manage-nodes"));
    check_action(NULL, "GetGraph", A("manage-nodes"));
}

static void test_modes(void **state)
{
    AuthorizeMode mode = AUTHORIZE_NONE;

    assert_true(authorize_mode_parse("polkit", &mode));
    assert_int_equal(mode, AUTHORIZE_POLKIT);
    assert_true(authorize_mode_parse("none", &mode));
    assert_int_equal(mode, AUTHORIZE_NONE);
    assert_false(authorize_mode_parse("Polkit", &mode));
    assert_false(authorize_mode_parse("", &mode));
    assert_string_equal(authorize_mode_name(AUTHORIZE_POLKIT), "polkit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_are_open),
        cmocka_unit_test(test_changes_need_actions),
        cmocka_unit_test(test_unknown_is_guarded),
        cmocka_unit_test(test_modes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
