/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "drivers/drivers.h"

/* Every driver, in one explicit list: no constructor tricks. */
static const BlockDriver *const drivers[] = {
    &block_driver_file,
    &block_driver_host_device,
    &block_driver_null_co,
    &block_driver_raw,
    &block_driver_error,
    &block_driver_qcow2,
    &block_driver_nbd,
    &block_driver_throttle,
    &block_driver_copy_on_read,
    NULL,
};

const BlockDriver *const *block_drivers(void)
{
    return drivers;
}

const BlockDriver *block_driver_find(const char *name)
{
    for (const BlockDriver *const *d = drivers; *d; d++)
        if (g_str_equal((*d)->name, name))
            return *d;
    return NULL;
}

const char *block_driver_kind_name(BlockDriverKind kind)
{
    switch (kind) {
    case BLOCK_DRIVER_PROTOCOL:
        return "protocol";
    case BLOCK_DRIVER_FORMAT:
        return "format";
    case BLOCK_DRIVER_FILTER:
        return "filter";
    }
    g_assert_not_reached();
}

static void add_unique(GPtrArray *list, const char *cap)
{
    for (guint i = 0; i < list->len; i++)
        if (g_str_equal(g_ptr_array_index(list, i), cap))
            return;
    g_ptr_array_add(list, g_strdup(cap));
}

char **block_driver_capabilities(const BlockDriver *drv)
{
    GPtrArray *list = g_ptr_array_new();

    for (const char *const *c = drv->capabilities; c && *c; c++)
        add_unique(list, *c);
    /* What the table's flags and operations already say, so no driver repeats it. */
    add_unique(list, drv->dynamic_read_only ? "dynamic-read-only" : "fallback-read-only");
    if (drv->supports_backing)
        add_unique(list, "backing");
    if (drv->reopen_prepare)
        add_unique(list, "reopen");
    if (drv->apply_perm)
        add_unique(list, "locking");
    g_ptr_array_add(list, NULL);
    return (char **)g_ptr_array_free(list, FALSE);
}
