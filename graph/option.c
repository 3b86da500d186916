/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "graph/error.h"
#include "graph/option.h"

struct OptionSet {
    GArray *values;             /* OptionValue, table order */
    GHashTable *index;          /* name -> position + 1 */
};

char *option_type_describe(const OptionSpec *spec)
{
    switch (spec->type) {
    case OPTION_STRING:
        return g_strdup("string");
    case OPTION_BOOL:
        return g_strdup("bool");
    case OPTION_UINT:
        return g_strdup("uint");
    case OPTION_SIZE:
        return g_strdup("size");
    case OPTION_ENUM: {
        g_autofree char *values = g_strjoinv("|", (char **)spec->enum_values);
        return g_strdup_printf("enum(%s)", values);
    }
    }
    g_assert_not_reached();
}

bool option_parse_bool(const char *text, bool *ret)
{
    static const char *const yes[] = { "on", "true", "yes", NULL };
    static const char *const no[] = { "off", "false", "no", NULL };

    if (g_strv_contains(yes, text)) {
        *ret = true;
        return true;
    }
    if (g_strv_contains(no, text)) {
        *ret = false;
        return true;
    }
    return false;
}

static bool parse_u64(const char *text, uint64_t *ret, char **end)
{
    if (!g_ascii_isdigit(text[0]))
        return false;
    bool hex = text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    errno = 0;
    /* Not base 0: "010" is ten, not octal eight. */
    *ret = g_ascii_strtoull(text, end, hex ? 16 : 10);
    return errno == 0 && *end != text + (hex ? 2 : 0);
}

bool option_parse_size(const char *text, uint64_t *ret)
{
    static const char suffixes[] = "kmgtpe";
    char *end = NULL;
    uint64_t v;

    if (!parse_u64(text, &v, &end))
        return false;
    if (*end == 'b' || *end == 'B') {
        end++;
    } else if (*end) {
        const char *s = strchr(suffixes, g_ascii_tolower(*end));
        if (!s)
            return false;
        for (int shift = 10 * (int)(s - suffixes + 1); shift > 0; shift -= 10) {
            if (v > (UINT64_MAX >> 10))
                return false;
            v <<= 10;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
    }
    if (*end)
        return false;
    *ret = v;
    return true;
}

static bool check_max(const OptionSpec *spec, const char *text, const OptionValue *v,
                      GError **errp)
{
    if (!spec->max_value || v->u <= spec->max_value)
        return true;
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Invalid value '%s' for option '%s': expected at most %" PRIu64,
                text, spec->name, spec->max_value);
    return false;
}

static bool enum_index(const char *const *values, const char *text, uint64_t *ret)
{
    for (uint64_t i = 0; values[i]; i++) {
        if (g_str_equal(values[i], text)) {
            *ret = i;
            return true;
        }
    }
    return false;
}

bool option_parse_value(const OptionSpec *spec, const char *text, OptionValue *ret, GError **errp)
{
    char *end = NULL;

    ret->spec = spec;
    ret->is_set = true;
    switch (spec->type) {
    case OPTION_STRING:
        ret->text = g_strdup(text);
        return true;
    case OPTION_BOOL:
        if (!option_parse_bool(text, &ret->b))
            break;
        ret->text = g_strdup(ret->b ? "on" : "off");
        return true;
    case OPTION_UINT:
        if (!parse_u64(text, &ret->u, &end) || *end)
            break;
        if (!check_max(spec, text, ret, errp))
            return false;
        ret->text = g_strdup_printf("%" PRIu64, ret->u);
        return true;
    case OPTION_SIZE:
        if (!option_parse_size(text, &ret->u))
            break;
        if (!check_max(spec, text, ret, errp))
            return false;
        ret->text = g_strdup_printf("%" PRIu64, ret->u);
        return true;
    case OPTION_ENUM:
        if (!enum_index(spec->enum_values, text, &ret->u))
            break;
        ret->text = g_strdup(text);
        return true;
    }
    g_autofree char *type = option_type_describe(spec);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Invalid value '%s' for option '%s': expected %s", text, spec->name, type);
    return false;
}

const OptionSpec *option_tables_find(const OptionSpec *const *tables, const char *name)
{
    for (; *tables; tables++)
        for (const OptionSpec *s = *tables; s->name; s++)
            if (g_str_equal(s->name, name))
                return s;
    return NULL;
}

static void option_value_clear(gpointer p)
{
    g_free(((OptionValue *)p)->text);
}

void option_set_free(OptionSet *set)
{
    if (!set)
        return;
    g_array_unref(set->values);
    g_hash_table_unref(set->index);
    g_free(set);
}

static bool option_set_fill(OptionSet *set, const OptionSpec *spec, GHashTable *raw,
                            const char *what, GError **errp)
{
    const char *text = g_hash_table_lookup(raw, spec->name);
    OptionValue v = { .spec = spec };
    g_autoptr(GError) err = NULL;

    if (!text && spec->required) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Missing required option '%s' for %s", spec->name, what);
        return false;
    }
    if (!text) {
        text = spec->default_value;
        v.is_default = true;
    }
    if (text && !option_parse_value(spec, text, &v, &err)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s of %s", err->message, what);
        return false;
    }
    g_array_append_val(set->values, v);
    g_hash_table_insert(set->index, (gpointer)spec->name, GUINT_TO_POINTER(set->values->len));
    return true;
}

OptionSet *option_set_parse(const OptionSpec *const *tables, GHashTable *raw,
                            const char *what, GError **errp)
{
    g_autoptr(OptionSet) set = g_new0(OptionSet, 1);
    GHashTableIter it;
    gpointer key;

    set->values = g_array_new(FALSE, TRUE, sizeof(OptionValue));
    g_array_set_clear_func(set->values, option_value_clear);
    set->index = g_hash_table_new(g_str_hash, g_str_equal);

    g_hash_table_iter_init(&it, raw);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (!option_tables_find(tables, key)) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Unknown option '%s' for %s", (const char *)key, what);
            return NULL;
        }
    }
    for (const OptionSpec *const *t = tables; *t; t++)
        for (const OptionSpec *s = *t; s->name; s++)
            if (!option_set_fill(set, s, raw, what, errp))
                return NULL;
    return g_steal_pointer(&set);
}

const OptionValue *option_set_lookup(const OptionSet *set, const char *name)
{
    guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(set->index, name));

    return pos ? &g_array_index(set->values, OptionValue, pos - 1) : NULL;
}

bool option_set_get_bool(const OptionSet *set, const char *name)
{
    const OptionValue *v = option_set_lookup(set, name);

    g_assert(v && v->spec->type == OPTION_BOOL);
    return v->is_set && v->b;
}

uint64_t option_set_get_uint(const OptionSet *set, const char *name)
{
    const OptionValue *v = option_set_lookup(set, name);

    g_assert(v && (v->spec->type == OPTION_UINT || v->spec->type == OPTION_SIZE));
    return v->is_set ? v->u : 0;
}

unsigned option_set_get_enum(const OptionSet *set, const char *name)
{
    const OptionValue *v = option_set_lookup(set, name);

    g_assert(v && v->spec->type == OPTION_ENUM && v->is_set);
    return (unsigned)v->u;
}

const char *option_set_get_string(const OptionSet *set, const char *name)
{
    const OptionValue *v = option_set_lookup(set, name);

    g_assert(v);
    return v->is_set ? v->text : NULL;
}

bool option_set_is_set(const OptionSet *set, const char *name)
{
    const OptionValue *v = option_set_lookup(set, name);

    return v && v->is_set;
}

guint option_set_count(const OptionSet *set)
{
    return set->values->len;
}

const OptionValue *option_set_nth(const OptionSet *set, guint i)
{
    return &g_array_index(set->values, OptionValue, i);
}
