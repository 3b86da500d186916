/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The export registry: adding and removing exports, the user each one
 * holds on its node, and the hooks that keep the bus face informed.
 */

#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "graph/iothread.h"
#include "exports/nbd-server.h"

static GList *exports;          /* Export*, in the order added */
static const ExportListener *export_listener;
static void *export_listener_opaque;

void export_set_listener(const ExportListener *listener, void *opaque)
{
    export_listener = listener;
    export_listener_opaque = opaque;
}

typedef struct PostedChange {
    char *id;
    const char *property;       /* a string constant */
} PostedChange;

static void export_notify_changed(Export *e, const char *property);

/* On the main loop: the export may have gone meanwhile (found by id). */
static void export_notify_posted(void *opaque)
{
    PostedChange *p = opaque;
    Export *e = export_lookup(p->id);

    if (e)
        export_notify_changed(e, p->property);
    g_free(p->id);
    g_free(p);
}

/* The listener (the bus) is the main loop's: an iothread's change goes there. */
static void export_notify_changed(Export *e, const char *property)
{
    if (!export_listener || !export_listener->changed)
        return;
    if (!aio_loop_is_main(aio_loop_self())) {
        PostedChange *p = g_new(PostedChange, 1);

        *p = (PostedChange){ g_strdup(e->id), property };
        aio_loop_call(aio_loop_main(), export_notify_posted, p);
        return;
    }
    export_listener->changed(e, property, export_listener_opaque);
}

Export *export_lookup(const char *id)
{
    for (GList *it = exports; it; it = it->next) {
        Export *e = it->data;
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

GList *export_list(void)
{
    return exports;
}

bool export_remove_mode_parse(const char *s, ExportRemoveMode *ret, GError **errp)
{
    if (g_strcmp0(s, "safe") == 0 || g_strcmp0(s, "") == 0)
        *ret = EXPORT_REMOVE_SAFE;
    else if (g_strcmp0(s, "hard") == 0)
        *ret = EXPORT_REMOVE_HARD;
    else {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Unknown removal mode '%s' (expected 'safe' or 'hard')", s ? s : "");
        return false;
    }
    return true;
}

/* What D-Bus carries: UTF-8 without control characters (ids become object paths). */
static bool export_string_ok(const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        return false;
    for (const char *p = s; *p; p++)
        if (g_ascii_iscntrl(*p))
            return false;
    return true;
}

/* Why spec cannot be an export, or NULL. */
static const char *export_spec_problem(const ExportSpec *spec)
{
    if (!spec->id || !*spec->id)
        return "Export needs an 'id'";
    if (strlen(spec->id) > EXPORT_ID_MAX)
        return "Export 'id' is longer than " G_STRINGIFY(EXPORT_ID_MAX) " bytes";
    if (!export_string_ok(spec->id))
        return "Export 'id' must be UTF-8 without control characters";
    if (spec->type && strcmp(spec->type, "nbd") != 0)
        return "Export type must be 'nbd'";
    if (!spec->node_name || !*spec->node_name)
        return "Export needs a 'node-name'";
    if (spec->name && strlen(spec->name) > NBD_MAX_STRING)
        return "Export 'name' is longer than " G_STRINGIFY(NBD_MAX_STRING) " bytes";
    if (spec->description && strlen(spec->description) > NBD_MAX_STRING)
        return "Export 'description' is longer than " G_STRINGIFY(NBD_MAX_STRING) " bytes";
    if ((spec->name && !export_string_ok(spec->name)) ||
        (spec->description && !export_string_ok(spec->description)))
        return "Export 'name' and 'description' must be UTF-8 without control characters";
    if (spec->limits.max_connections > EXPORT_MAX_MAX_CONNECTIONS)
        return "Export 'max-connections' is more than " G_STRINGIFY(EXPORT_MAX_MAX_CONNECTIONS);
    if (spec->limits.max_in_flight_bytes &&
        (spec->limits.max_in_flight_bytes < EXPORT_MIN_MAX_IN_FLIGHT_BYTES ||
         spec->limits.max_in_flight_bytes > EXPORT_MAX_MAX_IN_FLIGHT_BYTES))
        return "Export 'max-in-flight-bytes' must be from 1M to 16G";
    if (spec->server.type == EXPORT_SERVER_UNIX && (!spec->server.path || !*spec->server.path))
        return "Unix socket server needs a 'path'";
    return NULL;
}

static bool export_spec_check(const ExportSpec *spec, GError **errp)
{
    const char *why = export_spec_problem(spec);
    if (why) {
        /* An id that is itself the problem is not repeated. */
        bool name_id = spec->id && *spec->id && strlen(spec->id) <= EXPORT_ID_MAX &&
                       export_string_ok(spec->id);
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s%s%s%s", why,
                    name_id ? " (export '" : "", name_id ? spec->id : "", name_id ? "')" : "");
        return false;
    }
    if (export_lookup(spec->id)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "Export '%s' already exists", spec->id);
        return false;
    }
    return true;
}

static void export_free(Export *e)
{
    export_bitmaps_release(e);
    g_free(e->id);
    g_free(e->type);
    g_free(e->node_name);
    g_free(e->name);
    g_free(e->description);
    g_free(e->uri);
    nbd_tls_creds_unref(e->tls);
    g_free(e);
}

/*
 * A pivot (graph_co_replace_node) moved the export to another node: NodeName
 * and the bitmaps follow; new clients see the node's size, connected ones
 * keep the size they negotiated (NbdClient.size).
 */
static void export_link_moved(BlockChild *c, BlockNode *old_node)
{
    Export *e = c->owner;

    g_free(e->node_name);
    e->node_name = g_strdup(c->node->name);
    e->data_cache = (NbdDataCache){ 0 };
    export_bitmaps_follow(e);
    export_notify_changed(e, "NodeName");
}

/* <export iothread=…> names the iothread of the node, if anything. */
static bool export_check_loop(const ExportSpec *spec, BlockNode *node, GError **errp)
{
    g_autofree char *what = NULL, *where = NULL;
    AioLoop *l;

    if (!spec->iothread)
        return true;
    what = g_strdup_printf("Export '%s'", spec->id);
    l = iothread_lookup(spec->iothread, what, errp);
    if (!l)
        return false;
    if (l != node_loop(node)) {
        where = node_loop_describe(node);
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Export '%s' asks for iothread '%s' but node '%s' runs in %s (bind the node "
                    "with <blockdev iothread='%s'>)", spec->id, spec->iothread, node->name, where,
                    spec->iothread);
        return false;
    }
    return true;
}

static BlockChild *export_attach_locked(const ExportSpec *spec, GError **errp)
{
    BlockNode *node = graph_lookup(spec->node_name);
    if (!node) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known (export '%s')",
                    spec->node_name, spec->id);
        return NULL;
    }
    if (spec->writable && node->read_only) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Export '%s' is writable but node '%s' is read-only", spec->id, node->name);
        return NULL;
    }
    /*
     * As qemu's block exports (blk_exp_add): consistent-read, plus write when
     * writable; everything shared, so that a read-only and a writable export
     * (or a job) can use the same node.
     */
    uint64_t perm = BLOCK_PERM_CONSISTENT_READ | (spec->writable ? BLOCK_PERM_WRITE : 0);
    uint64_t shared = BLOCK_PERM_ALL;
    if (!export_check_loop(spec, node, errp))
        return NULL;
    return node_attach_user(node, BLOCK_USER_EXPORT, spec->id, "export", perm, shared, errp);
}

/*
 * Under the graph lock, as any graph change: a writable export may switch
 * its node read-write, which opens the image in the worker pool.
 */
static BlockChild *coroutine_fn export_co_attach(const ExportSpec *spec, GError **errp)
{
    BlockChild *c;

    graph_co_lock();
    c = export_attach_locked(spec, errp);
    graph_unlock();
    return c;
}

Export *coroutine_fn export_add(const ExportSpec *spec, NbdTlsCreds *tls, GError **errp)
{
    if (!export_spec_check(spec, errp))
        return NULL;
    Export *e = g_new0(Export, 1);
    e->id = g_strdup(spec->id);
    e->type = g_strdup("nbd");
    e->node_name = g_strdup(spec->node_name);
    e->name = g_strdup(spec->name ? spec->name : spec->node_name);
    e->description = g_strdup(spec->description);
    e->writable = spec->writable;
    e->limits = spec->limits;
    e->tls = nbd_tls_creds_ref(tls);
    if (!e->limits.max_connections)
        e->limits.max_connections = EXPORT_DEFAULT_MAX_CONNECTIONS;
    if (!e->limits.max_in_flight_bytes)
        e->limits.max_in_flight_bytes = EXPORT_DEFAULT_MAX_IN_FLIGHT_BYTES;
    co_queue_init(&e->clients_gone);

    /* The listener first: undoing it needs no I/O, unlike detaching a user. */
    NbdListener *l = nbd_listener_get(&spec->server, tls, errp);
    if (!l || !nbd_listener_add_export(l, e, errp) || !(e->child = export_co_attach(spec, errp))) {
        if (l)
            nbd_listener_remove_export(l, e);   /* closes a listener left empty */
        export_free(e);
        return NULL;
    }
    /* Bitmaps once the export holds the node (the attach may have waited). */
    if (!export_bitmaps_resolve(e, e->child->node, (const char *const *)spec->bitmaps, errp)) {
        nbd_listener_remove_export(l, e);
        node_detach_user(e->child);
        export_free(e);
        return NULL;
    }
    e->loop = node_loop(e->child->node);
    e->child->moved = export_link_moved;
    e->child->owner = e;
    e->listener = l;
    e->uri = nbd_listener_uri(l, e->name);
    exports = g_list_append(exports, e);
    if (export_listener && export_listener->added)
        export_listener->added(e, export_listener_opaque);
    return e;
}

void export_set_dry_run(bool dry_run)
{
    nbd_listener_set_dry_run(dry_run);
}

/* The bus reads n_clients without the iothread's lock: published atomically. */
static void export_clients_add(Export *e, int delta)
{
    __atomic_store_n(&e->n_clients, e->n_clients + delta, __ATOMIC_RELAXED);
}

unsigned export_clients_published(const Export *e)
{
    return __atomic_load_n(&e->n_clients, __ATOMIC_RELAXED);
}

void export_client_attached(Export *e, NbdClient *client)
{
    e->clients = g_list_prepend(e->clients, client);
    export_clients_add(e, 1);
    export_notify_changed(e, "Clients");
}

void export_client_detached(Export *e, NbdClient *client)
{
    e->clients = g_list_remove(e->clients, client);
    export_clients_add(e, -1);
    if (!e->removing)
        export_notify_changed(e, "Clients");
    co_queue_wake_all(&e->clients_gone);
}

int coroutine_fn export_co_remove(Export *e, ExportRemoveMode mode, GError **errp)
{
    if (e->removing) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "Export '%s' is being removed", e->id);
        return -EBUSY;
    }
    if (mode == EXPORT_REMOVE_SAFE && e->n_clients) {
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY,
                    "Export '%s' has %u connected client%s (use mode 'hard' to disconnect them)",
                    e->id, e->n_clients, e->n_clients == 1 ? "" : "s");
        return -EBUSY;
    }
    e->removing = true;
    /* Stop accepting: new handshakes no longer see the export. */
    nbd_listener_remove_export(e->listener, e);
    e->listener = NULL;
    for (GList *it = e->clients; it; it = it->next)
        nbd_client_shutdown(it->data);
    while (e->n_clients)
        co_queue_wait(&e->clients_gone);
    /* Every acknowledged write reaches the disk before the export goes. */
    int ret = node_co_flush(e->child);
    if (ret < 0)
        g_warning("Flushing node '%s' while removing export '%s': %s", e->node_name, e->id,
                  g_strerror(-ret));
    exports = g_list_remove(exports, e);
    if (export_listener && export_listener->removed)
        export_listener->removed(e, export_listener_opaque);
    export_bitmaps_release(e);      /* before the node may go with its last user */
    node_detach_user(e->child);
    export_free(e);
    return 0;
}

typedef struct RemoveCtx {
    Export *e;
    ExportRemoveMode mode;
    GError **errp;
    int ret;
} RemoveCtx;

static void remove_entry(void *opaque)
{
    RemoveCtx *ctx = opaque;
    ctx->ret = export_co_remove(ctx->e, ctx->mode, ctx->errp);
}

int export_remove(const char *id, ExportRemoveMode mode, GError **errp)
{
    Export *e = export_lookup(id);
    if (!e) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No export '%s' known", id);
        return -ENOENT;
    }
    RemoveCtx ctx = { e, mode, errp, 0 };
    if (coroutine_in_coroutine())
        remove_entry(&ctx);
    else
        aio_run_coroutine(remove_entry, &ctx);
    return ctx.ret;
}

void coroutine_fn export_co_remove_all(void)
{
    while (exports) {
        Export *e = g_list_last(exports)->data;
        if (e->removing) {
            /* someone else is removing it; wait for that to finish */
            coroutine_yield_to_loop();
            continue;
        }
        export_co_remove(e, EXPORT_REMOVE_HARD, NULL);
    }
}
