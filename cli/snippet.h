/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: reading, splitting and editing XML snippets (libxml2). */
#pragma once

#include <libxml/tree.h>

#include "bgctl.h"

xmlDoc *snippet_parse(const char *text, const char *source);
char *snippet_text(xmlNode *element);
bool snippet_is_link(xmlNode *element);
void snippet_options(xmlNode *element, const char *prefix, JsonObject *options,
                     JsonObject *children);
int snippet_set(xmlNode *element, const char *name, const char *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
