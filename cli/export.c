/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl export add|remove: NBD exports. */
#include "bgctl.h"

int cmd_export_add(Ctl *ctl)
{
    return add_file(ctl, ctl->args[0], "export");
}

int cmd_export_remove(Ctl *ctl)
{
    return ctl_call_object(ctl, "export", ctl->args[0], BG_EXPORT, "Remove", NULL, "s",
                           ctl->hard ? "hard" : "safe");
}
