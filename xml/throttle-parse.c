/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/throttle-parse.h"

#include "graph/error.h"
#include "xml/xml-util.h"

void throttle_group_spec_free(ThrottleGroupSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->id);
    g_hash_table_unref(spec->limits);
    g_free(spec);
}

ThrottleGroupSpec *throttle_group_parse_element(const xmlNode *elem, const char *source,
                                                GError **errp)
{
    g_autoptr(ThrottleGroupSpec) spec = g_new0(ThrottleGroupSpec, 1);

    spec->limits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!bg_xml_check_root(elem, "throttle-group", source, errp) ||
        !bg_xml_check_no_text(elem, source, errp))
        return NULL;
    if (bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, bg_xml_first_element(elem),
                         "<throttle-group> takes attributes only");
        return NULL;
    }
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        char *value = bg_xml_attr_value(a);

        if (g_str_equal((const char *)a->name, "id")) {
            g_free(spec->id);
            spec->id = value;
        } else {
            g_hash_table_replace(spec->limits, g_strdup((const char *)a->name), value);
        }
    }
    if (!spec->id || !*spec->id) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<throttle-group> needs an 'id' attribute");
        return NULL;
    }
    return g_steal_pointer(&spec);
}

ThrottleGroupSpec *throttle_group_parse_xml(const char *text, gssize len, const char *source,
                                            GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);

    if (!doc)
        return NULL;
    return throttle_group_parse_element(xmlDocGetRootElement(doc), source, errp);
}
