/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The NBD server's parts inside exports/: listeners, clients, buffers. */

#include <stddef.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "exports/export.h"
#include "exports/nbd-proto.h"
#include "exports/unix-socket.h"

struct NbdListener {
    char *key;                  /* "unix:/path" or "inet:host:port" as configured */
    char *alias_key;            /* inet: the same with the bound port, if different */
    ExportServerType type;
    char *path;                 /* unix: the socket file we created */
    UnixSocket sock;            /* unix: what unix_socket_remove needs */
    char *uri_authority;        /* inet: "host:port" with the bound port */
    int fd;
    sd_event_source *source;
    GPtrArray *exports;         /* Export* served here */
    GList *clients;             /* every NbdClient, handshaking or not */
    NbdTlsCreds *tls;           /* TLS only (all its exports name the same credentials) */
    bool refusing;              /* full: new connections are closed (logged once) */
};

/*
 * With dry_run (blockgraphd --check-config), listeners are made as usual but
 * open no socket: exports are checked without binding (or unlinking) anything.
 */
void nbd_listener_set_dry_run(bool dry_run);

/*
 * Finds the listener for the server's address or opens a new one (not yet
 * holding exports) that serves with tls (NULL: plain NBD).
 */
NbdListener *nbd_listener_get(const ExportServerSpec *server, NbdTlsCreds *tls, GError **errp);
/*
 * Adds e; refuses a second export with the same NBD name, or TLS settings
 * other than the listener's.  e's credentials, read just now, serve the
 * connections from now on.
 */
bool nbd_listener_add_export(NbdListener *l, Export *e, GError **errp);
/* Removes e; the last export closes the listener and its handshaking clients. */
void nbd_listener_remove_export(NbdListener *l, Export *e);
/* The NBD URI of export `name` on l. */
char *nbd_listener_uri(const NbdListener *l, const char *name);
/* The export a client asks for by name; "" is the only export, if just one. */
Export *nbd_listener_find_export(const NbdListener *l, const char *name);

/* Accepted socket: starts the client's connection coroutine. */
void nbd_client_new(NbdListener *l, int fd);
/* Asks the client to stop: no new requests, in-flight ones finish, then close. */
void nbd_client_shutdown(NbdClient *c);
/* The listener went away under a client (it keeps running on its export). */
void nbd_client_listener_gone(NbdClient *c);

/* How long a client may take for the handshake (30 s; tests shorten it). */
void nbd_set_handshake_timeout_us(uint64_t usec);

/* Aligned I/O buffers, recycled (no malloc per request in steady state). */
void *nbd_buffer_get(size_t size);
void nbd_buffer_put(void *buf, size_t size);
