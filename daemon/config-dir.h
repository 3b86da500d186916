/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The configuration folder: every "*.xml" directly in it, applied in file
 * name order at start, each file all or nothing.
 */

#include <stdbool.h>
#include <glib.h>

#include "aio/coroutine.h"

/*
 * Applies every file of dir.  A file that fails is rolled back (whatever it
 * added is removed again), its error — naming the file and line — is logged,
 * and the next file is applied.  Returns the number of files that failed,
 * or -1 with errp set when dir cannot be listed (missing, not a folder).
 */
int coroutine_fn config_dir_co_apply(const char *dir, GError **errp);

/*
 * --check-config: parses every file and validates it without opening
 * images: XML, drivers, option names and values (from the option tables),
 * node-names (valid, unique across the folder), child roles, references to
 * nodes defined earlier, that a protocol node's filename exists, and exports'
 * node-names and ids.  Logs each problem; returns the number of bad files or
 * -1 with errp set when dir cannot be listed.
 */
int config_dir_check(const char *dir, GError **errp);
