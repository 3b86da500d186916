/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Exports: graph nodes served to consumers over NBD.
 *
 * An export holds a user (BlockChild, kind BLOCK_USER_EXPORT, role "export")
 * on its node and does all I/O through it.  Exports naming the same address
 * (unix socket path, or TCP host and port) share one listener; a client
 * picks its export by NBD export name.  Listeners and handshakes run on the
 * main loop; once a client picked an export of a node bound to an iothread,
 * its connection is served on that iothread (exports/nbd-client.c).
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "graph/node.h"
#include "exports/export-spec.h"
#include "exports/nbd-proto.h"
#include "exports/nbd-tls.h"

typedef struct NbdListener NbdListener;
typedef struct NbdClient NbdClient;

/*
 * An export id names a D-Bus object (its path encodes the id, up to three
 * bytes for one) and appears in every message about the export.
 */
#define EXPORT_ID_MAX 255

typedef enum ExportRemoveMode {
    EXPORT_REMOVE_SAFE,         /* refuse while clients are connected */
    EXPORT_REMOVE_HARD,         /* finish in-flight requests, disconnect, remove */
} ExportRemoveMode;

typedef struct Export {
    char *id;
    char *type;
    char *node_name;
    char *name;
    char *description;
    bool writable;
    ExportLimits limits;        /* with the defaults filled in */
    char *uri;
    NbdTlsCreds *tls;           /* NULL: plain NBD */
    AioLoop *loop;              /* the node's loop: connections are served there */

    BlockChild *child;
    char **bitmap_names;        /* offered as qemu:dirty-bitmap:<name> (NULL-terminated) */
    struct DirtyBitmap **bitmaps;   /* the same, found on the node or its backing chain */
    NbdDataCache data_cache;    /* sparse reads (nbd-request.c) */
    NbdListener *listener;
    GList *clients;             /* NbdClient* in transmission on this export */
    unsigned n_clients;         /* changed with export_clients_add (the bus reads it unlocked) */
    bool removing;
    CoQueue clients_gone;       /* export_co_remove waits here */
} Export;

/* Bus hooks (bus/export.c installs them). */
typedef struct ExportListener {
    void (*added)(Export *e, void *opaque);
    void (*removed)(Export *e, void *opaque);
    void (*changed)(Export *e, const char *property, void *opaque);
} ExportListener;

void export_set_listener(const ExportListener *listener, void *opaque);

/*
 * Adds the export spec describes (its TLS credentials, read already: tls,
 * or NULL for plain NBD): checks the spec, attaches to the node, opens (or
 * joins) the listener.  All or nothing.  Errors: NotFound (node), Exists
 * (id, or name on the same address), InvalidArgument (also: TLS settings
 * other than those of the exports already on the address), ReadOnly
 * (writable export on a read-only node), PermissionConflict, IOError
 * (socket).
 */
Export *coroutine_fn export_add(const ExportSpec *spec, NbdTlsCreds *tls, GError **errp);

/* blockgraphd --check-config: exports from now on are checked and added but serve nothing. */
void export_set_dry_run(bool dry_run);


/*
 * Removes an export.  safe: fails with Busy while clients are connected.
 * hard: stops accepting, lets in-flight requests finish and reply,
 * disconnects its clients, flushes the node and detaches.
 */
int coroutine_fn export_co_remove(Export *e, ExportRemoveMode mode, GError **errp);

/* The same by id, from any context (runs a coroutine on the loop if needed). */
int export_remove(const char *id, ExportRemoveMode mode, GError **errp);

/* Hard-removes every export (SIGTERM, before closing the graph). */
void coroutine_fn export_co_remove_all(void);

bool export_remove_mode_parse(const char *s, ExportRemoveMode *ret, GError **errp);

Export *export_lookup(const char *id);
/* All exports in the order they were added (BlockNode-style read-only list). */
GList *export_list(void);

/*
 * The export's bitmaps (exports/export-bitmap.c): each name is looked up on
 * the node, then down its backing chain (NotFound); an inconsistent one is
 * refused (InvalidState).  Found bitmaps are busy until released.
 */
bool export_bitmaps_resolve(Export *e, BlockNode *node, const char *const *names,
                            GError **errp);
void export_bitmaps_release(Export *e);
/*
 * After a pivot moved the export to another node: each bitmap is looked up
 * again from that node down its chain; one not found there (or
 * inconsistent) is offered no more (a warning says so) and its slot stays
 * NULL.
 */
void export_bitmaps_follow(Export *e);
/* Bit i: bitmap i is offered no more. */
uint32_t export_bitmaps_gone(const Export *e);

/* Export.Clients from another thread than the export's loop (the bus). */
unsigned export_clients_published(const Export *e);

/* ---- used by the NBD server ------------------------------------------------ */
void export_client_attached(Export *e, NbdClient *client);
void export_client_detached(Export *e, NbdClient *client);
