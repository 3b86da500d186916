/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/transaction.h"

typedef struct TransactionStep {
    const TransactionActions *actions;
    void *opaque;
} TransactionStep;

struct Transaction {
    GArray *steps;
};

Transaction *tran_new(void)
{
    Transaction *tran = g_new0(Transaction, 1);

    tran->steps = g_array_new(FALSE, FALSE, sizeof(TransactionStep));
    return tran;
}

void tran_add(Transaction *tran, const TransactionActions *actions, void *opaque)
{
    TransactionStep step = { actions, opaque };

    g_array_append_val(tran->steps, step);
}

static void tran_free(Transaction *tran)
{
    for (guint i = 0; i < tran->steps->len; i++) {
        TransactionStep *s = &g_array_index(tran->steps, TransactionStep, i);
        if (s->actions->clean)
            s->actions->clean(s->opaque);
    }
    g_array_unref(tran->steps);
    g_free(tran);
}

void tran_commit(Transaction *tran)
{
    for (guint i = 0; i < tran->steps->len; i++) {
        TransactionStep *s = &g_array_index(tran->steps, TransactionStep, i);
        if (s->actions->commit)
            s->actions->commit(s->opaque);
    }
    tran_free(tran);
}

void tran_abort(Transaction *tran)
{
    for (guint i = tran->steps->len; i-- > 0;) {
        TransactionStep *s = &g_array_index(tran->steps, TransactionStep, i);
        if (s->actions->abort)
            s->actions->abort(s->opaque);
    }
    tran_free(tran);
}

bool tran_finish(Transaction *tran, bool ok)
{
    if (ok)
        tran_commit(tran);
    else
        tran_abort(tran);
    return ok;
}
