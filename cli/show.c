/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl show NAME: a node's properties, options (from GetXML), children and
 * users; or else the export or job of that name. */
#include <errno.h>
#include <string.h>

#include "bgctl.h"
#include "snippet.h"
#include "table.h"

/* A property as one line of text: arrays joined by ", ", structs by " ". */
static char *value_text(JsonNode *n)
{
    if (JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);
        g_autoptr(GString) s = g_string_new(NULL);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_autofree char *item = value_text(json_array_get_element(a, i));
            g_string_append_printf(s, "%s%s", i ? ", " : "", item);
        }
        return g_string_free(g_steal_pointer(&s), FALSE);
    }
    if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
        return g_strdup(json_node_get_boolean(n) ? "yes" : "no");
    if (json_node_get_value_type(n) == G_TYPE_INT64)
        return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
    return g_strdup(json_node_get_string(n));
}

static void print_properties(JsonObject *props, const char *const *skip)
{
    g_autoptr(GList) keys = json_object_get_members(props);   /* in the daemon's order */

    for (GList *k = keys; k; k = k->next) {
        const char *key = k->data;
        JsonNode *value = json_object_get_member(props, key);
        g_autofree char *text = value_text(value);
        if (skip && g_strv_contains(skip, key))
            continue;
        printf(*text ? "%-16s %s" : "%s", key, text);
        if (strcmp(key, "Size") == 0) {
            g_autofree char *human = format_bytes(json_node_get_int(value));
            printf(" (%s)", human);
        }
        putchar('\n');
    }
}

static void print_pairs(JsonObject *o, const char *h1, const char *h2)
{
    const char *const headers[] = { h1, h2, NULL };
    g_autoptr(Table) t = table_new(headers);
    g_autoptr(GList) keys = json_object_get_members(o);

    for (GList *k = keys; k; k = k->next) {
        table_add(t, k->data);
        table_add(t, json_object_get_string_member(o, k->data));
    }
    putchar('\n');
    table_print(t, stdout);
}

static void print_users(JsonObject *props)
{
    static const char *const headers[] = { "USER", "ROLE", "TAKES", "SHARES", NULL };
    JsonArray *users = json_object_get_array_member(props, "Users");
    g_autoptr(Table) t = table_new(headers);

    if (!users || json_array_get_length(users) == 0) {
        printf("\nNo users.\n");
        return;
    }
    for (guint i = 0; i < json_array_get_length(users); i++) {
        JsonArray *u = json_array_get_array_element(users, i);
        for (guint f = 0; f < 4; f++)
            table_take(t, value_text(json_array_get_element(u, f)));
    }
    putchar('\n');
    table_print(t, stdout);
}

static int show_node(Ctl *ctl, const char *name, JsonObject *props)
{
    static const char *const skip[] = { "Children", "Users", NULL };
    g_autoptr(JsonObject) options = json_object_new(), links = json_object_new();
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autofree char *path = ctl_object_path("node", name);
    int r = ctl_get_string(ctl, path, BG_NODE, "GetXML", NULL, &xml);

    if (r)
        return r;
    doc = snippet_parse(xml, "GetXML");
    if (!doc)
        return CTL_EXIT_ERROR;
    snippet_options(xmlDocGetRootElement(doc), "", options, links);
    if (ctl->json) {
        g_autoptr(JsonObject) out = json_object_new();
        json_object_set_object_member(out, "Node", json_object_ref(props));
        json_object_set_object_member(out, "Options", json_object_ref(options));
        json_object_set_string_member(out, "XML", xml);
        json_print_object(out);
        return 0;
    }
    print_properties(props, skip);
    print_pairs(options, "OPTION", "VALUE");
    if (json_object_get_size(links))
        print_pairs(links, "ROLE", "CHILD");
    print_users(props);
    return 0;
}

static int show_other(Ctl *ctl, const char *member, JsonObject *props)
{
    if (ctl->json) {
        g_autoptr(JsonObject) out = json_object_new();
        json_object_set_object_member(out, member, json_object_ref(props));
        json_print_object(out);
    } else {
        print_properties(props, NULL);
    }
    return 0;
}

int cmd_show(Ctl *ctl)
{
    static const struct { const char *kind, *iface, *member; } kinds[] = {
        { "node", BG_NODE, "Node" }, { "export", BG_EXPORT, "Export" }, { "job", BG_JOB, "Job" },
    };
    const char *name = ctl->args[0];

    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *path = ctl_object_path(kinds[i].kind, name);
        g_autoptr(JsonObject) props = NULL;
        int r = ctl_get_all(ctl, path, kinds[i].iface, kinds[i].kind, &props);
        if (r == -ENOENT)
            continue;
        if (r)
            return r;
        return i == 0 ? show_node(ctl, name, props) : show_other(ctl, kinds[i].member, props);
    }
    return ctl_fail("No node, export or job '%s' known", name);
}
