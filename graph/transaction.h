/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * All-or-nothing graph changes: each step that changed something records how
 * to undo it (and optionally what to do once the whole change stands).
 * tran_abort undoes in reverse order; tran_commit runs the commit actions in
 * order.  Either frees the transaction.
 */

#include <stdbool.h>
#include <glib.h>

typedef struct Transaction Transaction;

typedef struct TransactionActions {
    void (*commit)(void *opaque);
    void (*abort)(void *opaque);
    void (*clean)(void *opaque);    /* after commit or abort: free opaque */
} TransactionActions;

Transaction *tran_new(void);
void tran_add(Transaction *tran, const TransactionActions *actions, void *opaque);
void tran_commit(Transaction *tran);
void tran_abort(Transaction *tran);
/* Commits when ok, aborts otherwise; returns ok. */
bool tran_finish(Transaction *tran, bool ok);
