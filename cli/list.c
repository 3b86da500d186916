/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl list, bgctl job list: nodes, exports and jobs as tables, or their
 * properties as the daemon gives them (--json), or their names (--quiet). */
#include <string.h>

#include "bgctl.h"
#include "table.h"

/* "node:top, export:e0" from Users a(ssasas). */
static char *users_text(JsonObject *node)
{
    JsonArray *users = json_object_get_array_member(node, "Users");
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; users && i < json_array_get_length(users); i++) {
        JsonArray *u = json_array_get_array_element(users, i);
        g_string_append_printf(s, "%s%s", i ? "," : "", json_array_get_string_element(u, 0));
    }
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static void nodes_table(GPtrArray *nodes)
{
    static const char *const headers[] = { "NODE", "DRIVER", "SIZE", "ACCESS", "ACTIVE",
                                           "USERS", "FILENAME", NULL };
    g_autoptr(Table) t = table_new(headers);

    for (guint i = 0; i < nodes->len; i++) {
        JsonObject *n = nodes->pdata[i];
        table_add(t, json_str(n, "NodeName"));
        table_add(t, json_str(n, "Driver"));
        table_take(t, format_bytes(json_u64(n, "Size")));
        table_add(t, json_bool(n, "Writable") ? "rw" : "ro");
        table_add(t, json_bool(n, "Active") ? "yes" : "no");
        table_take(t, users_text(n));
        table_add(t, json_str(n, "Filename"));
    }
    table_print(t, stdout);
}

static void exports_table(GPtrArray *exports)
{
    static const char *const headers[] = { "EXPORT", "NODE", "NAME", "WRITABLE", "CLIENTS",
                                           "URI", NULL };
    g_autoptr(Table) t = table_new(headers);

    for (guint i = 0; i < exports->len; i++) {
        JsonObject *e = exports->pdata[i];
        table_add(t, json_str(e, "Id"));
        table_add(t, json_str(e, "NodeName"));
        table_add(t, json_str(e, "Name"));
        table_add(t, json_bool(e, "Writable") ? "yes" : "no");
        table_take(t, g_strdup_printf("%" G_GUINT64_FORMAT, json_u64(e, "Clients")));
        table_add(t, json_str(e, "Uri"));
    }
    table_print(t, stdout);
}

static char *strv_text(JsonObject *o, const char *key)
{
    JsonArray *a = json_object_get_array_member(o, key);
    g_autoptr(GString) s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", json_array_get_string_element(a, i));
    return g_string_free(g_steal_pointer(&s), FALSE);
}

static char *percent_text(uint64_t done, uint64_t total)
{
    return total ? g_strdup_printf("%u%%", (unsigned)(done * 100.0 / total)) : g_strdup("-");
}

static void jobs_table(GPtrArray *jobs)
{
    static const char *const headers[] = { "JOB", "TYPE", "STATUS", "DONE", "TOTAL", "PERCENT",
                                           "RATE", "NODES", "ERROR", NULL };
    g_autoptr(Table) t = table_new(headers);

    for (guint i = 0; i < jobs->len; i++) {
        JsonObject *j = jobs->pdata[i];
        g_autofree char *rate = format_bytes(json_u64(j, "Rate"));
        table_add(t, json_str(j, "Id"));
        table_add(t, json_str(j, "Type"));
        table_add(t, json_str(j, "Status"));
        table_take(t, format_bytes(json_u64(j, "CurrentProgress")));
        table_take(t, format_bytes(json_u64(j, "TotalProgress")));
        table_take(t, percent_text(json_u64(j, "CurrentProgress"), json_u64(j, "TotalProgress")));
        table_take(t, g_strdup_printf("%s/s", rate));
        table_take(t, strv_text(j, "Nodes"));
        table_add(t, json_str(j, "Error"));
    }
    table_print(t, stdout);
}

static JsonArray *as_array(GPtrArray *objects)
{
    JsonArray *a = json_array_new();

    for (guint i = 0; i < objects->len; i++)
        json_array_add_object_element(a, json_object_ref(objects->pdata[i]));
    return a;
}

static void print_names(GPtrArray *objects, const char *key)
{
    for (guint i = 0; i < objects->len; i++)
        printf("%s\n", json_str(objects->pdata[i], key));
}

typedef struct {
    const char *kind;     /* JSON member */
    const char *iface;
    const char *key;      /* the name property */
    void (*table)(GPtrArray *objects);
} Section;

static const Section sections[] = {
    { "nodes", BG_NODE, "NodeName", nodes_table },
    { "exports", BG_EXPORT, "Id", exports_table },
    { "jobs", BG_JOB, "Id", jobs_table },
};

int list_print(Ctl *ctl, bool nodes, bool exports, bool jobs)
{
    g_autoptr(JsonObject) managed = NULL, out = json_object_new();
    const bool wanted[] = { nodes, exports, jobs };
    bool all = nodes && exports && jobs, printed = false;
    int r = ctl_managed_objects(ctl, &managed);

    if (r)
        return r;
    for (size_t i = 0; i < G_N_ELEMENTS(sections); i++) {
        const Section *s = &sections[i];
        g_autoptr(GPtrArray) objects = NULL;
        if (!wanted[i])
            continue;
        objects = ctl_objects_of(managed, s->iface, s->key);
        if (ctl->json)
            json_object_set_array_member(out, s->kind, as_array(objects));
        else if (ctl->quiet)
            print_names(objects, s->key);
        else if (!all || i == 0 || objects->len > 0) {
            if (printed)
                putchar('\n');
            s->table(objects);
            printed = true;
        }
    }
    if (ctl->json)
        json_print_object(out);
    return 0;
}

int cmd_list(Ctl *ctl)
{
    const char *what = ctl->n_args ? ctl->args[0] : NULL;

    if (!what)
        return list_print(ctl, true, true, true);
    for (size_t i = 0; i < G_N_ELEMENTS(sections); i++)
        if (strcmp(what, sections[i].kind) == 0 ||
            (strlen(what) + 1 == strlen(sections[i].kind) &&
             strncmp(what, sections[i].kind, strlen(what)) == 0))
            return list_print(ctl, i == 0, i == 1, i == 2);
    return ctl_usage_error("'list' takes nodes, exports or jobs, not '%s'", what);
}

int cmd_job_list(Ctl *ctl)
{
    return list_print(ctl, false, false, true);
}
