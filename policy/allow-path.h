/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Confinement: the folders under which a caller may make the daemon open
 * a file (node filenames, backing files named in image headers) or create
 * a socket (unix exports).  Set at start from <allow-path> elements of the
 * configuration folder, else from the defaults of the bus (unrestricted on
 * a session or private bus, ALLOW_PATH_SYSTEM_DEFAULTS on the system bus),
 * and read-only afterwards: worker threads call allow_path_resolve.
 */

#include <stdbool.h>
#include <glib.h>

/* The system bus's list when the configuration names none (docs/security.md). */
#define ALLOW_PATH_SYSTEM_DEFAULTS { "/var/lib/blockgraph", "/run/blockgraph", NULL }

/*
 * Adds dir (absolute; symlinks in it are resolved when it exists).  The
 * first call confines the daemon.  False with errp set for a relative or
 * empty dir.
 */
bool allow_path_add(const char *dir, GError **errp);

/*
 * Before the configuration is read: on the system bus confine to the
 * defaults until the first allow_path_add replaces them; elsewhere stay
 * unrestricted until then.
 */
void allow_path_set_defaults(bool system_bus);

/* Forgets every folder: unrestricted again (tests). */
void allow_path_reset(void);

bool allow_path_confined(void);

/* The folders, comma separated ("unrestricted" when none).  g_free. */
char *allow_path_describe(void);

/*
 * Where path really leads, if the daemon may go there.  Symlinks are
 * resolved first; for a new file (a socket to create) those of its folder.
 * 0 with *ret_resolved the absolute path to use (NULL when unrestricted: use
 * path as given), -EINVAL for a relative path, -EACCES for a path outside
 * every folder, another -errno when it cannot be resolved.  Thread-safe.
 */
int allow_path_resolve(const char *path, bool new_file, char **ret_resolved);

/* The error for a refusal of allow_path_resolve (ret < 0), naming path. */
void allow_path_set_error(GError **errp, const char *path, int ret);
