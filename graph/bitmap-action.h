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
