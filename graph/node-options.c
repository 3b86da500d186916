/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/node.h"

static const char *const discard_values[] = { "ignore", "unmap", NULL };
static const char *const detect_zeroes_values[] = { "off", "on", "unmap", NULL };

const OptionSpec node_common_options[] = {
    { "node-name", OPTION_STRING, NULL, false, false, NULL,
      "Name of the node; generated for unnamed inline children" },
    { "driver", OPTION_STRING, NULL, false, true, NULL,
      "Block driver of the node" },
    { "read-only", OPTION_BOOL, "off", true, false, NULL,
      "Open read-only: no writer can attach" },
    { "auto-read-only", OPTION_BOOL, "off", true, false, NULL,
      "With read-only=off: settle for read-only, or switch dynamically where the driver can" },
    { "discard", OPTION_ENUM, "ignore", true, false, discard_values,
      "Whether discard requests are passed down (unmap) or ignored" },
    { "detect-zeroes", OPTION_ENUM, "off", true, false, detect_zeroes_values,
      "Turn writes of zeroes into zero writes (unmap: and punch holes when discard=unmap)" },
    { "cache.direct", OPTION_BOOL, "off", true, false, NULL,
      "Bypass the host page cache (O_DIRECT)" },
    { "cache.no-flush", OPTION_BOOL, "off", true, false, NULL,
      "Ignore flush requests (unsafe)" },
    { "force-share", OPTION_BOOL, "off", false, false, NULL,
      "Share all permissions with other users (read-only nodes only)" },
    OPTION_TABLE_END
};

void node_apply_common_options(BlockNode *node)
{
    const char *dz = option_set_get_string(node->options, "detect-zeroes");

    node->discard_unmap = g_str_equal(option_set_get_string(node->options, "discard"), "unmap");
    node->detect_zeroes = g_str_equal(dz, "unmap") ? DETECT_ZEROES_UNMAP
                          : g_str_equal(dz, "on") ? DETECT_ZEROES_ON : DETECT_ZEROES_OFF;
}
