/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: XML snippets: read from a file or stdin, parsed to choose the
 * Manager method (and to split a <blockgraph> document), options and child
 * links read for `show` and changed for `reopen`.  The daemon checks what
 * they mean; bgctl only needs their shape (docs/xml.md). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "snippet.h"

static int read_stdin(char **ret_text)
{
    g_autoptr(GString) s = g_string_new(NULL);
    char buf[65536];
    ssize_t n;

    while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ctl_fail("cannot read standard input: %m");
        g_string_append_len(s, buf, n);
    }
    *ret_text = g_string_free(g_steal_pointer(&s), FALSE);
    return 0;
}

/* The text of FILE, or of standard input for "-". */
int snippet_read(const char *file, char **ret_text)
{
    g_autoptr(GError) error = NULL;

    if (strcmp(file, "-") == 0)
        return read_stdin(ret_text);
    if (!g_file_get_contents(file, ret_text, NULL, &error))
        return ctl_fail("%s", error->message);
    return 0;
}

xmlDoc *snippet_parse(const char *text, const char *source)
{
    xmlDoc *doc = xmlReadMemory(text, strlen(text), source, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

    if (!doc) {
        const xmlError *e = xmlGetLastError();
        ctl_fail("%s: line %d: %s", source, e ? e->line : 0,
                 e && e->message ? g_strchomp(e->message) : "not well-formed XML");
        return NULL;
    }
    if (!xmlDocGetRootElement(doc)) {
        ctl_fail("%s: no XML element", source);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

char *snippet_text(xmlNode *element)
{
    xmlBuffer *buf = xmlBufferCreate();
    char *text;

    xmlNodeDump(buf, element->doc, element, 0, 0);
    text = g_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return text;
}

/* A child link: a ref or driver attribute, or empty without attributes
 * (docs/xml.md); other elements are option groups. */
bool snippet_is_link(xmlNode *element)
{
    return xmlHasProp(element, BAD_CAST "ref") || xmlHasProp(element, BAD_CAST "driver") ||
           (!element->properties && !xmlFirstElementChild(element));
}

static char *attribute(xmlAttr *a)
{
    xmlChar *v = xmlNodeGetContent((xmlNode *)a);
    char *s = g_strdup(v ? (const char *)v : "");

    xmlFree(v);
    return s;
}

/* Options as {"cache.direct": "off", …}, links as {"file": "disk0-file"}
 * ("" for an empty link, "(inline)" for a child defined in place). */
void snippet_options(xmlNode *element, const char *prefix, JsonObject *options,
                     JsonObject *children)
{
    for (xmlAttr *a = element->properties; a; a = a->next) {
        g_autofree char *name = g_strconcat(prefix, (const char *)a->name, NULL);
        g_autofree char *value = attribute(a);
        json_object_set_string_member(options, name, value);
    }
    for (xmlNode *c = xmlFirstElementChild(element); c; c = xmlNextElementSibling(c)) {
        if (*prefix == '\0' && snippet_is_link(c)) {
            xmlChar *ref = xmlGetProp(c, BAD_CAST "ref");
            json_object_set_string_member(children, (const char *)c->name,
                                          ref ? (const char *)ref : c->properties ? "(inline)" : "");
            xmlFree(ref);
        } else {
            g_autofree char *group = g_strconcat(prefix, (const char *)c->name, ".", NULL);
            snippet_options(c, group, options, children);
        }
    }
}

static xmlNode *find_child(xmlNode *element, const char *name, bool link)
{
    for (xmlNode *c = xmlFirstElementChild(element); c; c = xmlNextElementSibling(c))
        if (strcmp((const char *)c->name, name) == 0 && snippet_is_link(c) == link)
            return c;
    return NULL;
}

static void clear_element(xmlNode *element)
{
    while (element->properties)
        xmlRemoveProp(element->properties);
    while (element->children) {
        xmlNode *c = element->children;
        xmlUnlinkNode(c);
        xmlFreeNode(c);
    }
}

static void set_attribute(xmlNode *element, const char *name, const char *value)
{
    if (*value)
        xmlSetProp(element, BAD_CAST name, BAD_CAST value);
    else
        xmlUnsetProp(element, BAD_CAST name);
}

/* Sets option name (dotted for groups) to value, "" dropping it (back to
 * its default); or points the child link name at node value ("": none). */
int snippet_set(xmlNode *element, const char *name, const char *value)
{
    g_auto(GStrv) parts = g_strsplit(name, ".", -1);
    guint n = g_strv_length(parts);
    xmlNode *link = n == 1 ? find_child(element, name, true) : NULL;

    for (guint i = 0; i < n; i++)
        if (!*parts[i] || xmlValidateNCName(BAD_CAST parts[i], 0) != 0)
            return ctl_usage_error("'%s' is not an option name", name);
    if (link) {
        clear_element(link);
        if (*value)
            xmlSetProp(link, BAD_CAST "ref", BAD_CAST value);
        return 0;
    }
    xmlNode *top = element;
    xmlUnsetProp(element, BAD_CAST name);   /* the dotted form, if given so */
    for (guint i = 0; i + 1 < n; i++) {
        xmlNode *group = find_child(element, parts[i], false);
        element = group ? group : xmlNewChild(element, NULL, BAD_CAST parts[i], NULL);
    }
    set_attribute(element, parts[n - 1], value);
    /* An empty group would read as an empty child link: drop it. */
    while (element != top && !element->properties && !xmlFirstElementChild(element)) {
        xmlNode *parent = element->parent;
        xmlUnlinkNode(element);
        xmlFreeNode(element);
        element = parent;
    }
    return 0;
}
