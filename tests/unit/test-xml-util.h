/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Assertions shared by test-xml.c and test-xml-write.c (include after cmocka.h). */

#include <string.h>
#include <glib.h>

#include "graph/error.h"
#include "graph/spec.h"
#include "xml/blockdev-parse.h"

static inline void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("'%s' does not contain '%s'", haystack, needle);
}

static inline void assert_error(const GError *err, int code, const char *needle)
{
    assert_non_null(err);
    if (err->domain != BG_ERROR || err->code != code)
        fail_msg("expected %s, got %s: %s", bg_error_code_name(code),
                 bg_error_code_name(err->code), err->message);
    if (needle)
        assert_contains(err->message, needle);
}

static inline BlockdevSpec *parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    BlockdevSpec *spec = blockdev_parse_xml(text, -1, "<test>", &err);

    if (!spec)
        fail_msg("parse failed: %s", err->message);
    return spec;
}
