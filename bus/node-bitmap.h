/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Node.Bitmaps and the bitmap methods of the Node interface (bus/node-bitmap.c). */

#include <systemd/sd-bus.h>

int bus_node_get_bitmaps(sd_bus *bus, const char *path, const char *interface,
                         const char *property, sd_bus_message *reply, void *userdata,
                         sd_bus_error *ret_error);
int bus_node_method_add_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int bus_node_method_remove_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int bus_node_method_clear_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int bus_node_method_enable_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int bus_node_method_disable_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int bus_node_method_merge_bitmaps(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/* The vtable lines of bus/node.c's Node interface. */
#define BUS_NODE_BITMAP_VTABLE \
    SD_BUS_PROPERTY("Bitmaps", "a(sutbbbb)", bus_node_get_bitmaps, 0, \
                    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE), \
    SD_BUS_METHOD_WITH_NAMES("AddBitmap", "subb", \
                             SD_BUS_PARAM(name) SD_BUS_PARAM(granularity) \
                             SD_BUS_PARAM(persistent) SD_BUS_PARAM(disabled), "", , \
                             bus_node_method_add_bitmap, SD_BUS_VTABLE_UNPRIVILEGED), \
    SD_BUS_METHOD_WITH_NAMES("RemoveBitmap", "s", SD_BUS_PARAM(name), "", , \
                             bus_node_method_remove_bitmap, SD_BUS_VTABLE_UNPRIVILEGED), \
    SD_BUS_METHOD_WITH_NAMES("ClearBitmap", "s", SD_BUS_PARAM(name), "", , \
                             bus_node_method_clear_bitmap, SD_BUS_VTABLE_UNPRIVILEGED), \
    SD_BUS_METHOD_WITH_NAMES("EnableBitmap", "s", SD_BUS_PARAM(name), "", , \
                             bus_node_method_enable_bitmap, SD_BUS_VTABLE_UNPRIVILEGED), \
    SD_BUS_METHOD_WITH_NAMES("DisableBitmap", "s", SD_BUS_PARAM(name), "", , \
                             bus_node_method_disable_bitmap, SD_BUS_VTABLE_UNPRIVILEGED), \
    SD_BUS_METHOD_WITH_NAMES("MergeBitmaps", "sas", SD_BUS_PARAM(target) SD_BUS_PARAM(sources), \
                             "", , bus_node_method_merge_bitmaps, SD_BUS_VTABLE_UNPRIVILEGED)
