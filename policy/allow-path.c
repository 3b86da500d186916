/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Confinement to the folders of <allow-path>: resolve first (realpath),
 * then compare whole path components, so that "/var/lib/blockgraph-evil"
 * is not inside "/var/lib/blockgraph" and a symlink inside pointing out is
 * outside.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "graph/error.h"
#include "policy/allow-path.h"

static GPtrArray *allowed;      /* char*, canonical; NULL: unrestricted */
static bool from_defaults;      /* allowed holds the system defaults: the first add replaces them */

static char *canonical_dir(const char *dir)
{
    char buf[PATH_MAX];
    g_autofree char *clean = g_canonicalize_filename(dir, "/");

    /* A folder that does not exist yet keeps its cleaned-up name. */
    return realpath(clean, buf) ? g_strdup(buf) : g_steal_pointer(&clean);
}

bool allow_path_add(const char *dir, GError **errp)
{
    if (!dir || !g_path_is_absolute(dir)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "<allow-path> '%s' is not an absolute path", dir ? dir : "");
        return false;
    }
    if (from_defaults) {
        allow_path_reset();
    }
    if (!allowed) {
        allowed = g_ptr_array_new_with_free_func(g_free);
    }
    g_ptr_array_add(allowed, canonical_dir(dir));
    return true;
}

void allow_path_set_defaults(bool system_bus)
{
    static const char *const defaults[] = ALLOW_PATH_SYSTEM_DEFAULTS;

    if (allowed || !system_bus) {
        return;
    }
    for (size_t i = 0; defaults[i]; i++) {
        allow_path_add(defaults[i], NULL);
    }
    from_defaults = true;
}

void allow_path_reset(void)
{
    g_clear_pointer(&allowed, g_ptr_array_unref);
    from_defaults = false;
}

bool allow_path_confined(void)
{
    return allowed != NULL;
}

char *allow_path_describe(void)
{
    GString *s = g_string_new(NULL);

    if (!allowed) {
        return g_string_free(g_string_append(s, "unrestricted"), FALSE);
    }
    for (guint i = 0; i < allowed->len; i++) {
        g_string_append_printf(s, "%s%s", i ? ", " : "", (char *)allowed->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

static bool is_inside(const char *path, const char *dir)
{
    size_t len = strlen(dir);

    if (strcmp(dir, "/") == 0) {
        return true;
    }
    return strncmp(path, dir, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

/* realpath of path, or for a new file realpath of its folder plus its name. */
static int resolve(const char *path, bool new_file, char **ret)
{
    char buf[PATH_MAX];
    g_autofree char *dir = NULL;
    g_autofree char *base = NULL;

    if (!new_file) {
        if (!realpath(path, buf)) {
            return -errno;
        }
        *ret = g_strdup(buf);
        return 0;
    }
    dir = g_path_get_dirname(path);
    base = g_path_get_basename(path);
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0 || strcmp(base, "/") == 0) {
        return -EINVAL;
    }
    if (!realpath(dir, buf)) {
        return -errno;
    }
    *ret = g_build_filename(buf, base, NULL);
    return 0;
}

int allow_path_resolve(const char *path, bool new_file, char **ret_resolved)
{
    g_autofree char *real = NULL;
    int r;

    *ret_resolved = NULL;
    if (!allowed) {
        return 0;
    }
    if (!g_path_is_absolute(path)) {
        return -EINVAL;
    }
    r = resolve(path, new_file, &real);
    if (r < 0) {
        return r == -EINVAL ? -ENOENT : r;
    }
    for (guint i = 0; i < allowed->len; i++) {
        if (is_inside(real, allowed->pdata[i])) {
            *ret_resolved = g_steal_pointer(&real);
            return 0;
        }
    }
    return -EACCES;
}

void allow_path_set_error(GError **errp, const char *path, int ret)
{
    g_autofree char *list = allow_path_describe();

    switch (ret) {
    case -EINVAL:
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Relative path '%s' refused: the daemon is confined to absolute paths "
                    "under %s", path, list);
        break;
    case -EACCES:
        g_set_error(errp, BG_ERROR, BG_ERROR_ACCESS_DENIED,
                    "Path '%s' is outside the allowed paths (%s)", path, list);
        break;
    default:
        bg_set_error_errno(errp, ret, "Cannot resolve path '%s'", path);
        break;
    }
}
