/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Manager at /org/blockgraph/BlockGraph1:
 * AddNode, RemoveNode, GetGraph, Version, Features.
 *
 * AddNode and RemoveNode open, flush and close images: they run in a
 * coroutine that keeps the call message and replies when done, so the bus
 * keeps answering other calls meanwhile.
 */

#include "config.h"

#include "aio/coroutine.h"
#include "bus/bus.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "xml/blockdev-parse.h"
#include "xml/node-write.h"

/*
 * What this build really does (Manager.Features).  One place: add a line
 * when a feature lands ("nbd-export", "blockdev-reopen", ...).
 */
static const char *const bus_features[] = {
    "blockdev-add",
    "blockdev-del",
    "config-dir",
    "nbd-export",
    "blockdev-reopen",
    "image-locking",
    "dynamic-auto-read-only",
    "node-inactivation",
    "job-stream",
    "job-commit",
    NULL,
};

const char *const *bus_manager_features(void)
{
    return bus_features;
}

typedef struct ManagerCall {
    sd_bus_message *msg;
    BlockdevSpec *spec;     /* AddNode */
    char *node_name;        /* RemoveNode */
    GPtrArray *specs;       /* ReopenNodes, Node.Reopen: BlockdevSpec* */
} ManagerCall;

static void manager_call_free(ManagerCall *call)
{
    sd_bus_message_unref(call->msg);
    bus_call_end();
    if (call->spec) {
        blockdev_spec_free(call->spec);
    }
    g_free(call->node_name);
    if (call->specs) {
        g_ptr_array_unref(call->specs);
    }
    g_free(call);
}

static ManagerCall *manager_call_new(sd_bus_message *m)
{
    ManagerCall *call = g_new0(ManagerCall, 1);

    call->msg = sd_bus_message_ref(m);
    bus_call_begin();
    return call;
}

static void reply_failed(sd_bus_message *m, const char *what, int r)
{
    if (r < 0) {
        g_warning("Failed to reply to %s: %s", what, g_strerror(-r));
    }
}

/* ---- AddNode ------------------------------------------------------------- */

static void coroutine_fn manager_co_add_node(void *opaque)
{
    ManagerCall *call = opaque;
    g_autoptr(GError) err = NULL;
    BlockNode *node;
    int r;

    node = graph_co_add_node(call->spec, &err);
    if (node) {
        g_autofree char *path = bus_node_path(node);

        bus_flush_property_changes();
        r = sd_bus_reply_method_return(call->msg, "o", path);
    } else {
        r = bus_reply_gerror(call->msg, err);
    }
    reply_failed(call->msg, "AddNode", r);
    manager_call_free(call);
}

static int method_add_node(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
    ManagerCall *call;
    BlockdevSpec *spec;
    int r;

    r = sd_bus_message_read(m, "s", &xml);
    if (r < 0) {
        return r;
    }
    spec = blockdev_parse_xml(xml, -1, "<bus>", &err);
    if (!spec) {
        return bus_error_set_gerror(ret_error, err);
    }
    call = manager_call_new(m);
    call->spec = spec;
    coroutine_start(manager_co_add_node, call);
    return 1;
}

/* ---- RemoveNode ---------------------------------------------------------- */

static void coroutine_fn manager_co_remove_node(void *opaque)
{
    ManagerCall *call = opaque;
    g_autoptr(GError) err = NULL;
    int r;

    if (graph_co_remove_node(call->node_name, &err) < 0) {
        r = bus_reply_gerror(call->msg, err);
    } else {
        r = sd_bus_reply_method_return(call->msg, "");
    }
    reply_failed(call->msg, "RemoveNode", r);
    manager_call_free(call);
}

static int method_remove_node(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const char *name;
    ManagerCall *call;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0) {
        return r;
    }
    call = manager_call_new(m);
    call->node_name = g_strdup(name);
    coroutine_start(manager_co_remove_node, call);
    return 1;
}

/* ---- ReopenNodes / Node.Reopen -------------------------------------------- */

static void coroutine_fn manager_co_reopen(void *opaque)
{
    ManagerCall *call = opaque;
    g_autoptr(GError) err = NULL;
    int r;

    if (graph_co_reopen(call->specs, &err) < 0) {
        r = bus_reply_gerror(call->msg, err);
    } else {
        bus_flush_property_changes();
        r = sd_bus_reply_method_return(call->msg, "");
    }
    reply_failed(call->msg, "Reopen", r);
    manager_call_free(call);
}

int bus_reopen_start(sd_bus_message *m, GPtrArray *specs)
{
    ManagerCall *call = manager_call_new(m);

    call->specs = specs;
    coroutine_start(manager_co_reopen, call);
    return 1;
}

static int method_reopen_nodes(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GPtrArray) specs =
        g_ptr_array_new_with_free_func((GDestroyNotify)blockdev_spec_free);
    g_auto(GStrv) xmls = NULL;
    int r;

    r = sd_bus_message_read_strv(m, &xmls);
    if (r < 0) {
        return r;
    }
    if (!xmls || !xmls[0]) {
        return sd_bus_error_set(ret_error, BUS_ERROR_PREFIX "InvalidArgument",
                                "ReopenNodes needs at least one <blockdev> snippet");
    }
    for (size_t i = 0; xmls[i]; i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *source = g_strdup_printf("<bus>[%zu]", i);
        BlockdevSpec *spec = blockdev_parse_xml(xmls[i], -1, source, &err);

        if (!spec) {
            return bus_error_set_gerror(ret_error, err);
        }
        g_ptr_array_add(specs, spec);
    }
    return bus_reopen_start(m, g_steal_pointer(&specs));
}

/* ---- GetGraph ------------------------------------------------------------ */

static int method_get_graph(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    const char *format;
    int r;

    r = sd_bus_message_read(m, "s", &format);
    if (r < 0) {
        return r;
    }
    if (!g_str_equal(format, "xml") && !g_str_equal(format, "dot")) {
        return sd_bus_error_setf(ret_error, BUS_ERROR_PREFIX "InvalidArgument",
                                 "Unknown graph format '%s' (expected 'xml' or 'dot')",
                                 format);
    }
    text = graph_describe(format, &err);
    if (!text) {
        return bus_error_set_gerror(ret_error, err);
    }
    return sd_bus_reply_method_return(m, "s", text);
}

/* ---- properties ---------------------------------------------------------- */

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *ret_error)
{
    return sd_bus_message_append(reply, "s", BLOCKGRAPH_VERSION);
}

static int property_get_features(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply,
                                 void *userdata, sd_bus_error *ret_error)
{
    return sd_bus_message_append_strv(reply, (char **)bus_features);
}

static const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Features", "as", property_get_features, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_METHOD_WITH_NAMES("AddNode", "s", SD_BUS_PARAM(xml), "o", SD_BUS_PARAM(node),
                             method_add_node, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RemoveNode", "s", SD_BUS_PARAM(node_name), "", ,
                             method_remove_node, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("ReopenNodes", "as", SD_BUS_PARAM(xml), "", ,
                             method_reopen_nodes, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("AddExport", "s", SD_BUS_PARAM(xml), "o", SD_BUS_PARAM(export),
                             bus_manager_method_add_export, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("StartJob", "s", SD_BUS_PARAM(xml), "o", SD_BUS_PARAM(job),
                             bus_manager_method_start_job, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetGraph", "s", SD_BUS_PARAM(format), "s", SD_BUS_PARAM(graph),
                             method_get_graph, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int bus_manager_register(sd_bus *bus)
{
    return sd_bus_add_object_vtable(bus, NULL, BUS_ROOT_PATH, BUS_INTERFACE_MANAGER,
                                    manager_vtable, NULL);
}
