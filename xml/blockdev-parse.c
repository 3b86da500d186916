/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/blockdev-parse.h"

#include <stdlib.h>
#include <string.h>

#include "graph/driver.h"
#include "graph/error.h"
#include "graph/node.h"
#include "xml/xml-util.h"

typedef struct BlockdevParser {
    const char *source;
    GHashTable *groups;         /* known dotted prefixes */
} BlockdevParser;

/* One node element being parsed: its spec and its child links by role. */
typedef struct NodeParse {
    BlockdevSpec *spec;
    GHashTable *roles;          /* role -> ChildSpec* already given */
} NodeParse;

static bool parse_node_element(BlockdevParser *p, const xmlNode *elem,
                               BlockdevSpec *spec, GError **errp);

static void groups_add_table(GHashTable *groups, const OptionSpec *table)
{
    for (; table && table->name; table++) {
        for (const char *dot = strchr(table->name, '.'); dot; dot = strchr(dot + 1, '.'))
            g_hash_table_add(groups, g_strndup(table->name, dot - table->name));
    }
}

GHashTable *blockdev_option_groups(void)
{
    GHashTable *groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    groups_add_table(groups, node_common_options);
    for (const BlockDriver *const *drv = block_drivers(); drv && *drv; drv++)
        groups_add_table(groups, (*drv)->options);
    return groups;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *groups_describe(GHashTable *groups)
{
    guint n;
    g_autofree const char **names =
        (const char **)g_hash_table_get_keys_as_array(groups, &n);

    if (n == 0)
        return g_strdup("none");
    qsort(names, n, sizeof(*names), compare_strings);
    return g_strjoinv(", ", (char **)names);
}

static bool spec_add_option(BlockdevParser *p, BlockdevSpec *spec, const xmlNode *elem,
                            const char *name, const char *value, GError **errp)
{
    if (blockdev_spec_get(spec, name)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                         "option '%s' is given twice", name);
        return false;
    }
    blockdev_spec_set(spec, name, value);
    return true;
}

/* Adds elem's attributes as options named prefix.attr (or attr). */
static bool parse_attributes(BlockdevParser *p, const xmlNode *elem, const char *prefix,
                             BlockdevSpec *spec, GError **errp)
{
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        g_autofree char *value = bg_xml_attr_value(a);
        g_autofree char *name = prefix ? g_strdup_printf("%s.%s", prefix, (const char *)a->name)
                                       : g_strdup((const char *)a->name);

        if (a->ns) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, elem,
                             "attribute '%s:%s' of <%s>: namespaced attributes are not options",
                             (const char *)a->ns->prefix, (const char *)a->name,
                             bg_xml_name(elem));
            return false;
        }
        if (!prefix && g_str_equal(name, "ref")) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, elem,
                             "<%s> defines a node; ref= belongs on a child link element",
                             bg_xml_name(elem));
            return false;
        }
        if (!spec_add_option(p, spec, elem, name, value, errp))
            return false;
    }
    return true;
}

static bool is_child_link(const xmlNode *elem)
{
    return xmlHasProp(elem, (const xmlChar *)"ref") ||
           xmlHasProp(elem, (const xmlChar *)"driver");
}

static bool is_empty_element(const xmlNode *elem)
{
    return !elem->properties && !bg_xml_first_element(elem);
}

static bool parse_group(BlockdevParser *p, const xmlNode *elem, const char *group,
                        BlockdevSpec *spec, GError **errp)
{
    if (!bg_xml_check_no_text(elem, p->source, errp) ||
        !parse_attributes(p, elem, group, spec, errp))
        return false;
    bg_xml_foreach_element(sub, elem) {
        g_autofree char *name = g_strdup_printf("%s.%s", group, bg_xml_name(sub));

        if (is_child_link(sub) || !g_hash_table_contains(p->groups, name)) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, sub,
                             "unknown element <%s> in option group <%s>",
                             bg_xml_name(sub), bg_xml_name(elem));
            return false;
        }
        if (!parse_group(p, sub, name, spec, errp))
            return false;
    }
    return true;
}

static bool check_ref_alone(BlockdevParser *p, const xmlNode *elem, GError **errp)
{
    const xmlAttr *other = elem->properties;

    while (other && g_str_equal((const char *)other->name, "ref"))
        other = other->next;
    if (other || bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, elem,
                         "<%s ref=...> must not have other %s%s%s: a reference "
                         "cannot also define options", bg_xml_name(elem),
                         other ? "attributes (" : "elements",
                         other ? (const char *)other->name : "", other ? ")" : "");
        return false;
    }
    return bg_xml_check_no_text(elem, p->source, errp);
}

static bool parse_child(BlockdevParser *p, const xmlNode *elem, NodeParse *np,
                        GError **errp)
{
    BlockdevSpec *spec = np->spec;
    const char *role = bg_xml_name(elem);
    const ChildSpec *prev = g_hash_table_lookup(np->roles, role);
    g_autofree char *ref = bg_xml_get_attr(elem, "ref");
    ChildSpec *child;

    if (prev) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, elem,
                         "child <%s> is given twice (first on line %d)", role, prev->line);
        return false;
    }
    if (ref) {
        if (!check_ref_alone(p, elem, errp))
            return false;
        if (!*ref) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                             "<%s ref=\"\">: ref must name a node", role);
            return false;
        }
        child = blockdev_spec_add_child(spec, role, CHILD_SPEC_REF);
        child->ref = g_steal_pointer(&ref);
    } else if (is_empty_element(elem)) {
        if (!bg_xml_check_no_text(elem, p->source, errp))
            return false;
        child = blockdev_spec_add_child(spec, role, CHILD_SPEC_NONE);
    } else {
        child = blockdev_spec_add_child(spec, role, CHILD_SPEC_INLINE);
        if (!child->inline_spec)
            child->inline_spec = blockdev_spec_new();
        if (!parse_node_element(p, elem, child->inline_spec, errp))
            return false;
    }
    child->line = (int)xmlGetLineNo(elem);
    g_hash_table_insert(np->roles, child->role, child);
    return true;
}

static bool parse_sub_element(BlockdevParser *p, const xmlNode *parent, const xmlNode *elem,
                              NodeParse *np, GError **errp)
{
    const char *name = bg_xml_name(elem);

    if (!is_child_link(elem) && g_hash_table_contains(p->groups, name))
        return parse_group(p, elem, name, np->spec, errp);
    if (is_child_link(elem) || is_empty_element(elem))
        return parse_child(p, elem, np, errp);

    g_autofree char *known = groups_describe(p->groups);
    bg_xml_set_error(errp, BG_ERROR_INVALID_XML, p->source, elem,
                     "unknown element <%s> in <%s>: not an option group (known: %s) "
                     "and not a child link (needs ref= or driver=, or empty for none)",
                     name, bg_xml_name(parent), known);
    return false;
}

static bool parse_node_element(BlockdevParser *p, const xmlNode *elem,
                               BlockdevSpec *spec, GError **errp)
{
    g_autoptr(GHashTable) roles = g_hash_table_new(g_str_hash, g_str_equal);
    NodeParse np = { .spec = spec, .roles = roles };

    g_free(spec->source);
    spec->source = g_strdup(p->source);
    spec->line = (int)xmlGetLineNo(elem);
    if (!bg_xml_check_no_text(elem, p->source, errp) ||
        !parse_attributes(p, elem, NULL, spec, errp))
        return false;
    bg_xml_foreach_element(sub, elem) {
        if (!parse_sub_element(p, elem, sub, &np, errp))
            return false;
    }
    return true;
}

BlockdevSpec *blockdev_parse_element(const xmlNode *elem, const char *source,
                                     GError **errp)
{
    g_autoptr(GHashTable) groups = blockdev_option_groups();
    BlockdevParser p = { .source = source, .groups = groups };
    g_autoptr(BlockdevSpec) spec = blockdev_spec_new();

    if (!bg_xml_check_root(elem, "blockdev", source, errp) ||
        !parse_node_element(&p, elem, spec, errp))
        return NULL;
    return g_steal_pointer(&spec);
}

BlockdevSpec *blockdev_parse_xml(const char *text, gssize len, const char *source,
                                 GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);

    if (!doc)
        return NULL;
    return blockdev_parse_element(xmlDocGetRootElement(doc), source, errp);
}

/* Whether the snippets of one call stay within the limits on their number and total size. */
static bool check_snippet_list(const char *const *texts, GError **errp)
{
    size_t n = 0, bytes = 0;

    for (; texts[n]; n++) {
        bytes += strlen(texts[n]);
        if (n + 1 > BG_XML_MAX_SNIPPETS) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_XML,
                        "<bus>: more than %d snippets in one call", BG_XML_MAX_SNIPPETS);
            return false;
        }
        if (bytes > BG_XML_SNIPPETS_MAX_BYTES) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_XML,
                        "<bus>: the snippets of one call are larger than the limit of %d bytes "
                        "together", BG_XML_SNIPPETS_MAX_BYTES);
            return false;
        }
    }
    return true;
}

GPtrArray *blockdev_parse_xml_list(const char *const *texts, GError **errp)
{
    g_autoptr(GPtrArray) specs =
        g_ptr_array_new_with_free_func((GDestroyNotify)blockdev_spec_free);

    if (!check_snippet_list(texts, errp))
        return NULL;
    for (size_t i = 0; texts[i]; i++) {
        g_autofree char *source = g_strdup_printf("<bus>[%zu]", i);
        BlockdevSpec *spec = blockdev_parse_xml(texts[i], -1, source, errp);

        if (!spec)
            return NULL;
        g_ptr_array_add(specs, spec);
    }
    return g_steal_pointer(&specs);
}
