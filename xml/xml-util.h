/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Small helpers shared by the xml/ parsers: reading a document safely
 * (no network, no external entities, no DTDs, errors captured instead of
 * printed) and GErrors that name the source and line of an element.
 */

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>
#include <libxml/tree.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/*
 * Limits on XML input, so that the work one snippet costs the loop stays
 * small (libxml2 checks duplicate attributes in quadratic time, and every
 * element becomes a tree node).  Text over a limit gets InvalidXml before
 * libxml2 sees it.  A snippet is the text of one bus call, or one
 * top-level element (<blockdev>, <export>) of a configuration file.
 */
#define BG_XML_SNIPPET_MAX_BYTES (64 * 1024)        /* one bus snippet */
#define BG_XML_FILE_MAX_BYTES (4 * 1024 * 1024)     /* one configuration file */
#define BG_XML_MAX_ELEMENTS 1024                    /* per snippet */
#define BG_XML_MAX_ATTRIBUTES 64                    /* per element */
#define BG_XML_MAX_DEPTH 32                         /* element nesting */
#define BG_XML_NAME_MAX 64                          /* element and attribute names */
#define BG_XML_VALUE_MAX 4096                       /* attribute values (PATH_MAX) */
/*
 * Snippets in one call (ReopenNodes): at most as many as elements in one
 * snippet, and together no more text than one configuration file.
 */
#define BG_XML_MAX_SNIPPETS BG_XML_MAX_ELEMENTS
#define BG_XML_SNIPPETS_MAX_BYTES BG_XML_FILE_MAX_BYTES

/*
 * Bounds a whole document: at most max_bytes of text; elements are counted
 * per snippet, where each element at depth snippet_depth (0: the root,
 * 1: each child of the root) starts a new snippet.
 */
typedef struct BgXmlLimits {
    size_t max_bytes;
    unsigned snippet_depth;
    bool utf8_only;     /* bus strings: UTF-8 whatever a declaration says */
} BgXmlLimits;

extern const BgXmlLimits bg_xml_snippet_limits;    /* bus snippets */
extern const BgXmlLimits bg_xml_file_limits;       /* configuration files */

/*
 * Checks text against limits in one linear pass, before it is parsed.
 * Over a limit: false with BG_ERROR_INVALID_XML naming source and line.
 * *ret_parse_len is how much of the text libxml2 should see: all of it, or
 * up to the first place the scan found malformed (libxml2 then reports the
 * error there, and never parses an unbounded rest).
 */
bool bg_xml_check_limits(const char *text, size_t len, const BgXmlLimits *limits,
                         const char *source, size_t *ret_parse_len, GError **errp);

/*
 * Parses a bus snippet (len bytes, or up to NUL if len < 0) within
 * bg_xml_snippet_limits.  Malformed XML or text over a limit sets
 * BG_ERROR_INVALID_XML naming source (may be NULL), line, column and
 * libxml2's message.
 */
xmlDoc *bg_xml_read(const char *text, gssize len, const char *source, GError **errp);

/* As bg_xml_read, within other limits (configuration files). */
xmlDoc *bg_xml_read_limited(const char *text, gssize len, const char *source,
                            const BgXmlLimits *limits, GError **errp);

/* Reads and parses a file within bg_xml_file_limits; errors name the file. */
xmlDoc *bg_xml_read_file(const char *path, GError **errp);

/* Sets errp to "<source> line N: <message>" (bg_error_prefix_location's form). */
void bg_xml_set_error_line(GError **errp, int code, const char *source, long line,
                           const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* As bg_xml_set_error_line, at node's line. */
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
