/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl status: the daemon's version and features, and how many nodes,
 * exports and jobs it has. */
#include "bgctl.h"

static void print_status(JsonObject *manager, guint nodes, guint exports, guint jobs)
{
    JsonArray *features = json_object_get_array_member(manager, "Features");

    printf("Version:   %s\n", json_str(manager, "Version"));
    printf("Nodes:     %u\nExports:   %u\nJobs:      %u\n", nodes, exports, jobs);
    printf("Features: ");
    for (guint i = 0; features && i < json_array_get_length(features); i++)
        printf(" %s", json_array_get_string_element(features, i));
    putchar('\n');
}

int cmd_status(Ctl *ctl)
{
    g_autoptr(JsonObject) manager = NULL, managed = NULL;
    g_autoptr(GPtrArray) nodes = NULL, exports = NULL, jobs = NULL;
    int r;

    r = ctl_get_all(ctl, BG_ROOT_PATH, BG_MANAGER, NULL, &manager);
    if (r)
        return r;
    r = ctl_managed_objects(ctl, &managed);
    if (r)
        return r;
    nodes = ctl_objects_of(managed, BG_NODE, "NodeName");
    exports = ctl_objects_of(managed, BG_EXPORT, "Id");
    jobs = ctl_objects_of(managed, BG_JOB, "Id");
    if (!ctl->json) {
        print_status(manager, nodes->len, exports->len, jobs->len);
        return 0;
    }
    json_object_set_int_member(manager, "Nodes", nodes->len);
    json_object_set_int_member(manager, "Exports", exports->len);
    json_object_set_int_member(manager, "Jobs", jobs->len);
    json_print_object(manager);
    return 0;
}
