/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every job type, in one explicit list. */

#include <string.h>

#include "jobs/job-types.h"

static const JobDriver *const job_drivers[] = {
    &stream_job_driver,
    &commit_job_driver,
    &backup_job_driver,
    &mirror_job_driver,
};

const JobDriver *job_driver_find(const char *type)
{
    for (size_t i = 0; i < G_N_ELEMENTS(job_drivers); i++)
        if (strcmp(job_drivers[i]->type, type) == 0)
            return job_drivers[i];
    return NULL;
}
