/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <blockdev> snippet -> BlockdevSpec.
 *
 * Attributes are options (QEMU names); an element whose name is a known
 * option group ("cache", from the option tables' dotted names) contributes
 * dotted options (<cache direct="on"/> -> cache.direct); any other element
 * is a child link named by its role: ref="x" (an existing node), inline
 * attributes with driver= (a new node, recursively), or empty (<backing/>:
 * no child).  Option names and values are checked later by the graph.
 */

#include <glib.h>
#include <libxml/tree.h>

#include "graph/spec.h"

/*
 * Parses a snippet whose root is <blockdev>.  source names the text in
 * messages and is stored in the spec (a file name, "<bus>", or NULL).
 */
BlockdevSpec *blockdev_parse_xml(const char *text, gssize len, const char *source,
                                 GError **errp);

/*
 * Parses the snippets of one call (ReopenNodes) into a GPtrArray of
 * BlockdevSpec*, named "<bus>[i]" in messages.  More than
 * BG_XML_MAX_SNIPPETS snippets, or more than BG_XML_SNIPPETS_MAX_BYTES of
 * text together, get BG_ERROR_INVALID_XML before any is parsed.
 */
GPtrArray *blockdev_parse_xml_list(const char *const *texts, GError **errp);

/* Parses one element already in a document (a <blockdev> of a config file). */
BlockdevSpec *blockdev_parse_element(const xmlNode *elem, const char *source,
                                     GError **errp);

/*
 * Known option groups, as a set of dotted prefixes ("cache", and "a.b" for
 * an option "a.b.c"), from node_common_options and every driver's table.
 */
GHashTable *blockdev_option_groups(void);
