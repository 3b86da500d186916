/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <job> snippet -> JobSpec (jobs/job.h).
 *
 *   <job type="stream" id="pull0" node-name="top" base-node="base" speed="0"
 *        on-error="report" auto-finalize="on" auto-dismiss="on"/>
 *
 * Required: type (a known job type), id.  The attributes each type takes
 * besides the common ones come from its JobDriver; unknown ones are errors.
 */

#include <glib.h>

#include "jobs/job.h"

JobSpec *job_parse_xml(const char *text, gssize len, const char *source, GError **errp);
