/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Adding an export from a parsed <export> element (bus and config files). */

#include "exports/export.h"
#include "xml/export-parse.h"

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
        .addr_type = spec->server.type == EXPORT_SERVER_UNIX ? EXPORT_ADDRESS_UNIX
                                                             : EXPORT_ADDRESS_INET,
        .path = spec->server.path,
        .host = spec->server.host,
        .port = port,
    };
    Export *e = export_add(&cfg, errp);
    if (!e && errp && *errp && spec->source && spec->line > 0)
        g_prefix_error(errp, "%s:%d: ", spec->source, spec->line);
    return e;
}
