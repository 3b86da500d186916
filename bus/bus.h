/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The D-Bus face: one connection, attached to the main sd-event loop
 * (aio_loop()), owning org.blockgraph.BlockGraph1 with an ObjectManager at
 * /org/blockgraph/BlockGraph1.  One file per interface (manager.c, node.c,
 * driver.c, export.c ...) registers its vtable through bus_open(); this
 * header is the small API those files share.
 *
 * Every helper that emits something is a no-op while no connection is open
 * (--check-config, unit tests), so graph code may call them freely.
 *
 * Writing a new interface file (bus/export.c as the example):
 *
 *   static int export_object_find(sd_bus *bus, const char *path,
 *                                 const char *interface, void *userdata,
 *                                 void **ret_found, sd_bus_error *error)
 *   {
 *       g_autofree char *id = bus_path_decode(BUS_EXPORT_PREFIX, path);
 *       Export *e = id ? export_lookup(id) : NULL;
 *       if (!e) return 0;             // not ours: "unknown object"
 *       *ret_found = e;
 *       return 1;
 *   }
 *   static int export_node_enumerator(sd_bus *bus, const char *path,
 *                                     void *userdata, char ***ret_nodes,
 *                                     sd_bus_error *error);   // strv of paths
 *   static const sd_bus_vtable export_vtable[] = { ... };
 *
 *   int bus_export_register(sd_bus *bus)
 *   {
 *       return bus_register_fallback(bus, BUS_EXPORT_PREFIX, BUS_INTERFACE_EXPORT,
 *                                    export_vtable, export_object_find,
 *                                    export_node_enumerator);
 *   }
 *
 * and add bus_export_register to bus_registrars[] in bus.c (one line).
 * When an object appears call bus_emit_object_added(path, interface), when it
 * goes bus_emit_object_removed(path, interface) (this also drops queued
 * PropertiesChanged for it), and when a property changes
 * bus_queue_property_changed(path, interface, "Clients").
 *
 * Methods that need I/O reply later, through bus_call_start() (call.c):
 *
 *   static int coroutine_fn export_co_remove_call(void *data, char **ret_path,
 *                                                 GError **errp)
 *   {   ... runs in a coroutine; 0, or a negative errno with *errp set ... }
 *   return bus_call_start(m, "Export.Remove", export_co_remove_call, data, free);
 */

#include <stdbool.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "graph/error.h"
#include "graph/node.h"
#include <systemd/sd-bus.h>

#define BUS_NAME             "org.blockgraph.BlockGraph1"
#define BUS_ROOT_PATH        "/org/blockgraph/BlockGraph1"
#define BUS_NODE_PREFIX      BUS_ROOT_PATH "/node"
#define BUS_JOB_PREFIX       BUS_ROOT_PATH "/job"
#define BUS_DRIVER_PREFIX    BUS_ROOT_PATH "/driver"
#define BUS_EXPORT_PREFIX    BUS_ROOT_PATH "/export"

#define BUS_INTERFACE_MANAGER "org.blockgraph.BlockGraph1.Manager"
#define BUS_INTERFACE_NODE    "org.blockgraph.BlockGraph1.Node"
#define BUS_INTERFACE_DRIVER  "org.blockgraph.BlockGraph1.Driver"
#define BUS_INTERFACE_JOB     "org.blockgraph.BlockGraph1.Job"
#define BUS_INTERFACE_EXPORT  "org.blockgraph.BlockGraph1.Export"

#define BUS_ERROR_PREFIX      "org.blockgraph.BlockGraph1.Error."

typedef enum BusKind {
    BUS_KIND_SYSTEM,
    BUS_KIND_SESSION,
    BUS_KIND_ADDRESS,        /* address given */
} BusKind;

/*
 * Connects (address only for BUS_KIND_ADDRESS), attaches to aio_loop(),
 * registers the ObjectManager and every interface (bus_registrars[]),
 * subscribes to graph changes and requests BUS_NAME.  One connection per
 * process.  Errors name the bus and the failed step.
 */
bool bus_open(BusKind kind, const char *address, GError **errp);

/* Called (once) when the connection to the bus is lost. */
void bus_set_disconnect_handler(void (*handler)(void));

/* Flushes queued signals, releases the name and closes.  Safe when not open. */
void bus_close(void);

/*
 * Shutdown: releases the name (no new callers find us), waits until every
 * call that is still running in a coroutine has replied, then bus_close().
 */
void coroutine_fn bus_co_shutdown(void);

/*
 * The work of a method that replies later; runs in a coroutine.  Returns 0,
 * setting *ret_path (g_malloc'd) for a method that returns an object path,
 * or a negative errno with *errp set (without it the error says "<what>
 * failed" and the errno).
 */
typedef int coroutine_fn (*BusCallFn)(void *data, char **ret_path, GError **errp);

/*
 * Keeps m, runs fn(data) in a coroutine and replies when it returns: the
 * error, or (after sending queued PropertiesChanged and object signals) an
 * empty reply or the path.  Then frees data with free_data (may be NULL).
 * what names the call in messages ("AddNode", "Node.Flush").  The call
 * counts for bus_co_shutdown until it has replied.  Returns 1 (the return
 * value of a method handler whose reply comes later).
 */
int bus_call_start(sd_bus_message *m, const char *what, BusCallFn fn, void *data,
                   GDestroyNotify free_data);

/* Waits until every call started by bus_call_start has replied (shutdown). */
void coroutine_fn bus_co_wait_calls(void);

/* The connection, or NULL when none is open. */
sd_bus *bus_get(void);

/*
 * The connection's sources on the main loop, dispatched without the
 * iothreads' locks except for calls that change things (bus/bus-loop.c).
 * lost: called when the connection fails without a Disconnected signal.
 */
int bus_loop_attach(sd_bus *bus, void (*lost)(void));
void bus_loop_detach(void);

/* ---- errors -------------------------------------------------------------- */

/*
 * The D-Bus error name of a GError: org.blockgraph.BlockGraph1.Error.<Name>
 * for domain BG_ERROR (BG_ERROR_FAILED and other domains:
 * org.freedesktop.DBus.Error.Failed).  Static string.
 */
const char *bus_error_name(const GError *err);
/* The same for a code other than BG_ERROR_FAILED. */
const char *bus_error_code_name(BgErrorCode code);

/*
 * Fills ret_error from err (name as above, err->message as message) and
 * returns a negative errno, so a synchronous method handler can do
 * `return bus_error_set_gerror(ret_error, err);`.
 */
int bus_error_set_gerror(sd_bus_error *ret_error, const GError *err);

/* The same from a BG_ERROR code and a message: no error name is spelled outside graph/error.c. */
int bus_error_setf(sd_bus_error *ret_error, BgErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Sends err as the error reply to a kept method call m (asynchronous methods). */
int bus_reply_gerror(sd_bus_message *m, const GError *err);

/* ---- paths --------------------------------------------------------------- */

/*
 * prefix + "/" + sd_bus_path_encode(name): bus_path_encode(BUS_NODE_PREFIX,
 * "disk0") is "/org/blockgraph/BlockGraph1/node/disk0".  g_free the result.
 * Never NULL.
 */
char *bus_path_encode(const char *prefix, const char *name);

/* The name in a path under prefix (one level), or NULL.  g_free the result. */
char *bus_path_decode(const char *prefix, const char *path);

/* The node's object path.  g_free the result. */
struct BlockNode;
char *bus_node_path(const struct BlockNode *node);

/*
 * Registers a fallback vtable for objects under prefix (with the enumerator
 * for introspection and GetManagedObjects).  Returns a negative errno.
 */
int bus_register_fallback(sd_bus *bus, const char *prefix, const char *interface,
                          const sd_bus_vtable *vtable,
                          sd_bus_object_find_t find,
                          sd_bus_node_enumerator_t enumerator);

/* ---- signals ------------------------------------------------------------- */

/* InterfacesAdded for interface at path, with its properties.  The object must be findable. */
void bus_emit_object_added(const char *path, const char *interface);

/* InterfacesRemoved for interface at path; drops queued PropertiesChanged for path. */
void bus_emit_object_removed(const char *path, const char *interface);

/*
 * Queues a PropertiesChanged for property of interface at path.  Changes
 * are collected and sent from an sd-event defer source on the next loop
 * iteration, one signal per (path, interface) with every changed property.
 */
void bus_queue_property_changed(const char *path, const char *interface,
                                const char *property);

/* Sends everything queued now (before replying to a call that changed things, at exit). */
void bus_flush_property_changes(void);

/* ---- interfaces (each bus/<x>.c) ----------------------------------------- */

int bus_manager_register(sd_bus *bus);
int bus_node_register(sd_bus *bus);
int bus_driver_register(sd_bus *bus);
int bus_export_register(sd_bus *bus);
int bus_job_register(sd_bus *bus);

/*
 * Reopens the nodes of specs (BlockdevSpec*, taken) in one transaction in a
 * coroutine and replies to m when done (Manager.ReopenNodes, Node.Reopen).
 * Returns 1 (the reply comes later).
 */
int bus_reopen_start(sd_bus_message *m, GPtrArray *specs);

/* Manager.AddExport, in export.c (the Manager vtable points at it). */
int bus_manager_method_add_export(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
/* Manager.StartJob, in job.c. */
int bus_manager_method_start_job(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
/* The caller's effective uid, or (uint32_t)-1 unknown (a job's StartedByUID). */
uint32_t bus_caller_uid(sd_bus_message *m);
/* Manager.CreateImage, in job.c. */
int bus_manager_method_create_image(sd_bus_message *m, void *userdata,
                                    sd_bus_error *ret_error);

/* Graph listener callbacks (node.c); bus_open installs them. */
void bus_node_added(struct BlockNode *node);
void bus_node_removed(struct BlockNode *node);
void bus_node_changed(struct BlockNode *node, NodeChange change);

/*
 * Manager.Features: what this build really does.  The list lives in
 * manager.c (bus_features[]); add a line there when a feature lands.
 */
const char *const *bus_manager_features(void);
