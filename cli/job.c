/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl job start|pause|resume|cancel|complete|finalize|dismiss|speed: the
 * job verbs, each one method of the Job object (`job list` is in list.c,
 * `job wait` in job-wait.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bgctl.h"

int cmd_job_start(Ctl *ctl)
{
    return add_file(ctl, ctl->args[0], "job");
}

int cmd_job_verb(Ctl *ctl)
{
    static const struct { const char *word, *method; } verbs[] = {
        { "job pause", "Pause" }, { "job resume", "Resume" }, { "job complete", "Complete" },
        { "job finalize", "Finalize" }, { "job dismiss", "Dismiss" },
    };
    const char *id = ctl->args[0];

    if (strcmp(ctl->command->name, "job cancel") == 0)
        return ctl_call_object(ctl, "job", id, BG_JOB, "Cancel", NULL, "b", (int)ctl->force);
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        if (strcmp(ctl->command->name, verbs[i].word) == 0)
            return ctl_call_object(ctl, "job", id, BG_JOB, verbs[i].method, NULL, "");
    abort();
}

int cmd_job_speed(Ctl *ctl)
{
    const char *text = ctl->args[1];
    char *end = NULL;
    unsigned long long speed;

    errno = 0;
    speed = strtoull(text, &end, 10);
    const char *suffix = end ? strchr("kMGT", *end) : NULL;
    if (*end && suffix && end[1] == '\0') {
        int shift = 10 * (int)(suffix - "kMGT" + 1);
        if (speed > (UINT64_MAX >> shift))
            errno = ERANGE;
        speed <<= shift;
        end++;
    }
    if (errno || end == text || *end || text[0] == '-')
        return ctl_usage_error("'%s' is not a speed in bytes per second", text);
    return ctl_call_object(ctl, "job", ctl->args[0], BG_JOB, "SetSpeed", NULL, "t",
                           (uint64_t)speed);
}

int cmd_job_wait(Ctl *ctl)
{
    return job_wait(ctl, ctl->args[0]);
}
