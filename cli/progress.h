/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: a job's progress as a bar (terminal) or as a line (logs). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *id;
    const char *status;
    uint64_t current, total;   /* bytes */
    uint64_t rate;             /* bytes/s, measured */
    int64_t seconds_left;      /* -1: not known */
} Progress;

char *progress_bar(const Progress *p, int columns);
char *progress_line(const Progress *p);
