/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/job-parse.h"

#include <string.h>

#include "graph/error.h"
#include "graph/option.h"
#include "xml/xml-util.h"

static const char *const job_common_attrs[] = {
    "type", "id", "speed", "on-error", "auto-finalize", "auto-dismiss", NULL,
};

void job_spec_free(JobSpec *spec)
{
    if (!spec)
        return;
    g_free(spec->type);
    g_free(spec->id);
    if (spec->attrs)
        g_hash_table_unref(spec->attrs);
    g_free(spec);
}

const char *job_spec_get(const JobSpec *spec, const char *name)
{
    return g_hash_table_lookup(spec->attrs, name);
}

static bool parse_bool_attr(const xmlNode *elem, const char *name, bool *ret,
                            const char *source, GError **errp)
{
    g_autofree char *text = bg_xml_get_attr(elem, name);

    if (!text || option_parse_bool(text, ret))
        return true;
    bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                     "<job> %s '%s' is not a boolean (on/off, true/false, yes/no)", name, text);
    return false;
}

static bool parse_common(const xmlNode *elem, JobSpec *spec, const char *source,
                         GError **errp)
{
    g_autofree char *speed = bg_xml_get_attr(elem, "speed");
    g_autofree char *on_error = bg_xml_get_attr(elem, "on-error");

    if (speed && !option_parse_size(speed, &spec->speed)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<job> speed '%s' is not a number of bytes per second", speed);
        return false;
    }
    if (on_error && !job_on_error_parse(on_error, &spec->on_error)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<job> on-error '%s' is not one of report, ignore, stop, enospc",
                         on_error);
        return false;
    }
    spec->auto_finalize = spec->auto_dismiss = true;
    return parse_bool_attr(elem, "auto-finalize", &spec->auto_finalize, source, errp) &&
           parse_bool_attr(elem, "auto-dismiss", &spec->auto_dismiss, source, errp);
}

/* Every attribute is a common one or one of the type's; the type's go into attrs. */
static bool parse_type_attrs(const xmlNode *elem, const JobDriver *drv, JobSpec *spec,
                             const char *source, GError **errp)
{
    for (const xmlAttr *a = elem->properties; a; a = a->next) {
        const char *name = (const char *)a->name;

        if (!a->ns && g_strv_contains(job_common_attrs, name))
            continue;
        if (a->ns || !drv->attrs || !g_strv_contains(drv->attrs, name)) {
            g_autofree char *list = drv->attrs ? g_strjoinv(", ", (char **)drv->attrs) : NULL;
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                             "unknown attribute '%s' of <job type=\"%s\"> (its own: %s)",
                             name, drv->type, list ? list : "none");
            return false;
        }
        g_hash_table_insert(spec->attrs, g_strdup(name), bg_xml_attr_value(a));
    }
    return true;
}

static char *require(const xmlNode *elem, const char *name, const char *source, GError **errp)
{
    g_autofree char *v = bg_xml_get_attr(elem, name);

    if (!v || !*v) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<job> needs a non-empty '%s' attribute", name);
        return NULL;
    }
    return g_steal_pointer(&v);
}

JobSpec *job_parse_xml(const char *text, gssize len, const char *source, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);
    g_autoptr(JobSpec) spec = g_new0(JobSpec, 1);
    const JobDriver *drv;
    xmlNode *elem;

    if (!doc)
        return NULL;
    elem = xmlDocGetRootElement(doc);
    spec->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (!bg_xml_check_root(elem, "job", source, errp) || !bg_xml_check_no_text(elem, source, errp) ||
        !(spec->type = require(elem, "type", source, errp)))
        return NULL;
    drv = job_driver_find(spec->type);
    if (!drv) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "Unknown job type '%s'", spec->type);
        return NULL;
    }
    if (bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                         "<job> takes attributes only, no elements");
        return NULL;
    }
    if (!(spec->id = require(elem, "id", source, errp)) ||
        !parse_common(elem, spec, source, errp) ||
        !parse_type_attrs(elem, drv, spec, source, errp))
        return NULL;
    return g_steal_pointer(&spec);
}
