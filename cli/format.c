/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: sizes and durations as people read them. */
#include "bgctl.h"

/* 0 B, 512 B, 1.5 KiB, 64 MiB, 1 GiB: powers of 1024, as the XML's suffixes. */
char *format_bytes(uint64_t bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double v = (double)bytes;
    size_t u = 0;

    while (v >= 1024 && u + 1 < G_N_ELEMENTS(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT " B", bytes);
    if (v == (double)(uint64_t)v)
        return g_strdup_printf("%.0f %s", v, units[u]);
    return g_strdup_printf("%.1f %s", v, units[u]);
}

/* 42s, 3m05s, 2h03m. */
char *format_duration(uint64_t seconds)
{
    if (seconds < 60)
        return g_strdup_printf("%us", (unsigned)seconds);
    if (seconds < 3600)
        return g_strdup_printf("%um%02us", (unsigned)(seconds / 60), (unsigned)(seconds % 60));
    return g_strdup_printf("%" G_GUINT64_FORMAT "h%02um", seconds / 3600,
                           (unsigned)(seconds % 3600 / 60));
}
