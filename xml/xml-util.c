/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/xml-util.h"

#include <errno.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "graph/error.h"

/* The first error libxml2 reported while parsing one document. */
typedef struct XmlErrorCapture {
    bool have;
    int line;
    int column;
    char *message;
} XmlErrorCapture;

static void xml_capture_error(void *userdata, xmlErrorPtr err)
{
    xmlParserCtxtPtr ctxt = userdata;
    XmlErrorCapture *cap = ctxt->_private;

    if (cap->have || err->level < XML_ERR_ERROR)
        return;
    cap->have = true;
    cap->line = err->line;
    cap->column = err->int2;
    cap->message = g_strstrip(g_strdup(err->message ? err->message : "unknown error"));
}

static void xml_set_parse_error(GError **errp, const char *source, const XmlErrorCapture *cap)
{
    g_autofree char *where = NULL;

    if (cap->column > 0)
        where = g_strdup_printf("line %d, column %d", cap->line, cap->column);
    else
        where = g_strdup_printf("line %d", cap->line);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_XML, "%s%s%s: malformed XML: %s",
                source ? source : "", source ? " " : "", where,
                cap->have ? cap->message : "document is empty");
}

xmlDoc *bg_xml_read(const char *text, gssize len, const char *source, GError **errp)
{
    XmlErrorCapture cap = { 0 };
    xmlParserCtxtPtr ctxt;
    xmlDoc *doc;

    if (len < 0)
        len = strlen(text);
    if (len > G_MAXINT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_XML, "%s%sXML text too large",
                    source ? source : "", source ? ": " : "");
        return NULL;
    }
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        g_error("out of memory creating an XML parser");
    ctxt->_private = &cap;
    ctxt->sax->serror = xml_capture_error;
    /* No XML_PARSE_NOENT / DTDLOAD: external entities are never fetched. */
    doc = xmlCtxtReadMemory(ctxt, text, (int)len, source, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOWARNING);
    xmlFreeParserCtxt(ctxt);

    if (doc && !cap.have && doc->intSubset) {
        cap.have = true;
        cap.line = 1;  /* the prolog */
        cap.message = g_strdup("document type declarations (DOCTYPE) are not allowed");
    }
    if (!doc || cap.have || !xmlDocGetRootElement(doc)) {
        if (cap.line <= 0)
            cap.line = 1;
        xml_set_parse_error(errp, source, &cap);
        g_free(cap.message);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

xmlDoc *bg_xml_read_file(const char *path, GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    gsize len;

    if (!g_file_get_contents(path, &text, &len, &err)) {
        int code = BG_ERROR_IO_ERROR;

        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            code = BG_ERROR_NOT_FOUND;
        else if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_ACCES))
            code = BG_ERROR_ACCESS_DENIED;
        g_set_error(errp, BG_ERROR, code, "Failed to read configuration file: %s",
                    err->message);
        return NULL;
    }
    return bg_xml_read(text, (gssize)len, path, errp);
}

void bg_xml_set_error(GError **errp, int code, const char *source, const xmlNode *node,
                      const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    long line = node ? xmlGetLineNo(node) : 0;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (line > 0)
        g_set_error(errp, BG_ERROR, code, "%s%sline %ld: %s",
                    source ? source : "", source ? " " : "", line, msg);
    else
        g_set_error(errp, BG_ERROR, code, "%s%s%s",
                    source ? source : "", source ? ": " : "", msg);
}

bool bg_xml_check_root(const xmlNode *elem, const char *expected, const char *source,
                       GError **errp)
{
    if (g_str_equal(bg_xml_name(elem), expected))
        return true;
    bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                     "expected a <%s> element, got <%s>", expected, bg_xml_name(elem));
    return false;
}

bool bg_xml_check_no_text(const xmlNode *elem, const char *source, GError **errp)
{
    for (const xmlNode *n = elem->children; n; n = n->next) {
        if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE &&
            n->type != XML_ENTITY_REF_NODE)
            continue;
        if (n->type == XML_ENTITY_REF_NODE || !xmlIsBlankNode((xmlNode *)n)) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, n,
                             "element <%s> must not contain text; options are attributes",
                             bg_xml_name(elem));
            return false;
        }
    }
    return true;
}

char *bg_xml_get_attr(const xmlNode *elem, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(elem, (const xmlChar *)name);
    char *ret = v ? g_strdup((const char *)v) : NULL;

    xmlFree(v);
    return ret;
}

char *bg_xml_attr_value(const xmlAttr *attr)
{
    xmlChar *v = xmlNodeGetContent((const xmlNode *)attr);
    char *ret = g_strdup(v ? (const char *)v : "");

    xmlFree(v);
    return ret;
}

static xmlNode *skip_to_element(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

xmlNode *bg_xml_first_element(const xmlNode *parent)
{
    return skip_to_element(parent->children);
}

xmlNode *bg_xml_next_element(const xmlNode *node)
{
    return skip_to_element(node->next);
}
