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

static void capture(XmlErrorCapture *cap, xmlErrorPtr err)
{
    if (cap->have || err->level < XML_ERR_ERROR)
        return;
    cap->have = true;
    cap->line = err->line;
    cap->column = err->int2;
    cap->message = g_strstrip(g_strdup(err->message ? err->message : "unknown error"));
}

static void xml_capture_error(void *userdata, xmlErrorPtr err)
{
    xmlParserCtxtPtr ctxt = userdata;

    capture(ctxt->_private, err);
}

static void xml_capture_contextless_error(void *userdata, xmlErrorPtr err)
{
    capture(userdata, err);
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

xmlDoc *bg_xml_read_limited(const char *text, gssize len, const char *source,
                            const BgXmlLimits *limits, GError **errp)
{
    XmlErrorCapture cap = { 0 };
    xmlParserCtxtPtr ctxt;
    xmlDoc *doc;
    size_t parse_len;

    if (len < 0)
        len = strlen(text);
    if (!bg_xml_check_limits(text, (size_t)len, limits, source, &parse_len, errp))
        return NULL;
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        g_error("out of memory creating an XML parser");
    ctxt->_private = &cap;
    ctxt->sax->serror = xml_capture_error;
    /*
     * Encoding conversion errors are raised without the parser context and
     * would go to stderr: capture them too (libxml2's handler is per thread).
     */
    xmlSetStructuredErrorFunc(&cap, xml_capture_contextless_error);
    /* No XML_PARSE_NOENT / DTDLOAD: external entities are never fetched. */
    doc = xmlCtxtReadMemory(ctxt, text, (int)parse_len, source,
                            limits->utf8_only ? "UTF-8" : NULL,
                            XML_PARSE_NONET | XML_PARSE_NOWARNING |
                            (limits->utf8_only ? XML_PARSE_IGNORE_ENC : 0));
    xmlSetStructuredErrorFunc(NULL, NULL);
    xmlFreeParserCtxt(ctxt);

    if (doc && !cap.have && doc->intSubset) {   /* the scan refuses these already */
        cap.have = true;
        cap.line = 1;
        cap.message = g_strdup("document type declarations (DOCTYPE) are not allowed");
    }
    if (doc && !cap.have && parse_len < (size_t)len) {  /* the scan found it malformed */
        cap.have = true;
        cap.message = g_strdup("malformed markup");
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

xmlDoc *bg_xml_read(const char *text, gssize len, const char *source, GError **errp)
{
    return bg_xml_read_limited(text, len, source, &bg_xml_snippet_limits, errp);
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
    return bg_xml_read_limited(text, (gssize)len, path, &bg_xml_file_limits, errp);
}

void bg_xml_set_error_line(GError **errp, int code, const char *source, long line,
                           const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;

    if (!errp)
        return;
    va_start(ap, fmt);
    err = g_error_new_valist(BG_ERROR, code, fmt, ap);
    va_end(ap);
    bg_error_prefix_location(&err, source, line);
    g_propagate_error(errp, g_steal_pointer(&err));
}

void bg_xml_set_error(GError **errp, int code, const char *source, const xmlNode *node,
                      const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    bg_xml_set_error_line(errp, code, source, node ? xmlGetLineNo(node) : 0, "%s", msg);
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
