/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/export-parse.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "graph/error.h"
#include "graph/option.h"
#include "xml/xml-util.h"

static const char *const export_attrs[] = {
    "type", "id", "node-name", "name", "description", "writable",
    "max-connections", "max-in-flight-bytes", "iothread", NULL,
};
static const char *const server_unix_attrs[] = { "type", "path", "mode", "group", NULL };
static const char *const server_inet_attrs[] = { "type", "host", "port", NULL };
static const char *const tls_attrs[] = { "dir", "verify-peer", "priority", NULL };

/* Fails on attributes not in allowed, naming the first one. */
static bool check_attrs(const xmlNode *elem, const char *const *allowed, const char *source,
                        GError **errp)
{
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        if (!a->ns && g_strv_contains(allowed, (const char *)a->name))
            continue;
        g_autofree char *list = g_strjoinv(", ", (char **)allowed);
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "unknown attribute '%s' of <%s> (expected: %s)",
                         (const char *)a->name, bg_xml_name(elem), list);
        return false;
    }
    return bg_xml_check_no_text(elem, source, errp);
}

/* A required, non-empty attribute. */
static char *require_attr(const xmlNode *elem, const char *name, const char *source,
                          GError **errp)
{
    g_autofree char *v = bg_xml_get_attr(elem, name);

    if (!v || !*v) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<%s> needs a non-empty '%s' attribute", bg_xml_name(elem), name);
        return NULL;
    }
    return g_steal_pointer(&v);
}

static bool parse_port(const xmlNode *elem, const char *source, uint16_t *ret, GError **errp)
{
    g_autofree char *text = bg_xml_get_attr(elem, "port");
    char *end;
    unsigned long v;

    if (!text) {
        *ret = EXPORT_NBD_DEFAULT_PORT;
        return true;
    }
    errno = 0;
    v = strtoul(text, &end, 10);
    if (!g_ascii_isdigit(text[0]) || *end || errno || v < 1 || v > 65535) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<server> port '%s' is not a port number (1-65535)", text);
        return false;
    }
    *ret = (uint16_t)v;
    return true;
}

/* mode="0660": owner read-write, the rest read-write or nothing. */
static bool parse_socket_mode(const xmlNode *elem, const char *source, unsigned *ret,
                              GError **errp)
{
    g_autofree char *text = bg_xml_get_attr(elem, "mode");
    guint64 v;

    if (!text) {
        return true;
    }
    if (!g_ascii_string_to_unsigned(text, 8, 0, 0777, &v, NULL) ||
        (v != 0600 && v != 0660 && v != 0666)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<server> mode '%s' is not a socket mode (0600, 0660 or 0666)", text);
        return false;
    }
    *ret = (unsigned)v;
    return true;
}

static bool parse_server(const xmlNode *elem, const char *source, ExportServerSpec *server,
                         GError **errp)
{
    g_autofree char *type = require_attr(elem, "type", source, errp);

    if (!type)
        return false;
    if (g_str_equal(type, "unix")) {
        server->type = EXPORT_SERVER_UNIX;
        if (!check_attrs(elem, server_unix_attrs, source, errp))
            return false;
        server->path = require_attr(elem, "path", source, errp);
        server->group = bg_xml_get_attr(elem, "group");
        return server->path != NULL && parse_socket_mode(elem, source, &server->mode, errp);
    }
    if (g_str_equal(type, "inet")) {
        server->type = EXPORT_SERVER_INET;
        if (!check_attrs(elem, server_inet_attrs, source, errp))
            return false;
        server->host = require_attr(elem, "host", source, errp);
        return server->host && parse_port(elem, source, &server->port, errp);
    }
    bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                     "<server> type '%s' is not supported (expected: unix, inet)", type);
    return false;
}

/* <tls dir="/etc/pki/blockgraph" verify-peer="on" priority="…"/>, as QEMU's tls-creds-x509. */
static bool parse_tls(const xmlNode *elem, const char *source, ExportTlsSpec *tls, GError **errp)
{
    g_autofree char *verify = bg_xml_get_attr(elem, "verify-peer");

    if (!check_attrs(elem, tls_attrs, source, errp) ||
        !(tls->dir = require_attr(elem, "dir", source, errp)))
        return false;
    tls->verify_peer = true;
    if (verify && !option_parse_bool(verify, &tls->verify_peer)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<tls> verify-peer '%s' is not a boolean (on/off, true/false, yes/no)",
                         verify);
        return false;
    }
    tls->priority = bg_xml_get_attr(elem, "priority");
    return true;
}

/* <bitmap name="..."/>: a dirty bitmap offered as qemu:dirty-bitmap:<name>. */
static bool parse_bitmap(const xmlNode *elem, const char *source, GPtrArray *names,
                         GError **errp)
{
    static const char *const bitmap_attrs[] = { "name", NULL };
    char *name;

    if (!check_attrs(elem, bitmap_attrs, source, errp) ||
        !(name = require_attr(elem, "name", source, errp)))
        return false;
    g_ptr_array_add(names, name);
    return true;
}

static bool parse_server_element(const xmlNode *elem, const char *source, ExportSpec *spec,
                                 GError **errp)
{
    const xmlNode *server = NULL, *tls = NULL;
    g_autoptr(GPtrArray) bitmaps = g_ptr_array_new_with_free_func(g_free);

    bg_xml_foreach_element(sub, elem) {
        if (g_str_equal(bg_xml_name(sub), "bitmap")) {
            if (!parse_bitmap(sub, source, bitmaps, errp))
                return false;
            continue;
        }
        const xmlNode **slot = g_str_equal(bg_xml_name(sub), "server") ? &server
                               : g_str_equal(bg_xml_name(sub), "tls") ? &tls : NULL;
        if (!slot || *slot) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, sub,
                             "%s <%s> in <export> (expected one <server>, at most one <tls>, "
                             "<bitmap>s)", slot ? "second" : "unknown element",
                             bg_xml_name(sub));
            return false;
        }
        *slot = sub;
    }
    if (tls && !parse_tls(tls, source, &spec->tls, errp))
        return false;
    if (!server) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<export id=\"%s\"> needs a <server> element", spec->id);
        return false;
    }
    g_ptr_array_add(bitmaps, NULL);
    spec->bitmaps = (char **)g_ptr_array_free(g_steal_pointer(&bitmaps), FALSE);
    return parse_server(server, source, &spec->server, errp);
}

/* max-connections and max-in-flight-bytes; their ranges are the export's to check. */
static bool parse_limits(const xmlNode *elem, const char *source, ExportLimits *limits,
                         GError **errp)
{
    g_autofree char *conns = bg_xml_get_attr(elem, "max-connections");
    g_autofree char *bytes = bg_xml_get_attr(elem, "max-in-flight-bytes");
    char *end;

    if (conns) {
        errno = 0;
        unsigned long v = strtoul(conns, &end, 10);
        if (!g_ascii_isdigit(conns[0]) || *end || errno || v < 1 || v > UINT_MAX) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                             "<export> max-connections '%s' is not a positive number", conns);
            return false;
        }
        limits->max_connections = (unsigned)v;
    }
    if (bytes && (!option_parse_size(bytes, &limits->max_in_flight_bytes) ||
                  !limits->max_in_flight_bytes)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<export> max-in-flight-bytes '%s' is not a size (e.g. 64M)", bytes);
        return false;
    }
    return true;
}

static bool parse_export_attrs(const xmlNode *elem, const char *source, ExportSpec *spec,
                               GError **errp)
{
    g_autofree char *writable = bg_xml_get_attr(elem, "writable");

    if (!check_attrs(elem, export_attrs, source, errp) ||
        !(spec->type = require_attr(elem, "type", source, errp)))
        return false;
    if (!g_str_equal(spec->type, "nbd")) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<export> type '%s' is not supported (expected: nbd)", spec->type);
        return false;
    }
    if (!(spec->id = require_attr(elem, "id", source, errp)) ||
        !(spec->node_name = require_attr(elem, "node-name", source, errp)))
        return false;
    spec->name = bg_xml_get_attr(elem, "name");
    if (!spec->name)
        spec->name = g_strdup(spec->node_name);
    spec->description = bg_xml_get_attr(elem, "description");
    spec->iothread = bg_xml_get_attr(elem, "iothread");
    if (writable && !option_parse_bool(writable, &spec->writable)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<export> writable '%s' is not a boolean (on/off, true/false, yes/no)",
                         writable);
        return false;
    }
    return parse_limits(elem, source, &spec->limits, errp);
}

ExportSpec *export_parse_element(const xmlNode *elem, const char *source, GError **errp)
{
    g_autoptr(ExportSpec) spec = g_new0(ExportSpec, 1);

    spec->source = g_strdup(source);
    spec->line = (int)xmlGetLineNo(elem);
    if (!bg_xml_check_root(elem, "export", source, errp) ||
        !parse_export_attrs(elem, source, spec, errp) ||
        !parse_server_element(elem, source, spec, errp))
        return NULL;
    return g_steal_pointer(&spec);
}

ExportSpec *export_parse_xml(const char *text, gssize len, const char *source,
                             GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);

    if (!doc)
        return NULL;
    return export_parse_element(xmlDocGetRootElement(doc), source, errp);
}
