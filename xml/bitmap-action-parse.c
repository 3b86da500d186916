/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The <bitmap-*> actions of Manager.Transaction (see bitmap-action-parse.h). */

#include <string.h>

#include "graph/error.h"
#include "graph/option.h"
#include "xml/bitmap-action-parse.h"
#include "xml/xml-util.h"

static const char *const add_attrs[] = {
    "node-name", "name", "granularity", "persistent", "disabled", NULL,
};
static const char *const name_attrs[] = { "node-name", "name", NULL };
static const char *const merge_attrs[] = { "node-name", "target", NULL };
static const char *const source_attrs[] = { "name", NULL };

bool bitmap_action_is_element(const char *name)
{
    for (int k = BITMAP_ACTION_ADD; k <= BITMAP_ACTION_MERGE; k++) {
        if (g_str_equal(name, bitmap_action_kind_name(k)))
            return true;
    }
    return false;
}

static bool check_attrs(const xmlNode *elem, const char *const *allowed, const char *source,
                        GError **errp)
{
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        if (a->ns || !g_strv_contains(allowed, (const char *)a->name)) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                             "unknown attribute '%s' of <%s>", (const char *)a->name,
                             bg_xml_name(elem));
            return false;
        }
    }
    return true;
}

static char *require(const xmlNode *elem, const char *attr, const char *source, GError **errp)
{
    char *v = bg_xml_get_attr(elem, attr);

    if (!v || !*v) {
        g_free(v);
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<%s> needs a non-empty '%s' attribute", bg_xml_name(elem), attr);
        return NULL;
    }
    return v;
}

static bool parse_bool(const xmlNode *elem, const char *attr, bool *ret, const char *source,
                       GError **errp)
{
    g_autofree char *v = bg_xml_get_attr(elem, attr);

    *ret = false;
    if (v && !option_parse_bool(v, ret)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<%s> %s '%s' is not a boolean (on/off)", bg_xml_name(elem), attr, v);
        return false;
    }
    return true;
}

static bool parse_add(const xmlNode *elem, BitmapActionSpec *spec, const char *source,
                      GError **errp)
{
    g_autofree char *gran = bg_xml_get_attr(elem, "granularity");
    uint64_t g = 0;

    if (gran && (!option_parse_size(gran, &g) || g > UINT32_MAX)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<bitmap-add> granularity '%s' is not a size (e.g. 64K)", gran);
        return false;
    }
    spec->granularity = (uint32_t)g;
    return parse_bool(elem, "persistent", &spec->persistent, source, errp) &&
           parse_bool(elem, "disabled", &spec->disabled, source, errp);
}

static bool parse_merge(const xmlNode *elem, BitmapActionSpec *spec, const char *source,
                        GError **errp)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

    bg_xml_foreach_element(sub, elem) {
        char *name;
        if (!g_str_equal(bg_xml_name(sub), "source")) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, sub,
                             "unknown element <%s> in <bitmap-merge> (expected <source>)",
                             bg_xml_name(sub));
            return false;
        }
        if (!check_attrs(sub, source_attrs, source, errp) ||
            !(name = require(sub, "name", source, errp)))
            return false;
        g_ptr_array_add(names, name);
    }
    if (!names->len) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<bitmap-merge> needs at least one <source name=\"...\"/>");
        return false;
    }
    g_ptr_array_add(names, NULL);
    spec->sources = (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
    return true;
}

static BitmapActionKind kind_of(const char *name)
{
    for (int k = BITMAP_ACTION_ADD; k <= BITMAP_ACTION_MERGE; k++) {
        if (g_str_equal(name, bitmap_action_kind_name(k)))
            return k;
    }
    g_assert_not_reached();
}

BitmapActionSpec *bitmap_action_parse_xml(const char *text, const char *source, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, -1, source, errp);
    g_autoptr(BitmapActionSpec) spec = g_new0(BitmapActionSpec, 1);

    if (!doc)
        return NULL;
    const xmlNode *elem = xmlDocGetRootElement(doc);
    if (!bitmap_action_is_element(bg_xml_name(elem))) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                         "unknown action <%s> (expected bitmap-add, bitmap-remove, bitmap-clear, "
                         "bitmap-enable, bitmap-disable, bitmap-merge)", bg_xml_name(elem));
        return NULL;
    }
    spec->kind = kind_of(bg_xml_name(elem));
    bool merge = spec->kind == BITMAP_ACTION_MERGE, add = spec->kind == BITMAP_ACTION_ADD;
    if (!check_attrs(elem, add ? add_attrs : merge ? merge_attrs : name_attrs, source, errp) ||
        (!merge && !bg_xml_check_no_text(elem, source, errp)) ||
        !(spec->node_name = require(elem, "node-name", source, errp)) ||
        !(spec->name = require(elem, merge ? "target" : "name", source, errp)))
        return NULL;
    if (add && !parse_add(elem, spec, source, errp))
        return NULL;
    if (merge && !parse_merge(elem, spec, source, errp))
        return NULL;
    if (!merge && bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, bg_xml_first_element(elem),
                         "<%s> takes no elements", bg_xml_name(elem));
        return NULL;
    }
    return g_steal_pointer(&spec);
}
