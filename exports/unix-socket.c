/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unix sockets of exports: confined, never replacing a live file, explicit mode. */

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "exports/unix-socket.h"
#include "graph/error.h"
#include "policy/allow-path.h"

static bool fill_address(struct sockaddr_un *sa, const char *path, GError **errp)
{
    if (strlen(path) >= sizeof(sa->sun_path)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Socket path '%s' is too long", path);
        return false;
    }
    strcpy(sa->sun_path, path);
    return true;
}

/* Something accepts connections on the socket file at sa. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    bool live;

    if (fd < 0) {
        return true;        /* cannot tell: do not replace it */
    }
    live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN ||
           errno == EINPROGRESS;
    close(fd);
    return live;
}

/* Removes a stale socket at sa; refuses anything else that is there. */
static bool clear_stale_socket(const struct sockaddr_un *sa, GError **errp)
{
    const char *path = sa->sun_path;
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            return true;
        }
        bg_set_error_errno(errp, -errno, "Cannot check socket path '%s'", path);
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS,
                    "Socket path '%s' exists and is not a socket: not replacing it", path);
        return false;
    }
    if (socket_is_live(sa)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS,
                    "Socket path '%s' is in use (something listens on it): not replacing it",
                    path);
        return false;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        bg_set_error_errno(errp, -errno, "Cannot remove the stale socket '%s'", path);
        return false;
    }
    return true;
}

static bool lookup_group(const char *group, gid_t *ret, GError **errp)
{
    char buf[4096];
    struct group gr, *found = NULL;
    guint64 n;

    if (g_ascii_string_to_unsigned(group, 10, 0, G_MAXUINT32 - 1, &n, NULL)) {
        *ret = (gid_t)n;
        return true;
    }
    if (getgrnam_r(group, &gr, buf, sizeof(buf), &found) != 0 || !found) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Socket group '%s' does not exist", group);
        return false;
    }
    *ret = found->gr_gid;
    return true;
}

/* Mode and group on the bound file, before listen(): nobody connects before. */
static bool set_owner_and_mode(const char *path, unsigned mode, const char *group,
                               GError **errp)
{
    gid_t gid;

    if (group && (!lookup_group(group, &gid, errp))) {
        return false;
    }
    if (group && chown(path, (uid_t)-1, gid) < 0) {
        bg_set_error_errno(errp, -errno, "Cannot give socket '%s' to group '%s'", path, group);
        return false;
    }
    if (chmod(path, mode) < 0) {
        bg_set_error_errno(errp, -errno, "Cannot set mode %04o on socket '%s'", mode, path);
        return false;
    }
    return true;
}

static int bind_and_listen(const struct sockaddr_un *sa, unsigned mode, const char *group,
                           struct stat *st, GError **errp)
{
    const char *path = sa->sun_path;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        bg_set_error_errno(errp, -errno, "Failed to listen on unix socket '%s'", path);
        goto fail;
    }
    if (lstat(path, st) < 0) {
        bg_set_error_errno(errp, -errno, "Failed to listen on unix socket '%s'", path);
        goto fail;
    }
    if (!set_owner_and_mode(path, mode, group, errp)) {
        unlink(path);
        goto fail;
    }
    if (listen(fd, 128) < 0) {
        bg_set_error_errno(errp, -errno, "Failed to listen on unix socket '%s'", path);
        unlink(path);
        goto fail;
    }
    return fd;
fail:
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

int unix_socket_listen(const char *path, unsigned mode, const char *group, UnixSocket *ret,
                       GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autofree char *resolved = NULL;
    unsigned asked_mode;
    struct stat st;
    int fd, r;

    r = allow_path_resolve(path, true, &resolved);
    if (r < 0) {
        allow_path_set_error(errp, path, r);
        return -1;
    }
    asked_mode = mode;
    if (!mode) {
        mode = group ? UNIX_SOCKET_DEFAULT_GROUP_MODE : UNIX_SOCKET_DEFAULT_MODE;
    }
    if (!fill_address(&sa, resolved ? resolved : path, errp) || !clear_stale_socket(&sa, errp)) {
        return -1;
    }
    fd = bind_and_listen(&sa, mode, group, &st, errp);
    if (fd < 0) {
        return -1;
    }
    ret->path = g_strdup(sa.sun_path);
    ret->mode = asked_mode;
    ret->group = g_strdup(group);
    ret->dev = st.st_dev;
    ret->ino = st.st_ino;
    return fd;
}

void unix_socket_remove(UnixSocket *sock)
{
    struct stat st;

    if (sock->path && lstat(sock->path, &st) == 0 && st.st_dev == sock->dev &&
        st.st_ino == sock->ino) {
        unlink(sock->path);
    }
    g_clear_pointer(&sock->path, g_free);
    g_clear_pointer(&sock->group, g_free);
}
