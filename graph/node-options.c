/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/node.h"

static const char *const discard_values[] = {
    [NODE_DISCARD_IGNORE] = "ignore", [NODE_DISCARD_UNMAP] = "unmap", NULL,
};
static const char *const detect_zeroes_values[] = {
    [DETECT_ZEROES_OFF] = "off", [DETECT_ZEROES_ON] = "on", [DETECT_ZEROES_UNMAP] = "unmap", NULL,
};

const OptionSpec node_common_options[] = {
    { .name = "node-name", .type = OPTION_STRING, .applied_by_core = true,
      .description = "Name of the node; generated for unnamed inline children" },
    { .name = "driver", .type = OPTION_STRING, .required = true, .applied_by_core = true,
      .description = "Block driver of the node" },
    { .name = "iothread", .type = OPTION_STRING, .applied_by_core = true,
      .description = "The iothread that does the node's I/O (inline children follow); "
                     "default: the main loop" },
    { .name = "read-only", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true, .applied_by_core = true,
      .description = "Open read-only: no writer can attach" },
    { .name = "auto-read-only", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true, .applied_by_core = true,
      .description = "With read-only=off: settle for read-only, or switch dynamically where the "
                     "driver can" },
    { .name = "discard", .type = OPTION_ENUM, .default_value = "ignore",
      .mutable_on_reopen = true, .applied_by_core = true, .enum_values = discard_values,
      .description = "Whether discard requests are passed down (unmap) or ignored" },
    { .name = "detect-zeroes", .type = OPTION_ENUM, .default_value = "off",
      .mutable_on_reopen = true, .applied_by_core = true, .enum_values = detect_zeroes_values,
      .description = "Turn writes of zeroes into zero writes (unmap: and punch holes when "
                     "discard=unmap)" },
    { .name = "cache.direct", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true,
      .description = "Bypass the host page cache (O_DIRECT)" },
    { .name = "cache.no-flush", .type = OPTION_BOOL, .default_value = "off",
      .mutable_on_reopen = true,
      .description = "Ignore flush requests (unsafe)" },
    { .name = "force-share", .type = OPTION_BOOL, .default_value = "off",
      .description = "Share all permissions with other users (read-only nodes only)" },
    OPTION_TABLE_END
};

bool block_driver_option_mutable(const BlockDriver *drv, const OptionSpec *spec)
{
    return spec->mutable_on_reopen && (spec->applied_by_core || drv->reopen_prepare);
}

void node_apply_common_options(BlockNode *node)
{
    node->discard_unmap = option_set_get_enum(node->options, "discard") == NODE_DISCARD_UNMAP;
    node->detect_zeroes = option_set_get_enum(node->options, "detect-zeroes");
}
