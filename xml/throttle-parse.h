/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <throttle-group id="g0" iops-total="500" bps-total="10M"/> -> the group's
 * id and its limits as raw option texts (QEMU's names); the limits are
 * checked against drivers/throttle-group.c's table when the group is set.
 */

#include <glib.h>
#include <libxml/tree.h>

typedef struct ThrottleGroupSpec {
    char *id;
    GHashTable *limits;     /* name -> text */
} ThrottleGroupSpec;

void throttle_group_spec_free(ThrottleGroupSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ThrottleGroupSpec, throttle_group_spec_free)

ThrottleGroupSpec *throttle_group_parse_element(const xmlNode *elem, const char *source,
                                                GError **errp);
ThrottleGroupSpec *throttle_group_parse_xml(const char *text, gssize len, const char *source,
                                            GError **errp);
