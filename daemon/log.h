/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging to stderr: "blockgraphd: <message>", with syslog level prefixes
 * ("<4>") when stderr is the journal (JOURNAL_STREAM), so systemd keeps
 * the priority.  g_debug output only with G_MESSAGES_DEBUG set.
 */

void log_setup(void);
