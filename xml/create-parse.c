/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/create-parse.h"

#include "graph/error.h"
#include "xml/xml-util.h"

static bool parse_attrs(const xmlNode *elem, CreateSpec *spec, const char *source,
                        GError **errp)
{
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        if (a->ns) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                             "unknown attribute '%s' of <create>", (const char *)a->name);
            return false;
        }
        g_hash_table_insert(spec->attrs, g_strdup((const char *)a->name), bg_xml_attr_value(a));
    }
    return true;
}

/* The one child it may have: <file ref="node"/>. */
static bool parse_file_ref(const xmlNode *elem, CreateSpec *spec, const char *source,
                           GError **errp)
{
    bg_xml_foreach_element(child, elem) {
        if (!g_str_equal(bg_xml_name(child), "file") || spec->file_ref) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, child,
                             "<create> takes one <file ref=\"node\"/> child, not <%s>",
                             bg_xml_name(child));
            return false;
        }
        spec->file_ref = bg_xml_get_attr(child, "ref");
        if (!spec->file_ref || !*spec->file_ref || !child->properties ||
            child->properties->next || bg_xml_first_element(child)) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, child,
                             "<file> in <create> takes exactly a non-empty 'ref' attribute "
                             "naming a protocol node");
            return false;
        }
    }
    return true;
}

CreateSpec *create_parse_xml(const char *text, gssize len, const char *source, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);
    g_autoptr(CreateSpec) spec = g_new0(CreateSpec, 1);
    xmlNode *elem;

    if (!doc)
        return NULL;
    elem = xmlDocGetRootElement(doc);
    spec->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!bg_xml_check_root(elem, "create", source, errp) ||
        !bg_xml_check_no_text(elem, source, errp) || !parse_attrs(elem, spec, source, errp) ||
        !parse_file_ref(elem, spec, source, errp))
        return NULL;
    return g_steal_pointer(&spec);
}
