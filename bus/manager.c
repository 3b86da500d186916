/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Manager at /org/blockgraph/BlockGraph1:
 * AddNode, RemoveNode, GetGraph, Version, Features.
 *
 * AddNode, RemoveNode and ReopenNodes open, flush and close images: they
 * reply later (bus_call_start), so the bus keeps answering other calls
 * meanwhile.
 */

#include "config.h"

#include <errno.h>

#include "aio/coroutine.h"
#include "bus/bus.h"
#include "bus/transaction.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "drivers/throttle-group.h"
#include "graph/iothread.h"
#include "xml/blockdev-parse.h"
#include "xml/iothread-parse.h"
#include "xml/disk.h"
#include "xml/throttle-parse.h"
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
    "nbd-tls",
    "blockdev-reopen",
    "image-locking",
    "dynamic-auto-read-only",
    "node-inactivation",
    "job-stream",
    "job-commit",
    "job-backup",
    "job-mirror",
    "dirty-bitmaps",
    "nbd-dirty-bitmap",
    "transaction",
    "authorize-polkit",
    "allow-path",
    "driver-nbd",
    "driver-rbd",
    "libvirt-disk",
    "throttle",
    "copy-on-read",
    "iothreads",
    "image-create",
    "image-create-rbd",
    NULL,
};

const char *const *bus_manager_features(void)
{
    return bus_features;
}

/* ---- AddNode ------------------------------------------------------------- */

static int coroutine_fn manager_co_add_node(void *data, char **ret_path, GError **errp)
{
    BlockNode *node = graph_co_add_node(data, errp);

    if (!node) {
        return -EINVAL;
    }
    *ret_path = bus_node_path(node);
    return 0;
}

static int method_add_node(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
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
    return bus_call_start(m, "AddNode", manager_co_add_node, spec,
                          (GDestroyNotify)blockdev_spec_free);
}

/* ---- RemoveNode ---------------------------------------------------------- */

static int coroutine_fn manager_co_remove_node(void *data, char **ret_path, GError **errp)
{
    return graph_co_remove_node(data, errp);
}

static int method_remove_node(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0) {
        return r;
    }
    return bus_call_start(m, "RemoveNode", manager_co_remove_node, g_strdup(name), g_free);
}

/* ---- ReopenNodes / Node.Reopen -------------------------------------------- */

static int coroutine_fn manager_co_reopen(void *data, char **ret_path, GError **errp)
{
    return graph_co_reopen(data, errp);
}

int bus_reopen_start(sd_bus_message *m, GPtrArray *specs)
{
    return bus_call_start(m, "Reopen", manager_co_reopen, specs,
                          (GDestroyNotify)g_ptr_array_unref);
}

static int method_reopen_nodes(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) xmls = NULL;
    GPtrArray *specs;
    int r;

    r = sd_bus_message_read_strv(m, &xmls);
    if (r < 0) {
        return r;
    }
    if (!xmls || !xmls[0]) {
        return bus_error_setf(ret_error, BG_ERROR_INVALID_ARGUMENT,
                              "ReopenNodes needs at least one <blockdev> snippet");
    }
    specs = blockdev_parse_xml_list((const char *const *)xmls, &err);
    if (!specs) {
        return bus_error_set_gerror(ret_error, err);
    }
    return bus_reopen_start(m, specs);
}

/* ---- AddDisk / RemoveDisk (libvirt <disk>) ---------------------------- */

static int coroutine_fn manager_co_add_disk(void *data, char **ret_path, GError **errp)
{
    BlockNode *node = disk_co_add(data, errp);

    if (!node)
        return -EINVAL;
    *ret_path = bus_node_path(node);
    return 0;
}

static int method_add_disk(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
    DiskSpec *spec;
    int r;

    r = sd_bus_message_read(m, "s", &xml);
    if (r < 0)
        return r;
    spec = disk_parse_xml(xml, -1, "<bus>", &err);
    if (!spec)
        return bus_error_set_gerror(ret_error, err);
    return bus_call_start(m, "AddDisk", manager_co_add_disk, spec,
                          (GDestroyNotify)disk_spec_free);
}

static int coroutine_fn manager_co_remove_disk(void *data, char **ret_path, GError **errp)
{
    return disk_co_remove(data, errp);
}

static int method_remove_disk(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const char *name;
    int r;

    r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    return bus_call_start(m, "RemoveDisk", manager_co_remove_disk, g_strdup(name), g_free);
}

/* ---- SetThrottleGroup ---------------------------------------------------- */

static int method_set_throttle_group(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ThrottleGroupSpec) spec = NULL;
    const char *xml;
    int r;

    r = sd_bus_message_read(m, "s", &xml);
    if (r < 0)
        return r;
    spec = throttle_group_parse_xml(xml, -1, "<bus>", &err);
    if (!spec || !throttle_group_set(spec->id, spec->limits, false, &err))
        return bus_error_set_gerror(ret_error, err);
    return sd_bus_reply_method_return(m, "");
}

/* ---- AddIOThread / RemoveIOThread ---------------------------------------- */

/* The set of iothreads changed: IOThreads tells it, and the call is answered. */
static int iothreads_changed_reply(sd_bus_message *m)
{
    (void)sd_bus_emit_properties_changed(sd_bus_message_get_bus(m), BUS_ROOT_PATH,
                                         BUS_INTERFACE_MANAGER, "IOThreads", NULL);
    return sd_bus_reply_method_return(m, "");
}

static int method_add_iothread(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *id = NULL;
    const char *xml;
    int r;

    r = sd_bus_message_read(m, "s", &xml);
    if (r < 0)
        return r;
    id = iothread_parse_xml(xml, -1, "<bus>", &err);
    if (!id || !iothread_add(id, &err))
        return bus_error_set_gerror(ret_error, err);
    return iothreads_changed_reply(m);
}

static int method_remove_iothread(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *id;
    int r;

    r = sd_bus_message_read(m, "s", &id);
    if (r < 0)
        return r;
    if (!iothread_remove(id, &err))
        return bus_error_set_gerror(ret_error, err);
    return iothreads_changed_reply(m);
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
        return bus_error_setf(ret_error, BG_ERROR_INVALID_ARGUMENT,
                              "Unknown graph format '%s' (expected 'xml' or 'dot')", format);
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

static int property_get_iothreads(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply,
                                  void *userdata, sd_bus_error *ret_error)
{
    g_auto(GStrv) ids = iothread_ids();

    return sd_bus_message_append_strv(reply, ids);
}

static const sd_bus_vtable manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Features", "as", property_get_features, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("IOThreads", "as", property_get_iothreads, 0,
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
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
    SD_BUS_METHOD_WITH_NAMES("CreateImage", "s", SD_BUS_PARAM(xml), "o", SD_BUS_PARAM(job),
                             bus_manager_method_create_image, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Transaction", "as", SD_BUS_PARAM(actions), "", ,
                             bus_manager_method_transaction, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("AddDisk", "s", SD_BUS_PARAM(xml), "o", SD_BUS_PARAM(node),
                             method_add_disk, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RemoveDisk", "s", SD_BUS_PARAM(node_name), "", ,
                             method_remove_disk, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("SetThrottleGroup", "s", SD_BUS_PARAM(xml), "", ,
                             method_set_throttle_group, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("AddIOThread", "s", SD_BUS_PARAM(xml), "", ,
                             method_add_iothread, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("RemoveIOThread", "s", SD_BUS_PARAM(id), "", ,
                             method_remove_iothread, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetGraph", "s", SD_BUS_PARAM(format), "s", SD_BUS_PARAM(graph),
                             method_get_graph, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int bus_manager_register(sd_bus *bus)
{
    return sd_bus_add_object_vtable(bus, NULL, BUS_ROOT_PATH, BUS_INTERFACE_MANAGER,
                                    manager_vtable, NULL);
}
