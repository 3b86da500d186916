/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The job types (one file each) and what they share. */

#include "jobs/job.h"

extern const JobDriver stream_job_driver;
extern const JobDriver commit_job_driver;
extern const JobDriver backup_job_driver;
extern const JobDriver mirror_job_driver;
