/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manager.Transaction(as actions): several actions at one point in time,
 * all or nothing (QEMU's transaction).  The actions are the bitmap verbs
 * (<bitmap-add> ... <bitmap-merge>, xml/bitmap-action-parse.h) and <job>
 * (jobs/job.h).  Every snippet is parsed first; then every job is set up
 * (links, permissions: this may yield, nothing is visible yet); then, with
 * no yield in between, the actions apply in order (a job takes its point
 * in time: a backup's copy-before-write, its bitmap's successor) and the
 * jobs start.  The first failure gives back what the actions before it
 * did and drops every job set up: nothing was started or changed.
 */

#include <string.h>

#include "bus/bus.h"
#include "bus/transaction.h"
#include "graph/error.h"
#include "jobs/job.h"
#include "xml/bitmap-action-parse.h"
#include "xml/job-parse.h"
#include "xml/xml-util.h"

#define TRANSACTION_MAX_ACTIONS 1024

typedef struct TranAction {
    BitmapActionSpec *bitmap;   /* one of bitmap, job */
    JobSpec *job;
    char *xml;
    Job *set_up;                /* the job after its setup */
    bool began;
} TranAction;

typedef struct TranCall {
    GPtrArray *actions;         /* TranAction* */
    uint32_t uid;
} TranCall;

static void tran_action_free(TranAction *a)
{
    bitmap_action_spec_free(a->bitmap);
    job_spec_free(a->job);
    g_free(a->xml);
    g_free(a);
}

static void tran_call_free(TranCall *call)
{
    g_ptr_array_unref(call->actions);
    g_free(call);
}

static const char *action_name(const TranAction *a)
{
    return a->job ? "job" : bitmap_action_kind_name(a->bitmap->kind);
}

bool transaction_snippet_is_job(const char *xml)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(xml, -1, "<bus>", NULL);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;

    return root && g_str_equal((const char *)root->name, "job");
}

static TranAction *parse_action(const char *xml, const char *source, GError **errp)
{
    TranAction *a = g_new0(TranAction, 1);

    if (transaction_snippet_is_job(xml)) {
        a->job = job_parse_xml(xml, -1, source, errp);
        a->xml = g_strdup(xml);
    } else {
        a->bitmap = bitmap_action_parse_xml(xml, source, errp);
    }
    if (!a->job && !a->bitmap) {
        tran_action_free(a);
        return NULL;
    }
    return a;
}

/* Two jobs of one transaction may not share an id. */
static bool check_job_ids(GPtrArray *actions, GError **errp)
{
    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);

    for (guint i = 0; i < actions->len; i++) {
        TranAction *a = actions->pdata[i];

        if (a->job && !g_hash_table_add(ids, a->job->id)) {
            g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS,
                        "Transaction action %u: job id '%s' is used twice", i + 1, a->job->id);
            return false;
        }
    }
    return true;
}

static GPtrArray *parse_actions(char **xmls, GError **errp)
{
    g_autoptr(GPtrArray) actions =
        g_ptr_array_new_with_free_func((GDestroyNotify)tran_action_free);

    for (guint i = 0; xmls[i]; i++) {
        g_autofree char *source = g_strdup_printf("<bus> action %u", i + 1);
        TranAction *a = parse_action(xmls[i], source, errp);
        if (!a)
            return NULL;
        g_ptr_array_add(actions, a);
    }
    return check_job_ids(actions, errp) ? g_steal_pointer(&actions) : NULL;
}

/* ---- the steps ------------------------------------------------------------------- */

static void coroutine_fn discard_jobs(GPtrArray *actions)
{
    for (guint i = actions->len; i-- > 0;) {
        TranAction *a = actions->pdata[i];

        if (a->set_up)
            job_co_discard(g_steal_pointer(&a->set_up));
    }
}

static bool coroutine_fn set_up_jobs(TranCall *call, GError **errp)
{
    for (guint i = 0; i < call->actions->len; i++) {
        TranAction *a = call->actions->pdata[i];

        if (!a->job)
            continue;
        a->set_up = job_co_setup(a->job, a->xml, call->uid, errp);
        if (!a->set_up) {
            g_prefix_error(errp, "Transaction action %u (<job>), nothing was changed: ", i + 1);
            return false;
        }
    }
    return true;
}

/* Applies every action in order, without yielding; on failure undoes them, still without. */
static bool apply_actions(GPtrArray *actions, GError **errp)
{
    Transaction *tran = tran_new();

    for (guint i = 0; i < actions->len; i++) {
        TranAction *a = actions->pdata[i];
        bool ok = a->job ? (a->began = job_begin(a->set_up, errp))
                         : bitmap_action_apply(a->bitmap, tran, errp);

        if (ok)
            continue;
        g_prefix_error(errp, "Transaction action %u (<%s>), nothing was changed: ", i + 1,
                       action_name(a));
        /* The jobs let go of their bitmaps before the bitmap actions are undone. */
        for (guint j = i; j-- > 0;) {
            TranAction *b = actions->pdata[j];
            if (b->began)
                job_undo_begin(b->set_up);
        }
        tran_abort(tran);
        return false;
    }
    tran_commit(tran);
    return true;
}

static int coroutine_fn transaction_co_call(void *data, char **ret_path, GError **errp)
{
    TranCall *call = data;

    if (!set_up_jobs(call, errp) || !apply_actions(call->actions, errp)) {
        discard_jobs(call->actions);
        return -EINVAL;
    }
    for (guint i = 0; i < call->actions->len; i++) {
        TranAction *a = call->actions->pdata[i];
        if (a->set_up)
            job_start(g_steal_pointer(&a->set_up));
    }
    return 0;
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
        return bus_error_setf(ret_error, BG_ERROR_INVALID_ARGUMENT,
                              "Transaction takes 1 to %d actions, not %u",
                              TRANSACTION_MAX_ACTIONS, n);
    GPtrArray *actions = parse_actions(xmls, &err);
    if (!actions)
        return bus_error_set_gerror(ret_error, err);
    TranCall *call = g_new0(TranCall, 1);
    call->actions = actions;
    call->uid = bus_caller_uid(m);
    return bus_call_start(m, "Transaction", transaction_co_call, call,
                          (GDestroyNotify)tran_call_free);
}
