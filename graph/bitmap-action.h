/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The bitmap verbs of Node.*Bitmap and Manager.Transaction.  Each checks
 * its input (errors name node and bitmap: InvalidArgument, Exists,
 * NotFound, Busy, InvalidState, ReadOnly, NotSupported), applies the change
 * and records its undo in tran: tran_abort puts everything back,
 * tran_commit keeps it.  On failure nothing was changed by this call.
 */

#include "graph/bitmap.h"
#include "graph/transaction.h"

bool node_bitmap_add(BlockNode *node, const char *name, uint32_t granularity, bool persistent,
                     bool disabled, Transaction *tran, GError **errp);
bool node_bitmap_remove(BlockNode *node, const char *name, Transaction *tran, GError **errp);
bool node_bitmap_clear(BlockNode *node, const char *name, Transaction *tran, GError **errp);
bool node_bitmap_enable(BlockNode *node, const char *name, bool enable, Transaction *tran,
                        GError **errp);
/* Sets in target every bit set in any of sources (NULL-terminated, same node). */
bool node_bitmap_merge(BlockNode *node, const char *target, const char *const *sources,
                       Transaction *tran, GError **errp);

/* One <bitmap-*> action of Manager.Transaction, as xml/bitmap-action-parse.c reads it. */
typedef enum BitmapActionKind {
    BITMAP_ACTION_ADD,
    BITMAP_ACTION_REMOVE,
    BITMAP_ACTION_CLEAR,
    BITMAP_ACTION_ENABLE,
    BITMAP_ACTION_DISABLE,
    BITMAP_ACTION_MERGE,
} BitmapActionKind;

typedef struct BitmapActionSpec {
    BitmapActionKind kind;
    char *node_name;
    char *name;                 /* the bitmap; merge: the target */
    uint32_t granularity;       /* add; 0: the default */
    bool persistent, disabled;  /* add */
    char **sources;             /* merge (NULL-terminated) */
} BitmapActionSpec;

void bitmap_action_spec_free(BitmapActionSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BitmapActionSpec, bitmap_action_spec_free)
/* The element name of an action kind: "bitmap-add" ... */
const char *bitmap_action_kind_name(BitmapActionKind kind);
/* Applies the action to its node (NotFound if there is none), undo recorded in tran. */
bool bitmap_action_apply(const BitmapActionSpec *spec, Transaction *tran, GError **errp);
