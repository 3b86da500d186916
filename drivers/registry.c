/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "drivers/drivers.h"

/* Every driver, in one explicit list: no constructor tricks. */
static const BlockDriver *const drivers[] = {
    &block_driver_file,
    &block_driver_null_co,
    &block_driver_raw,
    &block_driver_error,
    &block_driver_qcow2,
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
