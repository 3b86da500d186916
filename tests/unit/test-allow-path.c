/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policy/allow-path.c: confinement of paths to the <allow-path> folders. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "graph/error.h"
#include "policy/allow-path.h"

typedef struct Dirs {
    char *top;          /* realpath of a fresh temporary folder */
    char *allowed;      /* top/allowed */
} Dirs;

static int setup(void **state)
{
    Dirs *d = g_new0(Dirs, 1);
    g_autofree char *tmp = g_dir_make_tmp("bg-allow-XXXXXX", NULL);
    char buf[PATH_MAX];

    assert_non_null(tmp);
    assert_non_null(realpath(tmp, buf));
    d->top = g_strdup(buf);
    d->allowed = g_build_filename(d->top, "allowed", NULL);
    assert_int_equal(g_mkdir(d->allowed, 0700), 0);
    allow_path_reset();
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    Dirs *d = *state;
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", d->top);

    assert_int_equal(system(cmd), 0);
    allow_path_reset();
    g_free(d->top);
    g_free(d->allowed);
    g_free(d);
    return 0;
}

static int resolve(const char *path, bool new_file)
{
    g_autofree char *out = NULL;

    return allow_path_resolve(path, new_file, &out);
}

static void test_unrestricted(void **state)
{
    g_autofree char *out = NULL;

    assert_false(allow_path_confined());
    assert_int_equal(allow_path_resolve("relative.raw", false, &out), 0);
    assert_null(out);
    allow_path_set_defaults(false);
    assert_false(allow_path_confined());
}

static void test_inside_outside(void **state)
{
    Dirs *d = *state;
    g_autofree char *file = g_build_filename(d->allowed, "a.raw", NULL);
    g_autofree char *evil = g_strconcat(d->allowed, "-evil", NULL);
    g_autofree char *evil_file = g_build_filename(evil, "b.raw", NULL);
    g_autofree char *up = g_build_filename(d->allowed, "..", "allowed-evil", "b.raw", NULL);
    g_autofree char *out = NULL;

    assert_true(allow_path_add(d->allowed, NULL));
    assert_true(g_file_set_contents(file, "x", 1, NULL));
    assert_int_equal(g_mkdir(evil, 0700), 0);
    assert_true(g_file_set_contents(evil_file, "x", 1, NULL));

    assert_int_equal(allow_path_resolve(file, false, &out), 0);
    assert_string_equal(out, file);
    assert_int_equal(resolve(evil_file, false), -EACCES);
    assert_int_equal(resolve(up, false), -EACCES);
    assert_int_equal(resolve("/etc/passwd", false), -EACCES);
    assert_int_equal(resolve("a.raw", false), -EINVAL);
    assert_int_equal(resolve(d->allowed, false), 0);
}

static void test_symlinks(void **state)
{
    Dirs *d = *state;
    g_autofree char *link = g_build_filename(d->allowed, "link", NULL);
    g_autofree char *dirlink = g_build_filename(d->allowed, "up", NULL);
    g_autofree char *via = g_build_filename(dirlink, "new.sock", NULL);
    g_autofree char *fresh = g_build_filename(d->allowed, "new.sock", NULL);
    g_autofree char *out = NULL;

    assert_true(allow_path_add(d->allowed, NULL));
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(symlink(d->top, dirlink), 0);
    assert_int_equal(resolve(link, false), -EACCES);
    assert_int_equal(resolve(via, true), -EACCES);
    assert_int_equal(allow_path_resolve(fresh, true, &out), 0);
    assert_string_equal(out, fresh);
}

static void test_defaults_replaced(void **state)
{
    Dirs *d = *state;
    g_autofree char *desc = NULL;
    g_autoptr(GError) err = NULL;

    allow_path_set_defaults(true);
    assert_true(allow_path_confined());
    desc = allow_path_describe();
    assert_string_equal(desc, "/var/lib/blockgraph, /run/blockgraph");
    assert_true(allow_path_add(d->allowed, NULL));
    g_free(desc);
    desc = allow_path_describe();
    assert_string_equal(desc, d->allowed);
    assert_false(allow_path_add("relative", &err));
    assert_int_equal(err->code, BG_ERROR_INVALID_ARGUMENT);
}

static void test_errors(void **state)
{
    g_autoptr(GError) outside = NULL;
    g_autoptr(GError) relative = NULL;

    allow_path_add("/var/lib/blockgraph", NULL);
    allow_path_set_error(&outside, "/etc/shadow", -EACCES);
    assert_int_equal(outside->code, BG_ERROR_ACCESS_DENIED);
    assert_non_null(strstr(outside->message, "'/etc/shadow'"));
    allow_path_set_error(&relative, "x.raw", -EINVAL);
    assert_int_equal(relative->code, BG_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(relative->message, "Relative path 'x.raw'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unrestricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inside_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
