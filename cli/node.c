/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl remove, bgctl reopen: changing nodes that exist. */
#include <string.h>

#include "bgctl.h"
#include "snippet.h"

int cmd_remove(Ctl *ctl)
{
    return ctl_call(ctl, BG_ROOT_PATH, BG_MANAGER, "RemoveNode", NULL, "s", ctl->args[0]);
}

/* Node.Reopen omits nothing: options left out go back to their defaults.
 * So take the node's own XML, change what the command line says, send it. */
int cmd_reopen(Ctl *ctl)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const char *name = ctl->args[0], *xml;
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *text = NULL;
    int r;

    for (int i = 1; i < ctl->n_args; i++)
        if (!strchr(ctl->args[i], '=') || ctl->args[i][0] == '=')
            return ctl_usage_error("'%s' is not OPTION=VALUE", ctl->args[i]);
    r = ctl_call_object(ctl, "node", name, BG_NODE, "GetXML", &reply, "");
    if (r)
        return r;
    if (sd_bus_message_read(reply, "s", &xml) < 0)
        return ctl_fail("GetXML: unexpected reply");
    doc = snippet_parse(xml, "GetXML");
    if (!doc)
        return CTL_EXIT_ERROR;
    for (int i = 1; i < ctl->n_args; i++) {
        g_autofree char *option = g_strndup(ctl->args[i], strcspn(ctl->args[i], "="));
        r = snippet_set(xmlDocGetRootElement(doc), option, strchr(ctl->args[i], '=') + 1);
        if (r)
            return r;
    }
    text = snippet_text(xmlDocGetRootElement(doc));
    return ctl_call_object(ctl, "node", name, BG_NODE, "Reopen", NULL, "s", text);
}
