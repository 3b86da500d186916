/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Methods that reply later.  A method that does I/O keeps its call message,
 * runs its work in a coroutine and replies when the work returns, so the
 * loop serves other calls and requests meanwhile.  Shutdown waits for every
 * reply still due (bus_co_wait_calls).
 */

#include "bus/bus.h"
#include "graph/error.h"

typedef struct BusCall {
    sd_bus_message *msg;
    const char *what;
    BusCallFn fn;
    void *data;
    GDestroyNotify free_data;
} BusCall;

static unsigned calls_in_flight;
static CoQueue calls_idle;      /* bus_co_wait_calls waiting for them */

static int bus_call_reply(BusCall *call, int r, const char *path, const GError *err)
{
    if (r < 0) {
        return bus_reply_gerror(call->msg, err);
    }
    /* What the call changed goes out before its reply. */
    bus_flush_property_changes();
    if (path) {
        return sd_bus_reply_method_return(call->msg, "o", path);
    }
    return sd_bus_reply_method_return(call->msg, "");
}

static void coroutine_fn bus_call_run(void *opaque)
{
    BusCall *call = opaque;
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    int r;

    r = call->fn(call->data, &path, &err);
    if (r < 0 && !err) {
        bg_set_error_errno(&err, r, "%s failed", call->what);
    }
    r = bus_call_reply(call, r, path, err);
    if (r < 0) {
        g_warning("Failed to reply to %s: %s", call->what, g_strerror(-r));
    }
    sd_bus_message_unref(call->msg);
    if (call->free_data) {
        call->free_data(call->data);
    }
    g_free(call);
    g_assert(calls_in_flight > 0);
    if (--calls_in_flight == 0) {
        co_queue_wake_all(&calls_idle);
    }
}

int bus_call_start(sd_bus_message *m, const char *what, BusCallFn fn, void *data,
                   GDestroyNotify free_data)
{
    BusCall *call = g_new0(BusCall, 1);

    call->msg = sd_bus_message_ref(m);
    call->what = what;
    call->fn = fn;
    call->data = data;
    call->free_data = free_data;
    calls_in_flight++;
    coroutine_start(bus_call_run, call);
    return 1;
}

void coroutine_fn bus_co_wait_calls(void)
{
    while (calls_in_flight > 0) {
        co_queue_wait(&calls_idle);
    }
}
