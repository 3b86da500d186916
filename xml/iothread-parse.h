/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* <iothread id="io1"/> -> the iothread's id (in <blockgraph> or Manager.AddIOThread). */

#include <glib.h>
#include <libxml/tree.h>

char *iothread_parse_element(const xmlNode *elem, const char *source, GError **errp);
char *iothread_parse_xml(const char *text, gssize len, const char *source, GError **errp);
