/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * polkit, as udisks and systemd ask it.  A bus filter sees every method
 * call before the vtables do.  A call that changes something
 * (authorize_actions_for_call) is held: the filter keeps the message and
 * answers "handled", asks the bus who the caller is (GetConnectionUnixUser)
 * and, unless that is uid 0, asks polkit (CheckAuthorization on the caller's
 * unique name, interactive when the message allows it), once per action the
 * call needs (a Transaction may need several), stopping at the first no.  Both questions are
 * asynchronous: the loop goes on serving.  With the answer the message is
 * put back in the connection's read queue (sd_bus_enqueue_for_read); the
 * filter finds its decision and lets the call through to its method, or
 * replies AccessDenied naming the action.
 */

#include <errno.h>

#include "bus/authorize.h"
#include "bus/bus.h"

#define POLKIT_NAME      "org.freedesktop.PolicyKit1"
#define POLKIT_PATH      "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
#define POLKIT_ALLOW_USER_INTERACTION 1u

/* An interactive question waits for a person typing a password. */
#define POLKIT_TIMEOUT_USEC             (25 * G_USEC_PER_SEC)
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (300 * G_USEC_PER_SEC)

/* org.blockgraph.BlockGraph1.Error.AccessDenied, named in graph/error.c only. */
#define ACCESS_DENIED bus_error_code_name(BG_ERROR_ACCESS_DENIED)

typedef enum QueryState {
    QUERY_ASKING,
    QUERY_ALLOWED,
    QUERY_DENIED,
} QueryState;

typedef struct AuthQuery {
    sd_bus_message *call;       /* the held method call */
    AuthorizeActions needs;     /* static strings, from the table */
    size_t asked;               /* needs.actions[asked] is being asked */
    const char *action;         /* that one */
    sd_bus_slot *slot;          /* the question in flight */
    QueryState state;
    sd_bus_error denial;        /* why, when QUERY_DENIED */
} AuthQuery;

static struct {
    AuthorizeMode mode;
    sd_bus_slot *filter;
    GHashTable *queries;        /* sd_bus_message* (held call) -> AuthQuery* */
} authz;

void bus_authorize_set_mode(AuthorizeMode mode)
{
    authz.mode = mode;
}

AuthorizeMode bus_authorize_mode(void)
{
    return authz.mode;
}

static void auth_query_free(gpointer p)
{
    AuthQuery *q = p;

    sd_bus_slot_unref(q->slot);
    sd_bus_message_unref(q->call);
    sd_bus_error_free(&q->denial);
    g_free(q);
}

static const char *call_name(sd_bus_message *m)
{
    const char *member = sd_bus_message_get_member(m);

    return member ? member : "(no member)";
}

/* Records the answer and puts the call back in the read queue. */
static void auth_query_decide(AuthQuery *q, const sd_bus_error *denial)
{
    int r;

    q->slot = sd_bus_slot_unref(q->slot);
    if (denial) {
        q->state = QUERY_DENIED;
        sd_bus_error_copy(&q->denial, denial);
    } else {
        q->state = QUERY_ALLOWED;
    }
    r = sd_bus_enqueue_for_read(sd_bus_message_get_bus(q->call), q->call);
    if (r < 0) {
        g_warning("Failed to resume %s after authorization: %s", call_name(q->call),
                  g_strerror(-r));
        g_hash_table_remove(authz.queries, q->call);
    }
}

static void auth_query_deny(AuthQuery *q, const char *name, const char *fmt, const char *detail)
{
    sd_bus_error denial = SD_BUS_ERROR_NULL;

    sd_bus_error_setf(&denial, name, fmt, q->action, call_name(q->call), detail);
    g_message("Refused %s from %s: %s", call_name(q->call),
              sd_bus_message_get_sender(q->call), denial.message);
    auth_query_decide(q, &denial);
    sd_bus_error_free(&denial);
}

static int ask_polkit(AuthQuery *q);

/* The current action was granted: ask for the next one, or let the call through. */
static void ask_next(AuthQuery *q)
{
    int r;

    q->slot = sd_bus_slot_unref(q->slot);
    if (++q->asked == q->needs.n) {
        auth_query_decide(q, NULL);
        return;
    }
    q->action = q->needs.actions[q->asked];
    r = ask_polkit(q);
    if (r < 0) {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s (needed for %s) could not be checked: %s",
                        g_strerror(-r));
    }
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
    AuthQuery *q = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(reply);
    int authorized = 0, challenge = 0, r;

    if (e) {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s (needed for %s) could not be checked: %s",
                        e->message ? e->message : e->name);
        return 0;
    }
    r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
    if (r >= 0) {
        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
    }
    if (r < 0) {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s (needed for %s): polkit's answer is malformed (%s)",
                        g_strerror(-r));
    } else if (authorized) {
        ask_next(q);
    } else if (challenge && !sd_bus_message_get_allow_interactive_authorization(q->call)) {
        auth_query_deny(q, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                        "Interactive authorization required: %s (needed for %s)%s", "");
    } else {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s is needed for %s%s", "");
    }
    return 0;
}

static int ask_polkit(AuthQuery *q)
{
    sd_bus *bus = sd_bus_message_get_bus(q->call);
    bool interactive = sd_bus_message_get_allow_interactive_authorization(q->call) > 0;
    sd_bus_message *m = NULL;
    int r;

    r = sd_bus_message_new_method_call(bus, &m, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE,
                                       "CheckAuthorization");
    if (r >= 0) {
        r = sd_bus_message_append(m, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s",
                                  sd_bus_message_get_sender(q->call), q->action, 0,
                                  interactive ? POLKIT_ALLOW_USER_INTERACTION : 0u, "");
    }
    if (r >= 0) {
        r = sd_bus_call_async(bus, &q->slot, m, on_polkit_reply, q,
                              interactive ? POLKIT_INTERACTIVE_TIMEOUT_USEC
                                          : POLKIT_TIMEOUT_USEC);
    }
    sd_bus_message_unref(m);
    return r;
}

static int on_caller_uid(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
    AuthQuery *q = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(reply);
    uint32_t uid;
    int r;

    if (e) {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s (needed for %s): the caller is unknown: %s",
                        e->message ? e->message : e->name);
        return 0;
    }
    r = sd_bus_message_read(reply, "u", &uid);
    if (r >= 0 && uid == 0) {
        auth_query_decide(q, NULL);
        return 0;
    }
    q->slot = sd_bus_slot_unref(q->slot);
    if (r >= 0) {
        r = ask_polkit(q);
    }
    if (r < 0) {
        auth_query_deny(q, ACCESS_DENIED,
                        "Not authorized: %s (needed for %s) could not be checked: %s",
                        g_strerror(-r));
    }
    return 0;
}

/* Holds call and asks who sent it.  Returns 1 (held) or a negative errno. */
static int auth_query_start(sd_bus_message *call, const AuthorizeActions *needs)
{
    sd_bus *bus = sd_bus_message_get_bus(call);
    AuthQuery *q = g_new0(AuthQuery, 1);
    int r;

    q->call = sd_bus_message_ref(call);
    q->needs = *needs;
    q->action = needs->actions[0];
    q->denial = SD_BUS_ERROR_NULL;
    r = sd_bus_call_method_async(bus, &q->slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetConnectionUnixUser",
                                 on_caller_uid, q, "s", sd_bus_message_get_sender(call));
    if (r < 0) {
        auth_query_free(q);
        return r;
    }
    g_hash_table_insert(authz.queries, q->call, q);
    return 1;
}

/* The held call is back with its answer: through (0), or refused (error set). */
static int auth_query_finish(AuthQuery *q, sd_bus_error *ret_error)
{
    int r = 0;

    if (q->state == QUERY_DENIED) {
        r = sd_bus_error_set(ret_error, q->denial.name, q->denial.message);
    }
    g_hash_table_remove(authz.queries, q->call);
    return r;
}

static int authorize_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    AuthorizeActions needs;
    AuthQuery *q;
    int r;

    if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0) {
        return 0;
    }
    q = g_hash_table_lookup(authz.queries, m);
    if (q) {
        return q->state == QUERY_ASKING ? 1 : auth_query_finish(q, ret_error);
    }
    authorize_actions_for_call(m, &needs);
    if (needs.n == 0) {
        return 0;
    }
    r = auth_query_start(m, &needs);
    if (r < 0) {
        return sd_bus_error_setf(ret_error, ACCESS_DENIED,
                                 "Not authorized: %s (needed for %s) could not be checked: %s",
                                 needs.actions[0], call_name(m), g_strerror(-r));
    }
    return 1;
}

int bus_authorize_attach(sd_bus *bus)
{
    if (authz.mode == AUTHORIZE_NONE) {
        return 0;
    }
    authz.queries = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, auth_query_free);
    return sd_bus_add_filter(bus, &authz.filter, authorize_filter, NULL);
}

void bus_authorize_detach(void)
{
    authz.filter = sd_bus_slot_unref(authz.filter);
    g_clear_pointer(&authz.queries, g_hash_table_unref);
}
