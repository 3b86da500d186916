/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ExportSpec: freeing it, naming its server, and adding the export it describes. */

#include <string.h>

#include "exports/export.h"
#include "graph/error.h"
#include "exports/export-spec.h"

void export_spec_free(ExportSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->type);
    g_free(spec->id);
    g_free(spec->node_name);
    g_free(spec->name);
    g_free(spec->description);
    g_free(spec->server.path);
    g_free(spec->server.host);
    g_free(spec->source);
    g_free(spec);
}

const char *export_server_type_name(ExportServerType type)
{
    return type == EXPORT_SERVER_UNIX ? "unix" : "inet";
}

char *export_server_describe(const ExportServerSpec *server)
{
    if (server->type == EXPORT_SERVER_UNIX)
        return g_strdup_printf("unix:%s", server->path);
    if (strchr(server->host, ':'))
        return g_strdup_printf("inet:[%s]:%u", server->host, server->port);
    return g_strdup_printf("inet:%s:%u", server->host, server->port);
}

Export *export_add_from_spec(const ExportSpec *spec, GError **errp)
{
    g_autofree char *port = g_strdup_printf("%u", spec->server.port);
    ExportConfig cfg = {
        .id = spec->id,
        .type = spec->type,
        .node_name = spec->node_name,
        .name = spec->name,
        .description = spec->description,
        .writable = spec->writable,
        .limits = spec->limits,
        .addr_type = spec->server.type == EXPORT_SERVER_UNIX ? EXPORT_ADDRESS_UNIX
                                                             : EXPORT_ADDRESS_INET,
        .path = spec->server.path,
        .host = spec->server.host,
        .port = port,
    };
    Export *e = export_add(&cfg, errp);
    if (!e && spec->line > 0)
        bg_error_prefix_location(errp, spec->source, spec->line);
    return e;
}
