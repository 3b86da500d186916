/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small helpers shared by the xml/ parsers: reading a document safely
 * (no network, no external entities, no DTDs, errors captured instead of
 * printed) and GErrors that name the source and line of an element.
 */

#include <stdbool.h>
#include <glib.h>
#include <libxml/tree.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/*
 * Parses text (len bytes, or up to NUL if len < 0).  Malformed XML sets
 * BG_ERROR_INVALID_XML naming source (may be NULL), line, column and
 * libxml2's message.
 */
xmlDoc *bg_xml_read(const char *text, gssize len, const char *source, GError **errp);

/* Reads and parses a file; errors name the file. */
xmlDoc *bg_xml_read_file(const char *path, GError **errp);

/* Sets errp to "<source> line N: <message>" (or "line N: ..." without a source). */
void bg_xml_set_error(GError **errp, int code, const char *source, const xmlNode *node,
                      const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Checks that elem's name is `expected`. */
bool bg_xml_check_root(const xmlNode *elem, const char *expected, const char *source,
                       GError **errp);

/* Fails if elem holds non-whitespace text (attributes only, please). */
bool bg_xml_check_no_text(const xmlNode *elem, const char *source, GError **errp);

/* g_strdup'ed attribute value, NULL if absent. */
char *bg_xml_get_attr(const xmlNode *elem, const char *name);

/* Attribute value as an owned string (for iteration over elem->properties). */
char *bg_xml_attr_value(const xmlAttr *attr);

/* Element children only (skips text, comments, processing instructions). */
xmlNode *bg_xml_first_element(const xmlNode *parent);
xmlNode *bg_xml_next_element(const xmlNode *node);

#define bg_xml_foreach_element(child, parent) \
    for (xmlNode *child = bg_xml_first_element(parent); child; \
         child = bg_xml_next_element(child))

static inline const char *bg_xml_name(const xmlNode *node)
{
    return (const char *)node->name;
}
