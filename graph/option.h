/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Option tables and typed option sets.
 *
 * Every driver declares its options once in a table of OptionSpec; the common
 * node options live in node_common_options.  The tables drive XML parsing
 * and validation, default filling, reopen's "omitted means default" rule,
 * the Driver objects' introspection and the canonical XML of a node.
 *
 * Nested option groups use dotted names ("cache.direct"); in XML they are
 * attributes of a child element (<cache direct="on"/>).
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef enum OptionType {
    OPTION_STRING,
    OPTION_BOOL,      /* on/off, true/false, yes/no; written as on/off */
    OPTION_UINT,      /* unsigned 64-bit decimal or 0x hex */
    OPTION_SIZE,      /* unsigned 64-bit with optional suffix k, M, G, T (powers of 1024) */
    OPTION_ENUM,      /* one of enum_values */
} OptionType;

typedef struct OptionSpec {
    const char *name;
    OptionType type;
    const char *default_value;          /* text form; NULL: unset unless given */
    /*
     * May change at reopen.  A change is applied by the core itself when
     * applied_by_core (common options such as read-only, discard), else by
     * the driver's reopen_prepare: a driver without one cannot change it
     * (block_driver_option_mutable).
     */
    bool mutable_on_reopen;
    bool required;
    /*
     * OPTION_ENUM: NULL-terminated, indexed by the driver's C enum
     * ([FILE_AIO_NATIVE] = "native"), so option_set_get_enum decodes it.
     */
    const char *const *enum_values;
    const char *description;
    uint64_t max_value;                 /* OPTION_UINT/SIZE: largest accepted; 0: no limit */
    bool applied_by_core;               /* see mutable_on_reopen */
} OptionSpec;

/* Tables end with an entry whose name is NULL. */
#define OPTION_TABLE_END { .name = NULL }

/* "string", "bool", "uint", "size", "enum" (enum lists as "enum(a|b|c)"). */
char *option_type_describe(const OptionSpec *spec);

typedef struct OptionValue {
    const OptionSpec *spec;
    bool is_set;                /* given or defaulted; false: no value at all */
    bool is_default;            /* came from the table, not from the user */
    char *text;                 /* canonical text form */
    union {
        bool b;
        uint64_t u;             /* OPTION_UINT, OPTION_SIZE; OPTION_ENUM: index */
    };
} OptionValue;

/* The validated options of one node, in table order (common first). */
typedef struct OptionSet OptionSet;

/*
 * Validates raw name -> text pairs against the tables (NULL-terminated array
 * of tables), fills defaults and reports the first problem: unknown option,
 * wrong type, bad enum value, missing required option.  `what` names the
 * node for messages ("node 'disk0'").
 */
OptionSet *option_set_parse(const OptionSpec *const *tables, GHashTable *raw,
                            const char *what, GError **errp);
void option_set_free(OptionSet *set);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OptionSet, option_set_free)

const OptionValue *option_set_lookup(const OptionSet *set, const char *name);
bool option_set_get_bool(const OptionSet *set, const char *name);
uint64_t option_set_get_uint(const OptionSet *set, const char *name);
/*
 * The one enum decoder: the position of the value in the spec's
 * enum_values (a C enum when the table is indexed by one).  The option
 * must have a value (a default, or required).
 */
unsigned option_set_get_enum(const OptionSet *set, const char *name);
/* NULL when the option has no value. */
const char *option_set_get_string(const OptionSet *set, const char *name);
bool option_set_is_set(const OptionSet *set, const char *name);

/* Iteration in table order. */
guint option_set_count(const OptionSet *set);
const OptionValue *option_set_nth(const OptionSet *set, guint i);

/* Parses one value; used by option_set_parse and by tests. */
bool option_parse_value(const OptionSpec *spec, const char *text,
                        OptionValue *ret, GError **errp);
bool option_parse_bool(const char *text, bool *ret);
bool option_parse_size(const char *text, uint64_t *ret);

/* Finds a spec in a NULL-terminated array of tables. */
const OptionSpec *option_tables_find(const OptionSpec *const *tables, const char *name);
