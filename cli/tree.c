/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl tree: the graph as a tree from each node that no other node uses
 * (a node shared by two parents shows under both), with the role of each
 * link and the exports and jobs using a node. */
#include <string.h>

#include "bgctl.h"

typedef struct {
    GHashTable *by_name;   /* node-name -> JsonObject (borrowed) */
    bool utf8;
} Tree;

static bool used_by_node(JsonObject *node)
{
    JsonArray *users = json_object_get_array_member(node, "Users");

    for (guint i = 0; users && i < json_array_get_length(users); i++) {
        const char *user = json_array_get_string_element(json_array_get_array_element(users, i), 0);
        if (g_str_has_prefix(user, "node:"))
            return true;
    }
    return false;
}

/* "qcow2, 1 GiB, ro, /x.qcow2, export:e0" */
static char *describe(JsonObject *node)
{
    g_autofree char *size = format_bytes(json_u64(node, "Size"));
    g_autoptr(GString) s = g_string_new(NULL);
    JsonArray *users = json_object_get_array_member(node, "Users");

    g_string_printf(s, "%s, %s, %s", json_str(node, "Driver"), size,
                    json_bool(node, "Writable") ? "rw" : "ro");
    if (*json_str(node, "Filename"))
        g_string_append_printf(s, ", %s", json_str(node, "Filename"));
    for (guint i = 0; users && i < json_array_get_length(users); i++) {
        const char *user = json_array_get_string_element(json_array_get_array_element(users, i), 0);
        if (!g_str_has_prefix(user, "node:"))
            g_string_append_printf(s, ", %s", user);
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static void print_node(const Tree *t, const char *name, const char *role, const char *prefix,
                       bool last, bool root)
{
    JsonObject *node = g_hash_table_lookup(t->by_name, name);
    const char *branch = t->utf8 ? (last ? "└─ " : "├─ ") : (last ? "`- " : "|- ");
    const char *pipe = t->utf8 ? "│  " : "|  ";
    g_autofree char *text = node ? describe(node) : g_strdup("gone");
    g_autofree char *below = g_strconcat(prefix, root ? "" : last ? "   " : pipe, NULL);

    printf("%s%s%s%s%s (%s)\n", prefix, root ? "" : branch, role ? role : "", role ? ": " : "",
           name, text);
    JsonArray *children = node ? json_object_get_array_member(node, "Children") : NULL;
    guint n = children ? json_array_get_length(children) : 0;
    for (guint i = 0; i < n; i++) {
        JsonArray *c = json_array_get_array_element(children, i);
        print_node(t, json_array_get_string_element(c, 1), json_array_get_string_element(c, 0),
                   below, i + 1 == n, false);
    }
}

static JsonObject *node_json(const Tree *t, const char *name, const char *role)
{
    JsonObject *node = g_hash_table_lookup(t->by_name, name);
    JsonObject *o = json_object_new();
    JsonArray *kids = json_array_new();

    json_object_set_string_member(o, "NodeName", name);
    json_object_set_string_member(o, "Driver", json_str(node, "Driver"));
    if (role)
        json_object_set_string_member(o, "Role", role);
    JsonArray *children = node ? json_object_get_array_member(node, "Children") : NULL;
    for (guint i = 0; children && i < json_array_get_length(children); i++) {
        JsonArray *c = json_array_get_array_element(children, i);
        json_array_add_object_element(kids, node_json(t, json_array_get_string_element(c, 1),
                                                      json_array_get_string_element(c, 0)));
    }
    json_object_set_array_member(o, "Children", kids);
    return o;
}

int cmd_tree(Ctl *ctl)
{
    g_autoptr(JsonObject) managed = NULL;
    g_autoptr(GPtrArray) nodes = NULL;
    g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(JsonArray) roots = json_array_new();
    Tree t = { .by_name = by_name, .utf8 = g_get_charset(NULL) };
    int r = ctl_managed_objects(ctl, &managed);

    if (r)
        return r;
    nodes = ctl_objects_of(managed, BG_NODE, "NodeName");
    for (guint i = 0; i < nodes->len; i++)
        g_hash_table_insert(by_name, (char *)json_str(nodes->pdata[i], "NodeName"),
                            nodes->pdata[i]);
    for (guint i = 0; i < nodes->len; i++) {
        const char *name = json_str(nodes->pdata[i], "NodeName");
        if (used_by_node(nodes->pdata[i]))
            continue;
        if (ctl->json)
            json_array_add_object_element(roots, node_json(&t, name, NULL));
        else
            print_node(&t, name, NULL, "", true, true);
    }
    if (ctl->json) {
        g_autoptr(JsonNode) out = json_node_init_array(json_node_alloc(), roots);
        json_print(out);
    }
    return 0;
}
