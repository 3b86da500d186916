/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: aligned text tables. */
#pragma once

#include <stdio.h>

#include <glib.h>

typedef struct Table Table;

Table *table_new(const char *const *headers);   /* NULL-terminated */
void table_add(Table *t, const char *cell);     /* fills rows left to right */
void table_take(Table *t, char *cell);
void table_print(const Table *t, FILE *f);
void table_free(Table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)
