/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Errors of graph operations.  Control-path functions (open, add, remove,
 * reopen, parse) report a GError in the BG_ERROR domain whose code names the
 * D-Bus error (org.blockgraph.BlockGraph1.Error.<Name>) and whose message
 * names the node, option, file or line.  The request path (read, write ...)
 * returns negative errno values and allocates nothing.
 */

#include <glib.h>

typedef enum BgErrorCode {
    BG_ERROR_FAILED,             /* maps to org.freedesktop.DBus.Error.Failed */
    BG_ERROR_NOT_FOUND,
    BG_ERROR_EXISTS,
    BG_ERROR_INVALID_ARGUMENT,
    BG_ERROR_INVALID_XML,
    BG_ERROR_PERMISSION_CONFLICT,
    BG_ERROR_READ_ONLY,
    BG_ERROR_FROZEN,
    BG_ERROR_BUSY,
    BG_ERROR_INACTIVE,
    BG_ERROR_NOT_SUPPORTED,
    BG_ERROR_IO_ERROR,
    BG_ERROR_ACCESS_DENIED,
    BG_ERROR_INVALID_STATE,
    BG_ERROR_COUNT,              /* not a code: add new ones above (and their name in error.c) */
} BgErrorCode;

#define BG_ERROR (bg_error_quark())
GQuark bg_error_quark(void);

/* "NotFound", "Exists", ... : the last component of the D-Bus error name. */
const char *bg_error_code_name(BgErrorCode code);

/* Sets an IOError (or NotFound / AccessDenied / ReadOnly when errno says so). */
void bg_set_error_errno(GError **errp, int neg_errno, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/*
 * Where in XML text an error is: every such message starts with
 * "<source> line N: " ("line N: " without a source, "<source>: " without a
 * line).  Prefixes errp's message with it unless the message already
 * starts with a location of that source.
 */
void bg_error_prefix_location(GError **errp, const char *source, long line);
