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
#include "bus/transaction.h"

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
    /* Transaction: each of its actions' own, see authorize_actions_for_call. */
    { BUS_INTERFACE_MANAGER, "Transaction", ACTION_NODES },
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

static void add_action(AuthorizeActions *set, const char *action)
{
    for (size_t i = 0; i < set->n; i++) {
        if (set->actions[i] == action) {
            return;
        }
    }
    g_assert(set->n < AUTHORIZE_MAX_ACTIONS);
    set->actions[set->n++] = action;
}

/*
 * Manager.Transaction: each action needs what it would need alone, a <job>
 * manage-jobs (as StartJob), a bitmap action manage-nodes (as the Node
 * bitmap methods).  A body we cannot read needs manage-nodes; the method
 * then refuses it.
 */
static void transaction_actions(sd_bus_message *m, AuthorizeActions *set)
{
    g_auto(GStrv) xmls = NULL;

    if (sd_bus_message_read_strv(m, &xmls) < 0 || !xmls || !xmls[0]) {
        add_action(set, ACTION_NODES);
    }
    for (size_t i = 0; xmls && xmls[i]; i++) {
        add_action(set, transaction_snippet_is_job(xmls[i]) ? ACTION_JOBS : ACTION_NODES);
    }
    sd_bus_message_rewind(m, true);
}

void authorize_actions_for_call(sd_bus_message *m, AuthorizeActions *ret)
{
    const char *interface = sd_bus_message_get_interface(m);
    const char *member = sd_bus_message_get_member(m);
    const char *action = authorize_action_for(interface, member);

    ret->n = 0;
    if (!action) {
        return;
    }
    if (g_strcmp0(interface, BUS_INTERFACE_MANAGER) == 0 &&
        g_strcmp0(member, "Transaction") == 0) {
        transaction_actions(m, ret);
    } else {
        add_action(ret, action);
    }
}
