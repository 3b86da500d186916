/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * <create> snippet -> CreateSpec (jobs/create.h).
 *
 *   <create driver="qcow2" filename="/var/lib/vm/a.qcow2" size="20G" cluster-size="64K"/>
 *   <create driver="qcow2" size="20G"><file ref="disk0-storage"/></create>
 *
 * The attributes are checked later against the driver's option table (the
 * job's setup); here only the form: no text, at most one <file ref=.../>.
 */

#include <glib.h>

#include "jobs/create.h"

CreateSpec *create_parse_xml(const char *text, gssize len, const char *source, GError **errp);
