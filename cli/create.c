/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl create FILENAME [SIZE] [OPTION=VALUE...]: Manager.CreateImage with a
 * <create> snippet (driver="qcow2" unless an option says otherwise), then
 * waits for the job it starts.  Only a daemon whose Manager.Features lists
 * "image-create" has the method: others get a clear refusal, not a guess.
 * A small image is made before a reply could be read: when it waits,
 * bgctl asks for auto-dismiss="off" (unless given) and dismisses the job
 * itself at the end, so that the job is still there to be followed. */
#include <string.h>

#include "bgctl.h"
#include "snippet.h"

static int has_feature(Ctl *ctl, const char *feature, bool *ret)
{
    g_autoptr(JsonObject) manager = NULL;
    JsonArray *features;
    int r = ctl_get_all(ctl, BG_ROOT_PATH, BG_MANAGER, NULL, &manager);

    if (r)
        return r;
    *ret = false;
    features = json_object_get_array_member(manager, "Features");
    for (guint i = 0; features && i < json_array_get_length(features); i++)
        if (strcmp(json_array_get_string_element(features, i), feature) == 0)
            *ret = true;
    return 0;
}

static int create_snippet(Ctl *ctl, char **ret, bool *ret_dismiss)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = xmlNewNode(NULL, BAD_CAST "create");

    /* A size never holds '=': an OPTION=VALUE second argument means no SIZE. */
    bool has_size = ctl->n_args > 1 && !strchr(ctl->args[1], '=');

    xmlDocSetRootElement(doc, root);
    xmlSetProp(root, BAD_CAST "driver", BAD_CAST "qcow2");
    xmlSetProp(root, BAD_CAST "filename", BAD_CAST ctl->args[0]);
    if (has_size)
        xmlSetProp(root, BAD_CAST "size", BAD_CAST ctl->args[1]);
    for (int i = has_size ? 2 : 1; i < ctl->n_args; i++) {
        const char *eq = strchr(ctl->args[i], '=');
        if (!eq || eq == ctl->args[i])
            return ctl_usage_error("'%s' is not OPTION=VALUE", ctl->args[i]);
        g_autofree char *option = g_strndup(ctl->args[i], eq - ctl->args[i]);
        int r = snippet_set(root, option, eq + 1);
        if (r)
            return r;
    }
    /* Without SIZE the image takes its backing file's size (CreateImage). */
    if (!has_size && !xmlHasProp(root, BAD_CAST "backing-file"))
        return ctl_usage_error("'create' needs SIZE unless backing-file=FILE gives it");
    *ret_dismiss = !ctl->no_wait && !xmlHasProp(root, BAD_CAST "auto-dismiss");
    if (*ret_dismiss)
        xmlSetProp(root, BAD_CAST "auto-dismiss", BAD_CAST "off");
    *ret = snippet_text(root);
    return 0;
}

int cmd_create(Ctl *ctl)
{
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    g_autofree char *xml = NULL, *id = NULL;
    const char *path;
    bool supported, dismiss = false;
    int r;

    r = create_snippet(ctl, &xml, &dismiss);
    if (r)
        return r;
    r = has_feature(ctl, "image-create", &supported);
    if (r)
        return r;
    if (!supported)
        return ctl_fail("creating images is not supported by this daemon "
                        "(its Manager.Features has no 'image-create')");
    r = ctl_call(ctl, BG_ROOT_PATH, BG_MANAGER, "CreateImage", &reply, "s", xml);
    if (r)
        return r;
    if (sd_bus_message_read(reply, "o", &path) < 0 ||
        sd_bus_path_decode(path, BG_ROOT_PATH "/job", &id) <= 0)
        return ctl_fail("CreateImage: unexpected reply");
    if (ctl->no_wait) {
        printf("%s\n", id);
        return 0;
    }
    r = job_wait(ctl, id);
    if (dismiss)
        sd_bus_call_method(ctl->bus, BG_BUS_NAME, path, BG_JOB, "Dismiss", NULL, NULL, "");
    return r;
}
