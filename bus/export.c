/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Export objects at
 * /org/blockgraph/BlockGraph1/export/<encoded id>, and Manager.AddExport
 * (the Manager vtable in manager.c points at bus_manager_method_add_export).
 * The logic lives in exports/; this file is its bus face.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aio/coroutine.h"
#include "bus/bus.h"
#include "exports/export.h"
#include "graph/error.h"
#include "xml/export-parse.h"

static char *export_path(const Export *e)
{
    return bus_path_encode(BUS_EXPORT_PREFIX, e->id);
}

/* ---- objects ------------------------------------------------------------------ */

static int export_object_find(sd_bus *bus, const char *path, const char *interface,
                              void *userdata, void **ret_found, sd_bus_error *ret_error)
{
    g_autofree char *id = bus_path_decode(BUS_EXPORT_PREFIX, path);
    Export *e = id ? export_lookup(id) : NULL;
    if (!e)
        return 0;
    *ret_found = e;
    return 1;
}

static int export_node_enumerator(sd_bus *bus, const char *path, void *userdata,
                                  char ***ret_nodes, sd_bus_error *ret_error)
{
    GList *list = export_list();
    /* sd-bus frees the array and its strings with free() */
    char **nodes = calloc(g_list_length(list) + 1, sizeof(char *));
    if (!nodes)
        return -ENOMEM;
    size_t n = 0;
    for (GList *it = list; it; it = it->next) {
        g_autofree char *p = export_path(it->data);
        nodes[n++] = strdup(p);
    }
    *ret_nodes = nodes;
    return 1;
}

/* ---- properties --------------------------------------------------------------- */

static int property_get_writable(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply,
                                 void *userdata, sd_bus_error *ret_error)
{
    Export *e = userdata;
    return sd_bus_message_append(reply, "b", (int)e->writable);
}

static int property_get_clients(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *ret_error)
{
    Export *e = userdata;
    return sd_bus_message_append(reply, "u", (uint32_t)export_clients_published(e));
}

/* ---- Remove --------------------------------------------------------------------- */

typedef struct RemoveCall {
    char *id;
    ExportRemoveMode mode;
} RemoveCall;

static void remove_call_free(RemoveCall *call)
{
    g_free(call->id);
    g_free(call);
}

static int coroutine_fn export_co_remove_call(void *data, char **ret_path, GError **errp)
{
    RemoveCall *call = data;
    Export *e = export_lookup(call->id);

    if (!e) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No export '%s' known", call->id);
        return -ENOENT;
    }
    return export_co_remove(e, call->mode, errp);
}

static int method_remove(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Export *e = userdata;
    g_autoptr(GError) err = NULL;
    const char *mode_text;
    ExportRemoveMode mode;
    int r = sd_bus_message_read(m, "s", &mode_text);
    if (r < 0)
        return r;
    if (!export_remove_mode_parse(mode_text, &mode, &err))
        return bus_error_set_gerror(ret_error, err);
    RemoveCall *call = g_new0(RemoveCall, 1);
    call->id = g_strdup(e->id);
    call->mode = mode;
    return bus_call_start(m, "Export.Remove", export_co_remove_call, call,
                          (GDestroyNotify)remove_call_free);
}

/* ---- Manager.AddExport ---------------------------------------------------------- */

/* In a coroutine: an export with TLS reads its credentials in the worker pool. */
static int coroutine_fn manager_co_add_export(void *data, char **ret_path, GError **errp)
{
    Export *e = export_add_from_spec(data, errp);
    if (!e)
        return -EINVAL;
    *ret_path = export_path(e);
    return 0;
}

int bus_manager_method_add_export(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
    int r = sd_bus_message_read(m, "s", &xml);
    if (r < 0)
        return r;
    ExportSpec *spec = export_parse_xml(xml, -1, "<bus>", &err);
    if (!spec)
        return bus_error_set_gerror(ret_error, err);
    return bus_call_start(m, "AddExport", manager_co_add_export, spec,
                          (GDestroyNotify)export_spec_free);
}

/* ---- signals -------------------------------------------------------------------- */

static void bus_export_added(Export *e, void *opaque)
{
    g_autofree char *path = export_path(e);
    bus_emit_object_added(path, BUS_INTERFACE_EXPORT);
}

static void bus_export_removed(Export *e, void *opaque)
{
    g_autofree char *path = export_path(e);
    bus_emit_object_removed(path, BUS_INTERFACE_EXPORT);
}

static void bus_export_changed(Export *e, const char *property, void *opaque)
{
    g_autofree char *path = export_path(e);
    bus_queue_property_changed(path, BUS_INTERFACE_EXPORT, property);
}

static const ExportListener bus_export_listener = {
    .added = bus_export_added,
    .removed = bus_export_removed,
    .changed = bus_export_changed,
};

static const sd_bus_vtable export_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Id", "s", NULL, offsetof(Export, id), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Type", "s", NULL, offsetof(Export, type), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("NodeName", "s", NULL, offsetof(Export, node_name),
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Export, name), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Writable", "b", property_get_writable, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Uri", "s", NULL, offsetof(Export, uri), SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Clients", "u", property_get_clients, 0,
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_METHOD_WITH_NAMES("Remove", "s", SD_BUS_PARAM(mode), "", ,
                             method_remove, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int bus_export_register(sd_bus *bus)
{
    export_set_listener(&bus_export_listener, NULL);
    return bus_register_fallback(bus, BUS_EXPORT_PREFIX, BUS_INTERFACE_EXPORT, export_vtable,
                                 export_object_find, export_node_enumerator);
}
