/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <export> snippet -> ExportSpec (exports/export-spec.h).
 *
 *   <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on"
 *           description="...">
 *     <server type="unix" path="/run/blockgraph/nbd.sock"/>
 *     (or <server type="inet" host="127.0.0.1" port="10809"/>)
 *     <tls dir="/etc/pki/blockgraph" verify-peer="on"/>      (optional)
 *   </export>
 *
 * Required: type (only "nbd" today), id, node-name, <server>.  name defaults
 * to node-name, writable to off, an inet port to 10809, verify-peer to on.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <libxml/tree.h>

#include "exports/export-spec.h"

/* Parses a snippet whose root is <export>. */
ExportSpec *export_parse_xml(const char *text, gssize len, const char *source,
                             GError **errp);

/* Parses one <export> element already in a document (a config file). */
ExportSpec *export_parse_element(const xmlNode *elem, const char *source, GError **errp);
