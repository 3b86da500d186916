/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <bitmap-add node-name= name= granularity= persistent= disabled=/>,
 * <bitmap-remove|bitmap-clear|bitmap-enable|bitmap-disable node-name= name=/>,
 * <bitmap-merge node-name= target=><source name=/>...</bitmap-merge>:
 * the bitmap actions of Manager.Transaction.  Errors: InvalidXml (malformed,
 * an unknown element), InvalidArgument (attributes), naming source and line.
 */

#include "graph/bitmap-action.h"

/* Whether an element name is one of the actions above. */
bool bitmap_action_is_element(const char *name);
BitmapActionSpec *bitmap_action_parse_xml(const char *text, const char *source, GError **errp);
