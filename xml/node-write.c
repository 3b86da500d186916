/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/node-write.h"

#include <string.h>
#include <libxml/tree.h>

#include "exports/export.h"
#include "exports/nbd-server.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "xml/xml-util.h"

#define X(s) ((const xmlChar *)(s))

static xmlNode *find_element(xmlNode *parent, const char *name)
{
    bg_xml_foreach_element(sub, parent) {
        if (g_str_equal(bg_xml_name(sub), name))
            return sub;
    }
    return NULL;
}

/* Sets a dotted option "a.b.c" as attribute c of <a><b/></a> under elem. */
static void set_option(xmlNode *elem, const char *name, const char *text)
{
    g_auto(GStrv) parts = g_strsplit(name, ".", -1);
    guint n = g_strv_length(parts);

    for (guint i = 0; i + 1 < n; i++) {
        xmlNode *group = find_element(elem, parts[i]);

        elem = group ? group : xmlNewChild(elem, NULL, X(parts[i]), NULL);
    }
    xmlSetProp(elem, X(parts[n - 1]), X(text));
}

static const char *option_text(const OptionValue *v)
{
    if (v->spec->type == OPTION_BOOL)
        return v->b ? "on" : "off";
    return v->text ? v->text : "";
}

static void add_options(xmlNode *elem, const BlockNode *node)
{
    guint n = node->options ? option_set_count(node->options) : 0;

    for (guint i = 0; i < n; i++) {
        const OptionValue *v = option_set_nth(node->options, i);

        if (v->is_set)
            set_option(elem, v->spec->name, option_text(v));
    }
    /* A node a job brought into its loop has no option saying so (graph/iothread.h). */
    if (node->loop && !xmlHasProp(elem, X("iothread")))
        xmlSetProp(elem, X("iothread"), X(aio_loop_name(node->loop)));
    if (!xmlHasProp(elem, X("node-name")) && !node->name_generated)
        xmlSetProp(elem, X("node-name"), X(node->name));
    if (!xmlHasProp(elem, X("driver")))
        xmlSetProp(elem, X("driver"), X(node->drv->name));
}

/*
 * How graph_to_xml writes a child: a backing chain opened from image
 * headers not at all (applying the text opens it again from the headers),
 * an unnamed node inline in its parent (it cannot be referred to), a named
 * node by reference (it is a <blockdev> of its own).
 */
typedef enum ChildForm {
    CHILD_BY_REF,
    CHILD_INLINE,
    CHILD_FROM_IMAGE,
} ChildForm;

static ChildForm saved_child_form(const BlockChild *c)
{
    if (!c->node->name_generated)
        return CHILD_BY_REF;
    if (c->node->from_image_header && g_str_equal(c->role, "backing"))
        return CHILD_FROM_IMAGE;
    return CHILD_INLINE;
}

static xmlNode *node_element(const BlockNode *node, const char *elem_name, bool saved);

/* Children by ref; with saved, in saved_child_form (graph_to_xml). */
static void add_children(xmlNode *elem, const BlockNode *node, bool saved)
{
    bool has_backing = false;

    for (guint i = 0; i < node->children->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->children, i);
        ChildForm form = saved ? saved_child_form(c) : CHILD_BY_REF;

        if (form == CHILD_INLINE) {
            xmlAddChild(elem, node_element(c->node, c->role, true));
        } else if (form == CHILD_BY_REF) {
            xmlNode *link = xmlNewChild(elem, NULL, X(c->role), NULL);

            xmlSetProp(link, X("ref"), X(c->node->name));
        }
        has_backing |= g_str_equal(c->role, "backing");
    }
    if (node->drv->supports_backing && !has_backing)
        xmlNewChild(elem, NULL, X("backing"), NULL);
}

static xmlNode *node_element(const BlockNode *node, const char *elem_name, bool saved)
{
    xmlNode *elem = xmlNewNode(NULL, X(elem_name));

    add_options(elem, node);
    add_children(elem, node, saved);
    return elem;
}

static char *dump_element(xmlNode *elem)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(X("1.0"));
    xmlBuffer *buf = xmlBufferCreate();
    char *ret;

    xmlDocSetRootElement(doc, elem);
    xmlNodeDump(buf, doc, elem, 0, 1);
    ret = g_strdup_printf("%s\n", (const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return ret;
}

char *node_to_xml(const BlockNode *node)
{
    return dump_element(node_element(node, "blockdev", false));
}

/*
 * Named nodes in dependency order, leaves first.  Iterative (a chain may be
 * thousands of nodes deep): a node is listed once all its children are.
 */
static void order_node(BlockNode *root, GHashTable *seen, GPtrArray *order)
{
    g_autoptr(GPtrArray) stack = g_ptr_array_new();

    if (!g_hash_table_add(seen, root))
        return;
    g_ptr_array_add(stack, root);
    while (stack->len > 0) {
        BlockNode *node = g_ptr_array_index(stack, stack->len - 1);
        bool pushed = false;

        for (guint i = 0; i < node->children->len && !pushed; i++) {
            const BlockChild *c = g_ptr_array_index(node->children, i);

            if (saved_child_form(c) != CHILD_FROM_IMAGE && g_hash_table_add(seen, c->node)) {
                g_ptr_array_add(stack, c->node);
                pushed = true;
            }
        }
        if (pushed)
            continue;
        g_ptr_array_remove_index(stack, stack->len - 1);
        if (!node->name_generated)
            g_ptr_array_add(order, node);
    }
}

static GPtrArray *graph_nodes_ordered(void)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    GPtrArray *order = g_ptr_array_new();

    for (GList *l = graph_nodes(); l; l = l->next) {
        BlockNode *node = l->data;

        if (!node->name_generated)
            order_node(node, seen, order);
    }
    return order;
}

/* "inet:host:port" -> host, port (the host may hold colons: IPv6). */
static void add_server(xmlNode *export_elem, const NbdListener *l)
{
    xmlNode *server = xmlNewChild(export_elem, NULL, X("server"), NULL);
    const char *colon;

    if (l->type == EXPORT_SERVER_UNIX) {
        xmlSetProp(server, X("type"), X("unix"));
        xmlSetProp(server, X("path"), X(l->path));
        if (l->sock.mode) {
            g_autofree char *mode = g_strdup_printf("%04o", l->sock.mode);
            xmlSetProp(server, X("mode"), X(mode));
        }
        if (l->sock.group)
            xmlSetProp(server, X("group"), X(l->sock.group));
        return;
    }
    g_autofree char *hostport = g_strdup(l->key + strlen("inet:"));
    colon = strrchr(hostport, ':');
    xmlSetProp(server, X("type"), X("inet"));
    if (colon) {
        xmlSetProp(server, X("port"), X(colon + 1));
        hostport[colon - hostport] = '\0';
    }
    xmlSetProp(server, X("host"), X(hostport));
}

static void add_tls(xmlNode *export_elem, const NbdTlsConfig *cfg)
{
    xmlNode *tls = xmlNewChild(export_elem, NULL, X("tls"), NULL);

    xmlSetProp(tls, X("dir"), X(cfg->dir));
    xmlSetProp(tls, X("verify-peer"), X(cfg->verify_peer ? "on" : "off"));
    if (cfg->priority)
        xmlSetProp(tls, X("priority"), X(cfg->priority));
}

static xmlNode *export_element(const Export *e)
{
    xmlNode *elem = xmlNewNode(NULL, X("export"));

    xmlSetProp(elem, X("type"), X(e->type));
    xmlSetProp(elem, X("id"), X(e->id));
    xmlSetProp(elem, X("node-name"), X(e->node_name));
    xmlSetProp(elem, X("name"), X(e->name));
    if (e->description)
        xmlSetProp(elem, X("description"), X(e->description));
    if (e->loop && !aio_loop_is_main(e->loop))
        xmlSetProp(elem, X("iothread"), X(aio_loop_name(e->loop)));
    xmlSetProp(elem, X("writable"), X(e->writable ? "on" : "off"));
    add_server(elem, e->listener);
    if (e->tls)
        add_tls(elem, nbd_tls_creds_config(e->tls));
    for (guint i = 0; e->bitmap_names && e->bitmap_names[i]; i++)
        xmlSetProp(xmlNewChild(elem, NULL, X("bitmap"), NULL), X("name"), X(e->bitmap_names[i]));
    return elem;
}

static void add_exports(xmlNode *root)
{
    for (GList *l = export_list(); l; l = l->next) {
        const Export *e = l->data;
        const BlockNode *node = graph_lookup(e->node_name);

        if (node && node->name_generated) {
            g_autofree char *text = g_strdup_printf(
                " export '%s' serves unnamed node '%s', which a file cannot name ",
                e->id, e->node_name);

            xmlAddChild(root, xmlNewComment(X(text)));
            continue;
        }
        xmlAddChild(root, export_element(e));
    }
}

char *graph_to_xml(void)
{
    g_autoptr(GPtrArray) order = graph_nodes_ordered();
    xmlNode *root = xmlNewNode(NULL, X("blockgraph"));

    for (guint i = 0; i < order->len; i++)
        xmlAddChild(root, node_element(g_ptr_array_index(order, i), "blockdev", true));
    add_exports(root);
    return dump_element(root);
}

/* A double-quoted dot ID. */
static void dot_quote(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        if (*s == '\n') {
            g_string_append(out, "\\n");
            continue;
        }
        if (*s == '"' || *s == '\\')
            g_string_append_c(out, '\\');
        g_string_append_c(out, *s);
    }
    g_string_append_c(out, '"');
}

static void dot_edge(GString *out, const char *from, const char *to, const char *label)
{
    g_string_append(out, "  ");
    dot_quote(out, from);
    g_string_append(out, " -> ");
    dot_quote(out, to);
    g_string_append(out, " [label=");
    dot_quote(out, label);
    g_string_append(out, "];\n");
}

static void dot_vertex(GString *out, const char *id, const char *label, const char *shape)
{
    g_string_append(out, "  ");
    dot_quote(out, id);
    g_string_append_printf(out, " [shape=%s, label=", shape);
    dot_quote(out, label);
    g_string_append(out, "];\n");
}

/* Exports and jobs using node: a vertex each and an edge to the node. */
static void dot_users(GString *out, const BlockNode *node)
{
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->parents, i);
        const char *kind = node_user_kind_name(c->user_kind);
        g_autofree char *id = NULL;
        g_autofree char *label = NULL;

        if (c->user_kind != BLOCK_USER_EXPORT && c->user_kind != BLOCK_USER_JOB)
            continue;
        id = g_strdup_printf("%s:%s", kind, c->user_name);
        label = g_strdup_printf("%s %s", kind, c->user_name);
        dot_vertex(out, id, label, "ellipse");
        dot_edge(out, id, node->name, c->role ? c->role : kind);
    }
}

char *graph_to_dot(void)
{
    GString *out = g_string_new("digraph blockgraph {\n");

    for (GList *l = graph_nodes(); l; l = l->next) {
        const BlockNode *node = l->data;
        g_autofree char *label = g_strdup_printf("%s\n%s", node->name, node->drv->name);

        dot_vertex(out, node->name, label, "box");
    }
    for (GList *l = graph_nodes(); l; l = l->next) {
        const BlockNode *node = l->data;

        for (guint i = 0; i < node->children->len; i++) {
            const BlockChild *c = g_ptr_array_index(node->children, i);

            dot_edge(out, node->name, c->node->name, c->role);
        }
        dot_users(out, node);
    }
    g_string_append(out, "}\n");
    return g_string_free(out, FALSE);
}

char *graph_describe(const char *format, GError **errp)
{
    if (g_strcmp0(format, "xml") == 0)
        return graph_to_xml();
    if (g_strcmp0(format, "dot") == 0)
        return graph_to_dot();
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Unknown graph format '%s' (expected: xml, dot)", format ? format : "");
    return NULL;
}
