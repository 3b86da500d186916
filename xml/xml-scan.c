/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One linear pass over XML text before libxml2 parses it: counts elements,
 * nesting and attributes and measures names and values, so that text over
 * the limits of xml-util.h is refused before it costs anything (libxml2's
 * duplicate-attribute check alone is quadratic in the attributes of a tag).
 *
 * The scan knows XML's lexical shapes only (tags, end tags, comments, CDATA
 * sections, processing instructions).  Where the text leaves them it is
 * malformed: the scan stops there and libxml2 parses the text up to a little
 * past that point, so it reports the error itself and never sees an
 * unchecked rest.
 */

#include <stdarg.h>
#include <string.h>

#include "graph/error.h"
#include "xml/xml-util.h"

/* How far past a malformed spot libxml2 may read to describe it. */
#define SCAN_ERROR_CONTEXT 64

const BgXmlLimits bg_xml_snippet_limits = {
    .max_bytes = BG_XML_SNIPPET_MAX_BYTES,
    .snippet_depth = 0,
    .utf8_only = true,
};

const BgXmlLimits bg_xml_file_limits = {
    .max_bytes = BG_XML_FILE_MAX_BYTES,
    .snippet_depth = 1,
};

typedef enum ScanResult {
    SCAN_OK,
    SCAN_MALFORMED,     /* stop; libxml2 reports it */
    SCAN_OVER_LIMIT,    /* stop; error set */
} ScanResult;

typedef struct XmlScan {
    const char *text;
    size_t len;
    size_t pos;
    long line;
    unsigned depth;
    unsigned elements;          /* in the current snippet */
    const BgXmlLimits *limits;
    const char *source;
    GError **errp;
} XmlScan;

static ScanResult G_GNUC_PRINTF(2, 3) scan_fail(XmlScan *s, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    bg_xml_set_error_line(s->errp, BG_ERROR_INVALID_XML, s->source, s->line, "%s", msg);
    return SCAN_OVER_LIMIT;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool at(const XmlScan *s, const char *word)
{
    size_t n = strlen(word);

    return s->len - s->pos >= n && memcmp(s->text + s->pos, word, n) == 0;
}

/* Moves to end (<= len), counting the lines passed. */
static void move_to(XmlScan *s, size_t end)
{
    const char *p = s->text + s->pos;
    const char *stop = s->text + end;

    while ((p = memchr(p, '\n', stop - p))) {
        s->line++;
        p++;
    }
    s->pos = end;
}

static void skip_spaces(XmlScan *s)
{
    size_t end = s->pos;

    while (end < s->len && is_space(s->text[end]))
        end++;
    move_to(s, end);
}

static size_t name_length(const XmlScan *s)
{
    size_t n = 0;

    while (s->pos + n < s->len && !strchr(" \t\r\n/>=<'\"", s->text[s->pos + n]) &&
           s->text[s->pos + n] != '\0')
        n++;
    return n;
}

/* Moves past the next `word` (the end of a comment, CDATA section, PI). */
static ScanResult skip_past(XmlScan *s, const char *word)
{
    const char *found = memmem(s->text + s->pos, s->len - s->pos, word, strlen(word));

    if (!found)
        return SCAN_MALFORMED;
    move_to(s, found - s->text + strlen(word));
    return SCAN_OK;
}

/* name = "value" inside a start tag; s->pos at the name. */
static ScanResult scan_attribute(XmlScan *s, const char *elem, size_t elem_len,
                                 unsigned *count)
{
    size_t n = name_length(s);
    const char *name = s->text + s->pos;
    const char *value, *end;

    if (n == 0)
        return SCAN_MALFORMED;
    if (n > BG_XML_NAME_MAX)
        return scan_fail(s, "attribute name of <%.*s> longer than %d characters",
                         (int)elem_len, elem, BG_XML_NAME_MAX);
    if (++*count > BG_XML_MAX_ATTRIBUTES)
        return scan_fail(s, "element <%.*s> has more than %d attributes",
                         (int)elem_len, elem, BG_XML_MAX_ATTRIBUTES);
    s->pos += n;
    skip_spaces(s);
    if (s->pos >= s->len || s->text[s->pos] != '=')
        return SCAN_MALFORMED;
    s->pos++;
    skip_spaces(s);
    if (s->pos >= s->len || (s->text[s->pos] != '"' && s->text[s->pos] != '\''))
        return SCAN_MALFORMED;
    value = s->text + s->pos + 1;
    end = memchr(value, s->text[s->pos], s->text + s->len - value);
    if (!end || memchr(value, '<', end - value))
        return SCAN_MALFORMED;
    if ((size_t)(end - value) > BG_XML_VALUE_MAX)
        return scan_fail(s, "value of attribute '%.*s' of <%.*s> longer than %d bytes",
                         (int)n, name, (int)elem_len, elem, BG_XML_VALUE_MAX);
    move_to(s, end - s->text + 1);
    return SCAN_OK;
}

/* Counts a new element against the limits of its snippet. */
static ScanResult count_element(XmlScan *s, const char *elem, size_t elem_len)
{
    if (s->depth == s->limits->snippet_depth)
        s->elements = 0;
    if (s->depth >= BG_XML_MAX_DEPTH)
        return scan_fail(s, "<%.*s> is nested more than %d elements deep",
                         (int)elem_len, elem, BG_XML_MAX_DEPTH);
    if (++s->elements > BG_XML_MAX_ELEMENTS)
        return scan_fail(s, "more than %d elements in one snippet", BG_XML_MAX_ELEMENTS);
    return SCAN_OK;
}

/* <name attr="v" ...> or <name .../>; s->pos after the '<'. */
static ScanResult scan_start_tag(XmlScan *s)
{
    const char *elem = s->text + s->pos;
    size_t n = name_length(s);
    unsigned attributes = 0;
    ScanResult r;

    if (n == 0)
        return SCAN_MALFORMED;
    if (n > BG_XML_NAME_MAX)
        return scan_fail(s, "element name longer than %d characters", BG_XML_NAME_MAX);
    r = count_element(s, elem, n);
    s->pos += n;
    while (r == SCAN_OK) {
        skip_spaces(s);
        if (at(s, ">")) {
            s->pos++;
            s->depth++;
            return SCAN_OK;
        }
        if (at(s, "/>")) {
            s->pos += 2;
            return SCAN_OK;
        }
        r = scan_attribute(s, elem, n, &attributes);
    }
    return r;
}

static ScanResult scan_end_tag(XmlScan *s)
{
    const char *gt = memchr(s->text + s->pos, '>', s->len - s->pos);

    if (!gt || s->depth == 0)
        return SCAN_MALFORMED;
    s->depth--;
    move_to(s, gt - s->text + 1);
    return SCAN_OK;
}

/* One markup construct; s->pos at its '<'. */
static ScanResult scan_markup(XmlScan *s)
{
    if (at(s, "<!--"))
        return skip_past(s, "-->");
    if (at(s, "<![CDATA["))
        return skip_past(s, "]]>");
    if (at(s, "<?"))
        return skip_past(s, "?>");
    if (at(s, "<!DOCTYPE"))
        return scan_fail(s, "document type declarations (DOCTYPE) are not allowed");
    if (at(s, "</")) {
        s->pos += 2;
        return scan_end_tag(s);
    }
    if (at(s, "<!"))
        return SCAN_MALFORMED;
    s->pos++;
    return scan_start_tag(s);
}

bool bg_xml_check_limits(const char *text, size_t len, const BgXmlLimits *limits,
                         const char *source, size_t *ret_parse_len, GError **errp)
{
    XmlScan s = { .text = text, .len = len, .line = 1, .limits = limits,
                  .source = source, .errp = errp };
    ScanResult r = SCAN_OK;

    if (len > limits->max_bytes) {
        bg_xml_set_error_line(errp, BG_ERROR_INVALID_XML, source, 0,
                              "XML text of %zu bytes is larger than the limit of %zu bytes",
                              len, limits->max_bytes);
        return false;
    }
    while (r == SCAN_OK && s.pos < len) {
        const char *lt = memchr(text + s.pos, '<', len - s.pos);

        if (!lt)
            break;
        move_to(&s, lt - text);
        r = scan_markup(&s);
    }
    if (r == SCAN_OVER_LIMIT)
        return false;
    *ret_parse_len = r == SCAN_MALFORMED ? MIN(len, s.pos + SCAN_ERROR_CONTEXT) : len;
    return true;
}
