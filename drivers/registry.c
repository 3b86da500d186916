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
    &block_driver_rbd,
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

static bool driver_has_option(const BlockDriver *drv, const char *name)
{
    for (const OptionSpec *o = drv->options; o && o->name; o++)
        if (g_str_equal(o->name, name))
            return true;
    return false;
}

/*
 * Driver.Capabilities, each derived from the one place that says it: an
 * operation the table fills, a flag, or an option.  No driver lists them.
 */
char **block_driver_capabilities(const BlockDriver *drv)
{
    const struct {
        const char *name;
        bool has;
    } caps[] = {
        { "resize", drv->co_truncate != NULL },
        { "discard", drv->co_pdiscard != NULL },
        { "zero-write", drv->co_pwrite_zeroes != NULL },
        { "block-status", drv->co_block_status != NULL },
        { "backing", drv->supports_backing },
        { "reopen", drv->reopen_prepare != NULL },
        { "locking", drv->apply_perm != NULL },
        { "dynamic-read-only", drv->dynamic_read_only },
        { "fallback-read-only", !drv->dynamic_read_only },
        { "reconnect", driver_has_option(drv, "reconnect-delay") },
    };
    GPtrArray *list = g_ptr_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++)
        if (caps[i].has)
            g_ptr_array_add(list, g_strdup(caps[i].name));
    g_ptr_array_add(list, NULL);
    return (char **)g_ptr_array_free(list, FALSE);
}
