/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "daemon/log.h"

static bool log_to_journal;
static bool log_debug;

static int log_syslog_level(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        return 2;
    }
    if (level & G_LOG_LEVEL_WARNING) {
        return 4;
    }
    if (level & G_LOG_LEVEL_MESSAGE) {
        return 5;
    }
    if (level & G_LOG_LEVEL_INFO) {
        return 6;
    }
    return 7;
}

static void log_handler(const char *domain, GLogLevelFlags level, const char *message,
                        gpointer user_data)
{
    int prio = log_syslog_level(level);

    if (prio == 7 && !log_debug) {
        return;
    }
    if (log_to_journal) {
        fprintf(stderr, "<%d>%s\n", prio, message);
    } else {
        fprintf(stderr, "blockgraphd: %s%s\n",
                prio <= 2 ? "error: " : prio == 4 ? "warning: " : "", message);
    }
    fflush(stderr);
}

void log_setup(void)
{
    log_to_journal = getenv("JOURNAL_STREAM") != NULL;
    log_debug = getenv("G_MESSAGES_DEBUG") != NULL;
    g_log_set_default_handler(log_handler, NULL);
}
