/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Log and worker pool set-up of the harnesses that run nodes: see fuzz-quiet.h. */

#include <stdio.h>
#include <stdlib.h>
#include <glib.h>

#include "aio/worker-pool.h"
#include "fuzz/fuzz-quiet.h"

static void drop_log(const char *domain, GLogLevelFlags level, const char *msg, void *opaque)
{
    if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) {
        fprintf(stderr, "%s: %s\n", domain ? domain : "", msg);
        abort();
    }
}

void fuzz_quiet_init(void)
{
    g_log_set_default_handler(drop_log, NULL);
    worker_pool_set_inline(true);
}
