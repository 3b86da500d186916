/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: the bus connection, method calls, error messages, object paths. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "bgctl.h"

int ctl_connect(Ctl *ctl, int session, const char *address)
{
    const char *where = address ? address : session ? "the session bus" : "the system bus";
    int r;

    if (address) {
        r = sd_bus_new(&ctl->bus);
        if (r >= 0)
            r = sd_bus_set_address(ctl->bus, address);
        if (r >= 0)
            r = sd_bus_set_bus_client(ctl->bus, 1);
        if (r >= 0)
            r = sd_bus_start(ctl->bus);
    } else if (session) {
        r = sd_bus_open_user_with_description(&ctl->bus, "bgctl");
    } else {
        r = sd_bus_open_system_with_description(&ctl->bus, "bgctl");
    }
    if (r < 0)
        return ctl_fail("cannot connect to %s: %s", where, strerror(-r));
    /* polkit may ask the person at the terminal (as systemctl does). */
    if (isatty(STDIN_FILENO))
        sd_bus_set_allow_interactive_authorization(ctl->bus, 1);
    return 0;
}

/* Prints the D-Bus error's message (the daemon names what went wrong) and
 * returns the exit code for it. */
int ctl_bus_failed(const sd_bus_error *error, int r, const char *what)
{
    if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
        sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
        return ctl_fail("blockgraphd is not running on this bus (%s)", error->message);
    if (error && error->message && *error->message)
        return ctl_fail("%s", error->message);
    if (error && error->name)
        return ctl_fail("%s: %s", what, error->name);
    return ctl_fail("%s: %s", what, strerror(-r));
}

int ctl_call(Ctl *ctl, const char *path, const char *iface, const char *method,
             sd_bus_message **ret_reply, const char *types, ...)
{
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
    va_list ap;
    int r;

    va_start(ap, types);
    r = sd_bus_call_methodv(ctl->bus, BG_BUS_NAME, path, iface, method, &error, ret_reply,
                            types, ap);
    va_end(ap);
    if (r < 0)
        return ctl_bus_failed(&error, r, method);
    return 0;
}

/* The object path of a node, export or job by name (sd_bus_path_encode). */
char *ctl_object_path(const char *kind, const char *name)
{
    g_autofree char *prefix = g_strdup_printf("%s/%s", BG_ROOT_PATH, kind);
    char *path = NULL;

    if (sd_bus_path_encode(prefix, name, &path) < 0)
        abort();
    return path;
}

/* Properties of one object; "no <what>" when it does not exist. */
int ctl_get_all(Ctl *ctl, const char *path, const char *iface, const char *what,
                JsonObject **ret)
{
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    g_autoptr(JsonNode) node = NULL;
    int r;

    r = sd_bus_call_method(ctl->bus, BG_BUS_NAME, path, "org.freedesktop.DBus.Properties",
                           "GetAll", &error, &reply, "s", iface);
    if (r < 0 && what && (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
                          sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_INTERFACE)))
        return -ENOENT;
    if (r < 0)
        return ctl_bus_failed(&error, r, "GetAll");
    r = json_from_message(reply, &node);
    if (r < 0 || !JSON_NODE_HOLDS_OBJECT(node))
        return ctl_fail("cannot read the properties of %s", path);
    *ret = json_object_ref(json_node_get_object(node));
    return 0;
}

/* GetManagedObjects as {path: {interface: {property: value}}}. */
int ctl_managed_objects(Ctl *ctl, JsonObject **ret)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    g_autoptr(JsonNode) node = NULL;
    int r;

    r = ctl_call(ctl, BG_ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                 &reply, "");
    if (r)
        return r;
    r = json_from_message(reply, &node);
    if (r < 0 || !JSON_NODE_HOLDS_OBJECT(node))
        return ctl_fail("cannot read the daemon's objects");
    *ret = json_object_ref(json_node_get_object(node));
    return 0;
}

static gint compare_by_key(gconstpointer a, gconstpointer b, gpointer key)
{
    JsonObject *x = *(JsonObject **)a, *y = *(JsonObject **)b;

    return g_strcmp0(json_str(x, key), json_str(y, key));
}

/* The property objects of every object with iface, sorted by property key. */
GPtrArray *ctl_objects_of(JsonObject *managed, const char *iface, const char *key)
{
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
    JsonObjectIter iter;
    JsonNode *ifaces;

    json_object_iter_init(&iter, managed);
    while (json_object_iter_next(&iter, NULL, &ifaces)) {
        JsonObject *o = json_node_get_object(ifaces);
        if (json_object_has_member(o, iface))
            g_ptr_array_add(list, json_object_ref(json_object_get_object_member(o, iface)));
    }
    g_ptr_array_sort_with_data(list, compare_by_key, (gpointer)key);
    return list;
}

/* Calls a method with one string argument (or none) that returns a string. */
int ctl_get_string(Ctl *ctl, const char *path, const char *iface, const char *method,
                   const char *arg, char **ret)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *s;
    int r;

    r = arg ? ctl_call(ctl, path, iface, method, &reply, "s", arg)
            : ctl_call(ctl, path, iface, method, &reply, "");
    if (r)
        return r;
    if (sd_bus_message_read(reply, "s", &s) < 0)
        return ctl_fail("%s: unexpected reply", method);
    *ret = strdup(s);
    return 0;
}

/* A method of the node, export or job called name; "No <kind> 'name' known"
 * (the daemon's words) when there is no such object. */
int ctl_call_object(Ctl *ctl, const char *kind, const char *name, const char *iface,
                    const char *method, sd_bus_message **ret_reply, const char *types, ...)
{
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *path = ctl_object_path(kind, name);
    va_list ap;
    int r;

    va_start(ap, types);
    r = sd_bus_call_methodv(ctl->bus, BG_BUS_NAME, path, iface, method, &error, ret_reply,
                            types, ap);
    va_end(ap);
    if (r >= 0)
        return 0;
    if (sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT,
                               SD_BUS_ERROR_UNKNOWN_INTERFACE, SD_BUS_ERROR_UNKNOWN_METHOD))
        return ctl_fail("No %s '%s' known", kind, name);
    return ctl_bus_failed(&error, r, method);
}
