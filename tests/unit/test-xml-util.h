/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Assertions shared by test-xml.c and test-xml-write.c (include after cmocka.h). */

#include <string.h>
#include <glib.h>

#include "graph/error.h"
#include "graph/spec.h"
#include "xml/blockdev-parse.h"
#include "xml/xml-util.h"
#include <libxml/relaxng.h>

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

/* data/blockgraph.rng (BG_SOURCE_ROOT comes from tests/unit/meson.build). */
static inline void silence_errors(void *ctx, xmlErrorPtr err)
{
}

static inline xmlRelaxNGPtr load_schema(void)
{
    g_autofree char *path = g_build_filename(BG_SOURCE_ROOT, "data", "blockgraph.rng", NULL);
    xmlRelaxNGParserCtxtPtr pctxt = xmlRelaxNGNewParserCtxt(path);
    xmlRelaxNGPtr schema = xmlRelaxNGParse(pctxt);

    xmlRelaxNGFreeParserCtxt(pctxt);
    assert_non_null(schema);
    return schema;
}

static inline bool schema_valid(xmlRelaxNGPtr schema, const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(xmlDoc) doc = bg_xml_read(text, -1, NULL, &err);
    xmlRelaxNGValidCtxtPtr vctxt = xmlRelaxNGNewValidCtxt(schema);
    int ret;

    assert_non_null(doc);
    xmlRelaxNGSetValidStructuredErrors(vctxt, silence_errors, NULL);
    ret = xmlRelaxNGValidateDoc(vctxt, doc);
    xmlRelaxNGFreeValidCtxt(vctxt);
    return ret == 0;
}
