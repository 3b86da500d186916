/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one table of which method needs which polkit action.  Rows are tried
 * in order; member "*" matches every method of the interface.  A read (no
 * action) is open to everyone; everything else on our interfaces needs an
 * action, so a method added later is guarded until it gets its own row.
 */

#include <string.h>

#include "bus/authorize.h"
#include "bus/bus.h"

#define ACTION_NODES   AUTHORIZE_ACTION_PREFIX "manage-nodes"
#define ACTION_EXPORTS AUTHORIZE_ACTION_PREFIX "manage-exports"
#define ACTION_JOBS    AUTHORIZE_ACTION_PREFIX "manage-jobs"
#define ACTION_CREATE  AUTHORIZE_ACTION_PREFIX "create-image"

typedef struct MethodAction {
    const char *interface;
    const char *member;         /* "*": any */
    const char *action;         /* NULL: a read, open */
} MethodAction;

static const MethodAction method_actions[] = {
    { BUS_INTERFACE_MANAGER, "GetGraph",    NULL },
    { BUS_INTERFACE_MANAGER, "AddExport",   ACTION_EXPORTS },
    { BUS_INTERFACE_MANAGER, "StartJob",    ACTION_JOBS },
    { BUS_INTERFACE_MANAGER, "CreateImage", ACTION_CREATE },
    { BUS_INTERFACE_MANAGER, "*",           ACTION_NODES },  /* AddNode, RemoveNode, ReopenNodes */
    { BUS_INTERFACE_NODE,    "GetXML",      NULL },
    { BUS_INTERFACE_NODE,    "*",           ACTION_NODES },  /* Flush, Resize, Reopen, SetActive */
    { BUS_INTERFACE_EXPORT,  "GetXML",      NULL },
    { BUS_INTERFACE_EXPORT,  "*",           ACTION_EXPORTS },
    { BUS_INTERFACE_JOB,     "GetXML",      NULL },
    { BUS_INTERFACE_JOB,     "*",           ACTION_JOBS },
    { BUS_INTERFACE_DRIVER,  "*",           NULL },          /* descriptions only */
    /* No property is writable today; should one become so, it is a change. */
    { "org.freedesktop.DBus.Properties", "Set", ACTION_NODES },
};

static bool is_ours(const char *interface)
{
    return g_str_has_prefix(interface, "org.blockgraph.BlockGraph1.");
}

const char *authorize_action_for(const char *interface, const char *member)
{
    if (!interface || !member) {
        return ACTION_NODES;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(method_actions); i++) {
        const MethodAction *row = &method_actions[i];

        if (strcmp(row->interface, interface) == 0 &&
            (strcmp(row->member, "*") == 0 || strcmp(row->member, member) == 0)) {
            return row->action;
        }
    }
    /* An interface of ours without a row is guarded; the standard ones are reads. */
    return is_ours(interface) ? ACTION_NODES : NULL;
}

bool authorize_mode_parse(const char *text, AuthorizeMode *ret)
{
    if (strcmp(text, "polkit") == 0) {
        *ret = AUTHORIZE_POLKIT;
        return true;
    }
    if (strcmp(text, "none") == 0) {
        *ret = AUTHORIZE_NONE;
        return true;
    }
    return false;
}

const char *authorize_mode_name(AuthorizeMode mode)
{
    return mode == AUTHORIZE_POLKIT ? "polkit" : "none";
}
