/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/iothread-parse.h"

#include "graph/error.h"
#include "xml/xml-util.h"

char *iothread_parse_element(const xmlNode *elem, const char *source, GError **errp)
{
    g_autofree char *id = NULL;

    if (!bg_xml_check_root(elem, "iothread", source, errp) ||
        !bg_xml_check_no_text(elem, source, errp))
        return NULL;
    if (bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, bg_xml_first_element(elem),
                         "<iothread> takes an 'id' attribute only");
        return NULL;
    }
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        if (!g_str_equal((const char *)a->name, "id")) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                             "unknown attribute '%s' of <iothread> (expected 'id')",
                             (const char *)a->name);
            return NULL;
        }
        g_free(id);
        id = bg_xml_attr_value(a);
    }
    if (!id || !*id) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<iothread> needs an 'id' attribute");
        return NULL;
    }
    return g_steal_pointer(&id);
}

char *iothread_parse_xml(const char *text, gssize len, const char *source, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);

    if (!doc)
        return NULL;
    return iothread_parse_element(xmlDocGetRootElement(doc), source, errp);
}
