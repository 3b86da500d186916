/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: aligned text tables: a header line in capitals, then one row per
 * object, columns two spaces apart, the last column not padded. */
#include "bgctl.h"
#include "table.h"

struct Table {
    size_t n_columns;
    GPtrArray *cells;   /* headers first, then the rows, row by row */
};

Table *table_new(const char *const *headers)
{
    Table *t = g_new0(Table, 1);

    t->cells = g_ptr_array_new_with_free_func(g_free);
    for (; headers[t->n_columns]; t->n_columns++)
        g_ptr_array_add(t->cells, g_strdup(headers[t->n_columns]));
    return t;
}

void table_take(Table *t, char *cell)
{
    g_ptr_array_add(t->cells, cell ? cell : g_strdup(""));
}

void table_add(Table *t, const char *cell)
{
    table_take(t, g_strdup(cell));
}

void table_print(const Table *t, FILE *f)
{
    g_autofree size_t *width = g_new0(size_t, t->n_columns);

    for (size_t i = 0; i < t->cells->len; i++) {
        size_t len = g_utf8_strlen(t->cells->pdata[i], -1);
        width[i % t->n_columns] = MAX(width[i % t->n_columns], len);
    }
    for (size_t i = 0; i < t->cells->len; i++) {
        size_t column = i % t->n_columns;
        const char *cell = t->cells->pdata[i];
        bool last = column + 1 == t->n_columns || i + 1 == t->cells->len;
        if (last)
            fprintf(f, "%s\n", cell);
        else
            fprintf(f, "%s%*s", cell, (int)(width[column] - g_utf8_strlen(cell, -1) + 2), "");
    }
}

void table_free(Table *t)
{
    if (!t)
        return;
    g_ptr_array_unref(t->cells);
    g_free(t);
}
