/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"

static sd_event *loop;

sd_event *aio_loop(void)
{
    if (!loop) {
        int r = sd_event_default(&loop);
        if (r < 0)
            g_error("Failed to create the event loop: %s", g_strerror(-r));
    }
    return loop;
}

int aio_run_until(const bool *done)
{
    g_assert(!coroutine_in_coroutine());
    while (!*done) {
        int r = sd_event_run(aio_loop(), UINT64_MAX);
        if (r < 0)
            return r;
    }
    return 0;
}

typedef struct RunCo {
    void (*entry)(void *opaque);
    void *opaque;
    bool done;
} RunCo;

static void run_co_entry(void *opaque)
{
    RunCo *rc = opaque;

    rc->entry(rc->opaque);
    rc->done = true;
}

void aio_run_coroutine(void (*entry)(void *opaque), void *opaque)
{
    RunCo rc = { .entry = entry, .opaque = opaque };

    coroutine_start(run_co_entry, &rc);
    aio_run_until(&rc.done);
}

void aio_loop_shutdown(void)
{
    loop = sd_event_unref(loop);
}
