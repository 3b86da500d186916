/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <export> snippet -> ExportSpec.
 *
 *   <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on"
 *           description="...">
 *     <server type="unix" path="/run/blockgraph/nbd.sock"/>
 *     (or <server type="inet" host="127.0.0.1" port="10809"/>)
 *   </export>
 *
 * Required: type (only "nbd" today), id, node-name, <server>.  name defaults
 * to node-name, writable to off, an inet port to 10809.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <libxml/tree.h>

typedef enum ExportServerType {
    EXPORT_SERVER_UNIX,
    EXPORT_SERVER_INET,
} ExportServerType;

#define EXPORT_NBD_DEFAULT_PORT 10809

typedef struct ExportServerSpec {
    ExportServerType type;
    char *path;         /* unix */
    char *host;         /* inet */
    uint16_t port;      /* inet */
} ExportServerSpec;

typedef struct ExportSpec {
    char *type;         /* "nbd" */
    char *id;
    char *node_name;
    char *name;         /* export name the client asks for; defaults to node_name */
    char *description;  /* NULL if not given */
    bool writable;
    ExportServerSpec server;
    char *source;       /* file name or "<bus>"; may be NULL */
    int line;
} ExportSpec;

void export_spec_free(ExportSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ExportSpec, export_spec_free)

const char *export_server_type_name(ExportServerType type);

/* "unix:/run/x.sock" or "inet:host:port": equal strings mean one listener. */
char *export_server_describe(const ExportServerSpec *server);

/* Parses a snippet whose root is <export>. */
ExportSpec *export_parse_xml(const char *text, gssize len, const char *source,
                             GError **errp);

/* Parses one <export> element already in a document (a config file). */
ExportSpec *export_parse_element(const xmlNode *elem, const char *source, GError **errp);
