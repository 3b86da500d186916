/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>

#include "graph/error.h"

G_DEFINE_QUARK(blockgraph-error-quark, bg_error)

static const char *const code_names[] = {
    [BG_ERROR_FAILED] = "Failed",
    [BG_ERROR_NOT_FOUND] = "NotFound",
    [BG_ERROR_EXISTS] = "Exists",
    [BG_ERROR_INVALID_ARGUMENT] = "InvalidArgument",
    [BG_ERROR_INVALID_XML] = "InvalidXml",
    [BG_ERROR_PERMISSION_CONFLICT] = "PermissionConflict",
    [BG_ERROR_READ_ONLY] = "ReadOnly",
    [BG_ERROR_FROZEN] = "Frozen",
    [BG_ERROR_BUSY] = "Busy",
    [BG_ERROR_INACTIVE] = "Inactive",
    [BG_ERROR_NOT_SUPPORTED] = "NotSupported",
    [BG_ERROR_IO_ERROR] = "IOError",
    [BG_ERROR_ACCESS_DENIED] = "AccessDenied",
    [BG_ERROR_INVALID_STATE] = "InvalidState",
};

const char *bg_error_code_name(BgErrorCode code)
{
    if ((unsigned)code >= G_N_ELEMENTS(code_names))
        return "Failed";
    return code_names[code];
}

static BgErrorCode code_for_errno(int err)
{
    switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
        return BG_ERROR_NOT_FOUND;
    case EACCES:
    case EPERM:
        return BG_ERROR_ACCESS_DENIED;
    case EROFS:
        return BG_ERROR_READ_ONLY;
    case EBUSY:
    case EAGAIN:
        return BG_ERROR_BUSY;
    case ENOTSUP:
        return BG_ERROR_NOT_SUPPORTED;
    case EINVAL:
        return BG_ERROR_INVALID_ARGUMENT;
    default:
        return BG_ERROR_IO_ERROR;
    }
}

void bg_set_error_errno(GError **errp, int neg_errno, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (!errp)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, code_for_errno(-neg_errno), "%s: %s", msg, g_strerror(-neg_errno));
}

static char *error_location(const char *source, long line)
{
    if (line > 0)
        return g_strdup_printf("%s%sline %ld: ", source ? source : "", source ? " " : "", line);
    return g_strdup_printf("%s: ", source ? source : "input");
}

void bg_error_prefix_location(GError **errp, const char *source, long line)
{
    g_autofree char *any_line = g_strdup_printf("%s%sline ", source ? source : "",
                                                source ? " " : "");
    g_autofree char *loc = NULL;

    if (!errp || !*errp)
        return;
    if (g_str_has_prefix((*errp)->message, any_line) ||
        (source && g_str_has_prefix((*errp)->message, source)))
        return;
    loc = error_location(source, line);
    g_prefix_error(errp, "%s", loc);
}
