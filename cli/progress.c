/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: a job's progress for people: on a terminal a bar that is redrawn
 * in place,
 *   [##########..........]  50%  8 MiB / 16 MiB  1.0 MiB/s  8s left  running
 * and otherwise one self-contained line (for logs, one a second):
 *   job s0: running 50% 8 MiB / 16 MiB, 1.0 MiB/s, 8s left */
#include <string.h>

#include "bgctl.h"
#include "progress.h"

static unsigned percent(const Progress *p)
{
    if (p->total == 0)
        return 0;
    return (unsigned)MIN(100, p->current * 100.0 / p->total);
}

/* "8 MiB / 16 MiB  1.0 MiB/s  8s left" (sep between the parts). */
static char *figures(const Progress *p, const char *sep)
{
    g_autofree char *done = format_bytes(p->current), *total = format_bytes(p->total);
    g_autofree char *rate = format_bytes(p->rate);
    bool finished = p->total > 0 && p->current >= p->total;
    g_autofree char *left = p->seconds_left >= 0 ? format_duration(p->seconds_left)
                            : finished ? g_strdup("0s") : g_strdup("?");

    return g_strdup_printf("%s / %s%s%s/s%s%s left", done, total, sep, rate, sep, left);
}

char *progress_bar(const Progress *p, int columns)
{
    g_autofree char *text = figures(p, "  ");
    g_autofree char *tail = g_strdup_printf(" %3u%%  %s  %s", percent(p), text, p->status);
    /* The figures take at most ~60 columns: the bar gets the rest, so it
     * keeps its length while they change. */
    int width = CLAMP(columns - 64, 10, 40);
    int filled = width * percent(p) / 100;
    g_autoptr(GString) s = g_string_new("[");

    for (int i = 0; i < width; i++)
        g_string_append_c(s, i < filled ? '#' : '.');
    g_string_append_c(s, ']');
    g_string_append(s, tail);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

char *progress_line(const Progress *p)
{
    g_autofree char *text = figures(p, ", ");

    return g_strdup_printf("job %s: %s %u%% %s", p->id, p->status, percent(p), text);
}
