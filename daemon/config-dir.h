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
 * Applies every file of dir.  First every file is read and every
 * <allow-path> of every file confines the daemon (policy/allow-path.h),
 * then the files are applied in name order.  A file that fails is rolled back (whatever it
 * added is removed again), its error — naming the file and line — is logged,
 * and the next file is applied.  Returns the number of files that failed,
 * or -1 with errp set when dir cannot be listed (missing, not a folder).
 * With check (--check-config) each file's result is logged as a check.
 */
int coroutine_fn config_dir_co_apply(const char *dir, bool check, GError **errp);
