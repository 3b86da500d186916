/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Unix sockets of exports, created carefully: the path is confined
 * (policy/allow-path.h, symlinks of its folder resolved), only a stale
 * socket (a socket nobody listens on) is ever replaced, the file gets an
 * explicit mode and group before anyone can connect, and removal unlinks
 * the file only while it is still the one we bound.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <glib.h>

#define UNIX_SOCKET_DEFAULT_MODE       0600
#define UNIX_SOCKET_DEFAULT_GROUP_MODE 0660   /* when a group is named */

typedef struct UnixSocket {
    char *path;         /* the file we created (resolved when confined) */
    dev_t dev;          /* of the file right after bind */
    ino_t ino;
    unsigned mode;      /* as asked (0: the default) */
    char *group;        /* as asked, or NULL */
} UnixSocket;

/*
 * Listens on path.  mode 0: the default (0660 with group, else 0600);
 * group: a group name or number, or NULL.  Returns the listening
 * descriptor and fills *ret, or -1 with errp naming the path.
 */
int unix_socket_listen(const char *path, unsigned mode, const char *group, UnixSocket *ret,
                       GError **errp);

/* Unlinks the socket file if it is still ours; frees what sock holds. */
void unix_socket_remove(UnixSocket *sock);
