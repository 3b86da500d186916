/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus connection: set-up, name, ObjectManager, error mapping, paths,
 * object signals and batched PropertiesChanged.
 */

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "bus/authorize.h"
#include "bus/bus.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/node.h"

typedef int (*BusRegistrar)(sd_bus *bus);

/* Every interface of the daemon; one line per bus/<x>.c. */
static const BusRegistrar bus_registrars[] = {
    bus_manager_register,
    bus_node_register,
    bus_driver_register,
    bus_export_register,
    bus_job_register,
};

typedef struct PendingChange {
    char *path;
    char *interface;
    GPtrArray *properties;      /* char*, owned, no duplicates */
} PendingChange;

static struct {
    sd_bus *bus;
    sd_event_source *defer;     /* flushes pending changes; disabled when idle */
    GHashTable *pending;        /* "path\ninterface" -> PendingChange* */
    void (*on_disconnect)(void);
} bus_state;

sd_bus *bus_get(void)
{
    return bus_state.bus;
}

/* ---- errors -------------------------------------------------------------- */

/* org.blockgraph.BlockGraph1.Error.<Name>, the names from graph/error.c (spelled there only). */
const char *bus_error_code_name(BgErrorCode code)
{
    static char *names[BG_ERROR_COUNT];

    g_assert(code > BG_ERROR_FAILED && code < BG_ERROR_COUNT);
    if (!names[code]) {
        names[code] = g_strconcat(BUS_ERROR_PREFIX, bg_error_code_name(code), NULL);
    }
    return names[code];
}

const char *bus_error_name(const GError *err)
{
    if (!err || err->domain != BG_ERROR || err->code <= BG_ERROR_FAILED ||
        err->code >= BG_ERROR_COUNT) {
        return SD_BUS_ERROR_FAILED;
    }
    return bus_error_code_name(err->code);
}

int bus_error_setf(sd_bus_error *ret_error, BgErrorCode code, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;

    va_start(ap, fmt);
    err = g_error_new_valist(BG_ERROR, code, fmt, ap);
    va_end(ap);
    return bus_error_set_gerror(ret_error, err);
}

static const char *bus_error_message(const GError *err)
{
    return err && err->message ? err->message : "Unknown error";
}

int bus_error_set_gerror(sd_bus_error *ret_error, const GError *err)
{
    return sd_bus_error_set(ret_error, bus_error_name(err), bus_error_message(err));
}

int bus_reply_gerror(sd_bus_message *m, const GError *err)
{
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int r;

    sd_bus_error_set(&error, bus_error_name(err), bus_error_message(err));
    r = sd_bus_reply_method_error(m, &error);
    sd_bus_error_free(&error);
    return r;
}

/* ---- paths --------------------------------------------------------------- */

char *bus_path_encode(const char *prefix, const char *name)
{
    char *path = NULL;

    if (sd_bus_path_encode(prefix, name, &path) < 0) {
        g_error("out of memory encoding an object path");
    }
    return path;   /* malloc()ed; g_free is free() with the system allocator */
}

char *bus_path_decode(const char *prefix, const char *path)
{
    size_t len = strlen(prefix);
    char *name = NULL;

    /* Exactly one label below prefix: not prefix itself, not deeper. */
    if (strncmp(path, prefix, len) != 0 || path[len] != '/' || path[len + 1] == '\0' ||
        strchr(path + len + 1, '/')) {
        return NULL;
    }
    if (sd_bus_path_decode(path, prefix, &name) <= 0 || !name || !*name) {
        free(name);
        return NULL;
    }
    return name;
}

char *bus_node_path(const BlockNode *node)
{
    return bus_path_encode(BUS_NODE_PREFIX, node->name);
}

int bus_register_fallback(sd_bus *bus, const char *prefix, const char *interface,
                          const sd_bus_vtable *vtable,
                          sd_bus_object_find_t find,
                          sd_bus_node_enumerator_t enumerator)
{
    int r;

    r = sd_bus_add_fallback_vtable(bus, NULL, prefix, interface, vtable, find, NULL);
    if (r < 0) {
        return r;
    }
    return sd_bus_add_node_enumerator(bus, NULL, prefix, enumerator, NULL);
}

/* ---- signals ------------------------------------------------------------- */

static void pending_change_free(gpointer p)
{
    PendingChange *c = p;

    g_free(c->path);
    g_free(c->interface);
    g_ptr_array_unref(c->properties);
    g_free(c);
}

void bus_emit_object_added(const char *path, const char *interface)
{
    int r;

    if (!bus_state.bus) {
        return;
    }
    r = sd_bus_emit_interfaces_added(bus_state.bus, path, interface, NULL);
    if (r < 0) {
        g_warning("Failed to emit InterfacesAdded for %s: %s", path, g_strerror(-r));
    }
}

static void drop_pending_for_path(const char *path)
{
    GHashTableIter it;
    PendingChange *c;

    if (!bus_state.pending) {
        return;
    }
    g_hash_table_iter_init(&it, bus_state.pending);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&c)) {
        if (strcmp(c->path, path) == 0) {
            g_hash_table_iter_remove(&it);
        }
    }
}

void bus_emit_object_removed(const char *path, const char *interface)
{
    int r;

    if (!bus_state.bus) {
        return;
    }
    drop_pending_for_path(path);
    r = sd_bus_emit_interfaces_removed(bus_state.bus, path, interface, NULL);
    if (r < 0) {
        g_warning("Failed to emit InterfacesRemoved for %s: %s", path, g_strerror(-r));
    }
}

static void emit_one_change(PendingChange *c)
{
    char **names;
    int r;

    g_ptr_array_add(c->properties, NULL);
    names = (char **)c->properties->pdata;
    r = sd_bus_emit_properties_changed_strv(bus_state.bus, c->path, c->interface, names);
    if (r < 0 && r != -ENOENT) {
        g_warning("Failed to emit PropertiesChanged for %s: %s", c->path, g_strerror(-r));
    }
}

void bus_flush_property_changes(void)
{
    GHashTable *pending = bus_state.pending;
    GHashTableIter it;
    PendingChange *c;

    if (!pending || g_hash_table_size(pending) == 0) {
        return;
    }
    /* Swap first: a getter may queue more changes. */
    bus_state.pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              pending_change_free);
    g_hash_table_iter_init(&it, pending);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&c)) {
        emit_one_change(c);
    }
    g_hash_table_unref(pending);
}

static int on_defer(sd_event_source *s, void *userdata)
{
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    bus_flush_property_changes();
    return 0;
}

static bool ptr_array_has_string(GPtrArray *a, const char *s)
{
    for (guint i = 0; i < a->len; i++) {
        if (strcmp(g_ptr_array_index(a, i), s) == 0) {
            return true;
        }
    }
    return false;
}

void bus_queue_property_changed(const char *path, const char *interface,
                                const char *property)
{
    g_autofree char *key = NULL;
    PendingChange *c;

    if (!bus_state.bus) {
        return;
    }
    key = g_strconcat(path, "\n", interface, NULL);
    c = g_hash_table_lookup(bus_state.pending, key);
    if (!c) {
        c = g_new0(PendingChange, 1);
        c->path = g_strdup(path);
        c->interface = g_strdup(interface);
        c->properties = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(bus_state.pending, g_steal_pointer(&key), c);
    }
    if (!ptr_array_has_string(c->properties, property)) {
        g_ptr_array_add(c->properties, g_strdup(property));
    }
    sd_event_source_set_enabled(bus_state.defer, SD_EVENT_ONESHOT);
}

/* ---- connection ---------------------------------------------------------- */

static void listener_node_added(BlockNode *node, void *opaque)
{
    bus_node_added(node);
}

static void listener_node_removed(BlockNode *node, void *opaque)
{
    bus_node_removed(node);
}

static void listener_node_changed(BlockNode *node, NodeChange change, void *opaque)
{
    bus_node_changed(node, change);
}

static const GraphListener bus_graph_listener = {
    .node_added = listener_node_added,
    .node_removed = listener_node_removed,
    .node_changed = listener_node_changed,
};

static int bus_connect(BusKind kind, const char *address, sd_bus **ret)
{
    sd_bus *bus = NULL;
    int r;

    switch (kind) {
    case BUS_KIND_SYSTEM:
        return sd_bus_open_system_with_description(ret, "blockgraphd");
    case BUS_KIND_SESSION:
        return sd_bus_open_user_with_description(ret, "blockgraphd");
    case BUS_KIND_ADDRESS:
        break;
    }
    r = sd_bus_new(&bus);
    if (r < 0) {
        return r;
    }
    r = sd_bus_set_address(bus, address);
    if (r >= 0) {
        r = sd_bus_set_bus_client(bus, true);
    }
    if (r >= 0) {
        r = sd_bus_set_description(bus, "blockgraphd");
    }
    if (r >= 0) {
        r = sd_bus_start(bus);
    }
    if (r < 0) {
        sd_bus_unref(bus);
        return r;
    }
    *ret = bus;
    return 0;
}

static const char *bus_kind_describe(BusKind kind, const char *address)
{
    switch (kind) {
    case BUS_KIND_SYSTEM:
        return "the system bus";
    case BUS_KIND_SESSION:
        return "the session bus";
    default:
        return address;
    }
}

void bus_set_disconnect_handler(void (*handler)(void))
{
    bus_state.on_disconnect = handler;
}

static void bus_lost(void)
{
    if (bus_state.on_disconnect) {
        bus_state.on_disconnect();
    }
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_warning("Lost the connection to the bus");
    bus_lost();
    return 0;
}

static int bus_setup_objects(sd_bus *bus)
{
    int r;

    r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus.Local", "/org/freedesktop/DBus/Local",
                            "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, NULL);
    if (r < 0) {
        return r;
    }
    r = bus_authorize_attach(bus);
    if (r < 0) {
        return r;
    }
    r = sd_bus_add_object_manager(bus, NULL, BUS_ROOT_PATH);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bus_registrars); i++) {
        r = bus_registrars[i](bus);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

bool bus_open(BusKind kind, const char *address, GError **errp)
{
    const char *where = bus_kind_describe(kind, address);
    sd_bus *bus = NULL;
    int r;

    g_return_val_if_fail(!bus_state.bus, false);
    r = bus_connect(kind, address, &bus);
    if (r < 0) {
        bg_set_error_errno(errp, r, "Failed to connect to %s", where);
        return false;
    }
    bus_state.bus = bus;
    bus_state.pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                              pending_change_free);
    r = bus_loop_attach(bus, bus_lost);
    if (r >= 0) {
        r = sd_event_add_defer(aio_loop(), &bus_state.defer, on_defer, NULL);
    }
    if (r >= 0) {
        r = sd_event_source_set_enabled(bus_state.defer, SD_EVENT_OFF);
    }
    if (r >= 0) {
        r = bus_setup_objects(bus);
    }
    if (r < 0) {
        bg_set_error_errno(errp, r, "Failed to set up objects on %s", where);
        bus_close();
        return false;
    }
    graph_set_listener(&bus_graph_listener, NULL);
    r = sd_bus_request_name(bus, BUS_NAME, 0);
    if (r < 0) {
        bg_set_error_errno(errp, r, "Failed to acquire name %s on %s", BUS_NAME, where);
        bus_close();
        return false;
    }
    return true;
}

void coroutine_fn bus_co_shutdown(void)
{
    if (bus_state.bus) {
        int r = sd_bus_release_name(bus_state.bus, BUS_NAME);
        if (r < 0 && r != -ESRCH && r != -ENOTCONN) {
            g_warning("Failed to release %s: %s", BUS_NAME, g_strerror(-r));
        }
    }
    bus_co_wait_calls();
    bus_close();
}

void bus_close(void)
{
    if (!bus_state.bus) {
        return;
    }
    graph_set_listener(NULL, NULL);
    bus_flush_property_changes();
    sd_bus_flush(bus_state.bus);
    bus_state.defer = sd_event_source_disable_unref(bus_state.defer);
    bus_authorize_detach();
    g_clear_pointer(&bus_state.pending, g_hash_table_unref);
    bus_loop_detach();
    bus_state.bus = sd_bus_flush_close_unref(bus_state.bus);
}
