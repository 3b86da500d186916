/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Driver: one object per entry of block_drivers()
 * under /org/blockgraph/BlockGraph1/driver/<encoded driver name>.  The
 * options come straight from the option tables (common options first).
 */

#include "bus/bus.h"
#include "graph/driver.h"
#include "graph/node.h"

static int driver_object_find(sd_bus *bus, const char *path, const char *interface,
                              void *userdata, void **ret_found, sd_bus_error *ret_error)
{
    g_autofree char *name = bus_path_decode(BUS_DRIVER_PREFIX, path);
    const BlockDriver *drv;

    if (!name) {
        return 0;
    }
    drv = block_driver_find(name);
    if (!drv) {
        return 0;
    }
    *ret_found = (void *)drv;
    return 1;
}

static int driver_node_enumerator(sd_bus *bus, const char *path, void *userdata,
                                  char ***ret_nodes, sd_bus_error *ret_error)
{
    const BlockDriver *const *drivers = block_drivers();
    GPtrArray *paths = g_ptr_array_new();

    for (size_t i = 0; drivers[i]; i++) {
        g_ptr_array_add(paths, bus_path_encode(BUS_DRIVER_PREFIX, drivers[i]->name));
    }
    g_ptr_array_add(paths, NULL);
    *ret_nodes = (char **)g_ptr_array_free(paths, FALSE);
    return 1;
}

#define DRIVER_GETTER(fn) \
    static int fn(sd_bus *bus, const char *path, const char *interface, \
                  const char *property, sd_bus_message *reply, \
                  void *userdata, sd_bus_error *ret_error)

DRIVER_GETTER(property_get_name)
{
    const BlockDriver *drv = userdata;

    return sd_bus_message_append(reply, "s", drv->name);
}

DRIVER_GETTER(property_get_kind)
{
    const BlockDriver *drv = userdata;

    return sd_bus_message_append(reply, "s", block_driver_kind_name(drv->kind));
}

/* The table's description, plus the limit when the option has one. */
static char *option_description(const OptionSpec *o)
{
    const char *text = o->description ? o->description : "";

    if (!o->max_value)
        return g_strdup(text);
    return g_strdup_printf("%s (at most %" G_GUINT64_FORMAT ")", text, o->max_value);
}

static int append_option_table(sd_bus_message *reply, const BlockDriver *drv,
                               const OptionSpec *table)
{
    int r = 0;

    for (size_t i = 0; table && table[i].name && r >= 0; i++) {
        const OptionSpec *o = &table[i];
        g_autofree char *type = option_type_describe(o);
        g_autofree char *description = option_description(o);

        r = sd_bus_message_append(reply, "(sssbs)", o->name, type,
                                  o->default_value ? o->default_value : "",
                                  (int)block_driver_option_mutable(drv, o), description);
    }
    return r;
}

DRIVER_GETTER(property_get_options)
{
    const BlockDriver *drv = userdata;
    int r;

    r = sd_bus_message_open_container(reply, 'a', "(sssbs)");
    if (r >= 0) {
        r = append_option_table(reply, drv, node_common_options);
    }
    if (r >= 0) {
        r = append_option_table(reply, drv, drv->options);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int append_strv_or_empty(sd_bus_message *reply, const char *const *strv)
{
    static const char *const empty[] = { NULL };

    return sd_bus_message_append_strv(reply, (char **)(strv ? strv : empty));
}

DRIVER_GETTER(property_get_child_roles)
{
    const BlockDriver *drv = userdata;

    return append_strv_or_empty(reply, drv->child_roles);
}

DRIVER_GETTER(property_get_capabilities)
{
    g_auto(GStrv) caps = block_driver_capabilities(userdata);

    return sd_bus_message_append_strv(reply, caps);
}

DRIVER_GETTER(property_get_dynamic_read_only)
{
    const BlockDriver *drv = userdata;

    return sd_bus_message_append(reply, "b", (int)drv->dynamic_read_only);
}

static const sd_bus_vtable driver_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", property_get_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Options", "a(sssbs)", property_get_options, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("ChildRoles", "as", property_get_child_roles, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Capabilities", "as", property_get_capabilities, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("DynamicReadOnly", "b", property_get_dynamic_read_only, 0,
                    SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_VTABLE_END,
};

int bus_driver_register(sd_bus *bus)
{
    return bus_register_fallback(bus, BUS_DRIVER_PREFIX, BUS_INTERFACE_DRIVER, driver_vtable,
                                 driver_object_find, driver_node_enumerator);
}
