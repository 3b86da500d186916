/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl add: one snippet to the Manager method for its element, or a whole
 * <blockgraph> document element by element, all or nothing as the daemon
 * applies a configuration file: when an element fails, what the document
 * added so far is removed again, newest first. */
#include <string.h>

#include "bgctl.h"
#include "snippet.h"

typedef struct {
    const char *element;
    const char *method;
    const char *kind;        /* object kind, for messages and JSON */
    const char *name_attr;   /* the attribute that names it */
} Adder;

static const Adder adders[] = {
    { "blockdev", "AddNode", "node", "node-name" },
    { "export", "AddExport", "export", "id" },
    { "job", "StartJob", "job", "id" },
};

static const Adder *adder_for(xmlNode *element)
{
    for (size_t i = 0; i < G_N_ELEMENTS(adders); i++)
        if (strcmp((const char *)element->name, adders[i].element) == 0)
            return &adders[i];
    return NULL;
}

typedef struct {
    const Adder *adder;
    char *name;
    char *path;
} Added;

static void added_clear(gpointer p)
{
    Added *a = p;

    g_free(a->name);
    free(a->path);
}

/* The name of what path is: the attribute, or the node's (generated) name. */
static char *added_name(Ctl *ctl, const Adder *adder, xmlNode *element, const char *path)
{
    xmlChar *attr = xmlGetProp(element, BAD_CAST adder->name_attr);
    char *name = NULL;

    if (attr) {
        name = g_strdup((const char *)attr);
        xmlFree(attr);
        return name;
    }
    if (sd_bus_get_property_string(ctl->bus, BG_BUS_NAME, path, BG_NODE, "NodeName", NULL,
                                   &name) < 0)
        return g_strdup(path);
    return name;
}

/* Adds one element; in a document (file given) errors name file and line. */
static int add_one(Ctl *ctl, xmlNode *element, const char *file, GArray *added)
{
    _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
    _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
    const Adder *adder = adder_for(element);
    g_autofree char *text = snippet_text(element);
    const char *path;
    int r;

    if (!adder)
        return ctl_fail("%s line %d: <%s> is not something to add (<blockdev>, <export>, "
                        "<job> or <blockgraph>)", file, element->line, element->name);
    r = sd_bus_call_method(ctl->bus, BG_BUS_NAME, BG_ROOT_PATH, BG_MANAGER, adder->method,
                           &error, &reply, "s", text);
    if (r < 0 && file && error.message)
        return ctl_fail("%s line %d: %s", file, element->line, error.message);
    if (r < 0)
        return ctl_bus_failed(&error, r, adder->method);
    if (sd_bus_message_read(reply, "o", &path) < 0)
        return ctl_fail("%s: unexpected reply", adder->method);
    Added a = { adder, added_name(ctl, adder, element, path), strdup(path) };
    g_array_append_val(added, a);
    return 0;
}

/* Takes back what a failed document added, newest first (jobs are cancelled). */
static void roll_back(Ctl *ctl, GArray *added)
{
    for (guint i = added->len; i-- > 0;) {
        Added *a = &g_array_index(added, Added, i);
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;
        if (strcmp(a->adder->kind, "node") == 0)
            r = sd_bus_call_method(ctl->bus, BG_BUS_NAME, BG_ROOT_PATH, BG_MANAGER, "RemoveNode",
                                   &error, NULL, "s", a->name);
        else if (strcmp(a->adder->kind, "export") == 0)
            r = sd_bus_call_method(ctl->bus, BG_BUS_NAME, a->path, BG_EXPORT, "Remove", &error,
                                   NULL, "s", "hard");
        else
            r = sd_bus_call_method(ctl->bus, BG_BUS_NAME, a->path, BG_JOB, "Cancel", &error,
                                   NULL, "b", 1);
        if (r < 0)
            fprintf(stderr, "bgctl: could not take back %s '%s': %s\n", a->adder->kind, a->name,
                    error.message ? error.message : strerror(-r));
    }
}

static void report(Ctl *ctl, GArray *added)
{
    g_autoptr(JsonArray) list = json_array_new();

    for (guint i = 0; i < added->len; i++) {
        Added *a = &g_array_index(added, Added, i);
        if (!ctl->json) {
            printf("Added %s '%s'.\n", a->adder->kind, a->name);
            continue;
        }
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "Kind", a->adder->kind);
        json_object_set_string_member(o, "Name", a->name);
        json_object_set_string_member(o, "Path", a->path);
        json_array_add_object_element(list, o);
    }
    if (ctl->json) {
        g_autoptr(JsonObject) out = json_object_new();
        json_object_set_array_member(out, "Added", json_array_ref(list));
        json_print_object(out);
    }
}

/* Adds the document in file (or one snippet); only_element restricts it to
 * one kind of element ("export", "job") for `export add` and `job start`. */
int add_file(Ctl *ctl, const char *file, const char *only_element)
{
    g_autoptr(GArray) added = g_array_new(FALSE, TRUE, sizeof(Added));
    g_autofree char *text = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    xmlNode *root;
    int r;

    g_array_set_clear_func(added, added_clear);
    r = snippet_read(file, &text);
    if (r)
        return r;
    const char *name = strcmp(file, "-") == 0 ? "stdin" : file;
    doc = snippet_parse(text, name);
    if (!doc)
        return CTL_EXIT_ERROR;
    root = xmlDocGetRootElement(doc);
    if (only_element && strcmp((const char *)root->name, only_element) != 0)
        return ctl_fail("%s: expected <%s>, not <%s>", name, only_element, root->name);
    if (strcmp((const char *)root->name, "blockgraph") != 0) {
        r = add_one(ctl, root, NULL, added);
    } else {
        for (xmlNode *c = xmlFirstElementChild(root); c && !r; c = xmlNextElementSibling(c))
            r = add_one(ctl, c, name, added);
        if (r)
            roll_back(ctl, added);
    }
    if (r == 0)
        report(ctl, added);
    return r;
}

int cmd_add(Ctl *ctl)
{
    return add_file(ctl, ctl->args[0], NULL);
}
