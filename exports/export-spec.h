/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An export as an <export> element describes it (xml/export-parse.c fills
 * it in; the daemon's configuration files and Manager.AddExport hand it to
 * export_add_from_spec).  Strings are owned.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"

typedef enum ExportServerType {
    EXPORT_SERVER_UNIX,
    EXPORT_SERVER_INET,
} ExportServerType;

#define EXPORT_NBD_DEFAULT_PORT 10809

/*
 * What one export lets its clients hold (attributes of <export>); 0 takes
 * the default.
 */
typedef struct ExportLimits {
    unsigned max_connections;       /* clients in transmission at once */
    uint64_t max_in_flight_bytes;   /* request data one connection holds */
} ExportLimits;

#define EXPORT_DEFAULT_MAX_CONNECTIONS 16
#define EXPORT_MAX_MAX_CONNECTIONS     1024
#define EXPORT_DEFAULT_MAX_IN_FLIGHT_BYTES ((uint64_t)64 << 20)
#define EXPORT_MIN_MAX_IN_FLIGHT_BYTES     ((uint64_t)1 << 20)
#define EXPORT_MAX_MAX_IN_FLIGHT_BYTES     ((uint64_t)16 << 30)

typedef struct ExportServerSpec {
    ExportServerType type;
    char *path;         /* unix */
    unsigned mode;      /* unix: 0 (default) or 0600, 0660, 0666 */
    char *group;        /* unix: NULL or a group name or number */
    char *host;         /* inet */
    uint16_t port;      /* inet */
} ExportServerSpec;

/* <tls dir="…" verify-peer="on" priority="…"/>: TLS only, with these credentials. */
typedef struct ExportTlsSpec {
    char *dir;          /* NULL: no TLS */
    bool verify_peer;   /* default on, as QEMU's tls-creds-x509 */
    char *priority;     /* NULL: the default */
} ExportTlsSpec;

typedef struct ExportSpec {
    char *type;         /* "nbd" */
    char *id;
    char *node_name;
    char *name;         /* export name the client asks for; defaults to node_name */
    char *description;  /* NULL if not given */
    char *iothread;     /* NULL if not given: the node's loop */
    bool writable;
    ExportLimits limits;
    ExportServerSpec server;
    ExportTlsSpec tls;
    char **bitmaps;     /* dirty bitmaps offered as qemu:dirty-bitmap:<name> (NULL-terminated) */
    char *source;       /* file name or "<bus>"; may be NULL */
    int line;
} ExportSpec;

void export_spec_free(ExportSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ExportSpec, export_spec_free)

const char *export_server_type_name(ExportServerType type);

/* "unix:/run/x.sock" or "inet:host:port": equal strings mean one listener. */
char *export_server_describe(const ExportServerSpec *server);

/*
 * Adds the export spec describes (exports/export.h: export_add).  TLS
 * credentials are read first, in the worker pool when called in a
 * coroutine (the loop does not wait for the files).
 */
typedef struct Export Export;
Export *coroutine_fn export_add_from_spec(const ExportSpec *spec, GError **errp);
