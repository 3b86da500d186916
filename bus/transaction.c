/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manager.Transaction(as actions): several actions at one point in time,
 * all or nothing (QEMU's transaction).  Today the actions are the bitmap
 * verbs (<bitmap-add> ... <bitmap-merge>, xml/bitmap-action-parse.h): every
 * snippet is parsed first, then each action applies and records its undo
 * in one Transaction; the first failure undoes everything before it.
 */

#include "bus/bus.h"
#include "bus/transaction.h"
#include "graph/error.h"
#include "xml/bitmap-action-parse.h"

#define TRANSACTION_MAX_ACTIONS 1024

static GPtrArray *parse_actions(char **xmls, GError **errp)
{
    g_autoptr(GPtrArray) specs =
        g_ptr_array_new_with_free_func((GDestroyNotify)bitmap_action_spec_free);

    for (guint i = 0; xmls[i]; i++) {
        g_autofree char *source = g_strdup_printf("<bus> action %u", i + 1);
        BitmapActionSpec *spec = bitmap_action_parse_xml(xmls[i], source, errp);
        if (!spec)
            return NULL;
        g_ptr_array_add(specs, spec);
    }
    return g_steal_pointer(&specs);
}

int bus_manager_method_transaction(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) xmls = NULL;
    int r = sd_bus_message_read_strv(m, &xmls);

    if (r < 0)
        return r;
    guint n = xmls ? g_strv_length(xmls) : 0;
    if (n == 0 || n > TRANSACTION_MAX_ACTIONS)
        return sd_bus_error_setf(ret_error, BUS_ERROR_PREFIX "InvalidArgument",
                                 "Transaction takes 1 to %d actions, not %u",
                                 TRANSACTION_MAX_ACTIONS, n);
    g_autoptr(GPtrArray) specs = parse_actions(xmls, &err);
    if (!specs)
        return bus_error_set_gerror(ret_error, err);
    Transaction *tran = tran_new();
    for (guint i = 0; i < specs->len; i++) {
        const BitmapActionSpec *spec = specs->pdata[i];
        if (!bitmap_action_apply(spec, tran, &err)) {
            tran_abort(tran);
            g_prefix_error(&err, "Transaction action %u (<%s>), nothing was changed: ", i + 1,
                           bitmap_action_kind_name(spec->kind));
            return bus_error_set_gerror(ret_error, err);
        }
    }
    tran_commit(tran);
    return sd_bus_reply_method_return(m, "");
}
