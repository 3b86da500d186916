/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Listening sockets.  Exports naming the same address share one listener;
 * it opens with the first export and closes with the last.
 */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "exports/nbd-server.h"
#include "exports/unix-socket.h"
#include "policy/allow-path.h"

static GHashTable *listeners;   /* key -> NbdListener* */

static char *listener_key(const ExportServerSpec *server)
{
    if (server->type == EXPORT_SERVER_UNIX)
        return g_strdup_printf("unix:%s", server->path);
    return g_strdup_printf("inet:%s:%u", server->host ? server->host : "", server->port);
}

/*
 * Connections a listener takes at once, handshaking ones included: what its
 * exports may serve together, and a few more still handshaking (they get a
 * clear NBD_REP_ERR_POLICY when they ask for a full export).  More are
 * closed as soon as they come.
 */
#define NBD_EXTRA_HANDSHAKES 16

static bool listener_full(const NbdListener *l)
{
    guint max = NBD_EXTRA_HANDSHAKES;
    for (guint i = 0; i < l->exports->len; i++)
        max += ((Export *)l->exports->pdata[i])->limits.max_connections;
    return g_list_length(l->clients) >= max;
}

static int listener_on_accept(sd_event_source *s, int fd, uint32_t revents, void *opaque)
{
    NbdListener *l = opaque;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                g_warning("nbd: accept on %s: %s", l->key, g_strerror(errno));
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return 0;
        }
        if (listener_full(l)) {
            if (!l->refusing)
                g_message("nbd: %s has as many connections as its exports allow "
                          "(max-connections), closing new ones", l->key);
            l->refusing = true;
            close(cfd);
            continue;
        }
        l->refusing = false;
        if (l->type == EXPORT_SERVER_INET) {
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        nbd_client_new(l, cfd);
    }
}

static int listen_inet(const char *host, const char *port, char **ret_authority, GError **errp)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_ADDRCONFIG };
    struct addrinfo *res = NULL;
    int r = getaddrinfo(host && *host ? host : NULL, port, &hints, &res);
    if (r != 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Cannot resolve address '%s' port '%s': %s", host ? host : "", port,
                    gai_strerror(r));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        bg_set_error_errno(errp, -err, "Failed to listen on '%s' port '%s'",
                           host ? host : "", port);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char hbuf[NI_MAXHOST] = "", pbuf[NI_MAXSERV] = "";
    getsockname(fd, (struct sockaddr *)&ss, &len);
    getnameinfo((struct sockaddr *)&ss, len, hbuf, sizeof(hbuf), pbuf, sizeof(pbuf),
                NI_NUMERICHOST | NI_NUMERICSERV);
    const char *h = host && *host ? host : "localhost";
    *ret_authority = strchr(h, ':') ? g_strdup_printf("[%s]:%s", h, pbuf)
                                    : g_strdup_printf("%s:%s", h, pbuf);
    return fd;
}

static void listener_free(NbdListener *l)
{
    sd_event_source_disable_unref(l->source);
    if (l->fd >= 0)
        close(l->fd);
    unix_socket_remove(&l->sock);
    g_ptr_array_unref(l->exports);
    nbd_tls_creds_unref(l->tls);
    g_free(l->key);
    g_free(l->alias_key);
    g_free(l->path);
    g_free(l->uri_authority);
    g_free(l);
}

static bool listener_dry_run;

void nbd_listener_set_dry_run(bool dry_run)
{
    listener_dry_run = dry_run;
}

/* --check-config: a listener with its address and exports, but no socket. */
static NbdListener *listener_new_dry_run(const ExportServerSpec *server, NbdTlsCreds *tls)
{
    NbdListener *l = g_new0(NbdListener, 1);

    l->type = server->type;
    l->exports = g_ptr_array_new();
    l->tls = nbd_tls_creds_ref(tls);
    l->fd = -1;
    if (server->type == EXPORT_SERVER_UNIX)
        l->path = g_strdup(server->path);
    else
        l->uri_authority = g_strdup_printf("%s:%u", server->host && *server->host ? server->host
                                                                                  : "localhost",
                                           server->port);
    return l;
}

/* --check-config refuses a socket path that start-up would refuse (confinement). */
static bool listener_check_path(const ExportServerSpec *server, GError **errp)
{
    g_autofree char *resolved = NULL;
    int r;

    if (server->type != EXPORT_SERVER_UNIX)
        return true;
    r = allow_path_resolve(server->path, true, &resolved);
    if (r < 0)
        allow_path_set_error(errp, server->path, r);
    return r >= 0;
}

NbdListener *nbd_listener_get(const ExportServerSpec *server, NbdTlsCreds *tls, GError **errp)
{
    g_autofree char *key = listener_key(server);
    if (!listeners)
        listeners = g_hash_table_new(g_str_hash, g_str_equal);
    NbdListener *l = g_hash_table_lookup(listeners, key);
    if (l)
        return l;
    if (listener_dry_run) {
        if (!listener_check_path(server, errp))
            return NULL;
        l = listener_new_dry_run(server, tls);
        l->key = g_steal_pointer(&key);
        g_hash_table_insert(listeners, l->key, l);
        return l;
    }

    l = g_new0(NbdListener, 1);
    l->type = server->type;
    l->exports = g_ptr_array_new();
    l->tls = nbd_tls_creds_ref(tls);
    if (server->type == EXPORT_SERVER_UNIX) {
        l->fd = unix_socket_listen(server->path, server->mode, server->group, &l->sock, errp);
        l->path = g_strdup(l->sock.path);
    } else {
        g_autofree char *port = g_strdup_printf("%u", server->port);
        l->fd = listen_inet(server->host, port, &l->uri_authority, errp);
    }
    if (l->fd < 0 ||
        sd_event_add_io(aio_loop(), &l->source, l->fd, EPOLLIN, listener_on_accept, l) < 0) {
        if (l->fd >= 0)
            g_set_error(errp, BG_ERROR, BG_ERROR_FAILED, "Cannot watch socket %s", key);
        listener_free(l);
        return NULL;
    }
    l->key = g_steal_pointer(&key);
    g_hash_table_insert(listeners, l->key, l);
    if (l->type == EXPORT_SERVER_INET) {
        /* port="0" binds a free port: later exports may name the real one */
        l->alias_key = g_strdup_printf("inet:%s:%s", server->host ? server->host : "",
                                       strrchr(l->uri_authority, ':') + 1);
        if (g_hash_table_contains(listeners, l->alias_key))
            g_clear_pointer(&l->alias_key, g_free);
        else
            g_hash_table_insert(listeners, l->alias_key, l);
    }
    return l;
}

Export *nbd_listener_find_export(const NbdListener *l, const char *name)
{
    if (!l)
        return NULL;
    for (guint i = 0; i < l->exports->len; i++) {
        Export *e = l->exports->pdata[i];
        if (strcmp(e->name, name) == 0)
            return e;
    }
    if (name[0] == '\0' && l->exports->len == 1)
        return l->exports->pdata[0];
    return NULL;
}

static char *tls_describe(const NbdTlsCreds *tls)
{
    if (!tls)
        return g_strdup("no TLS");
    const NbdTlsConfig *cfg = nbd_tls_creds_config(tls);
    return g_strdup_printf("TLS with dir '%s', verify-peer %s%s%s", cfg->dir,
                           cfg->verify_peer ? "on" : "off", cfg->priority ? ", priority " : "",
                           cfg->priority ? cfg->priority : "");
}

/*
 * One address, one TLS mode: the server's certificate goes out before the
 * client names an export, and an address that requires TLS refuses every
 * option until the handshake.
 */
static bool listener_check_tls(NbdListener *l, Export *e, GError **errp)
{
    if (!nbd_tls_creds_same_config(l->tls, e->tls)) {
        g_autofree char *have = tls_describe(l->tls);
        g_autofree char *want = tls_describe(e->tls);
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Export '%s' asks for %s, but %s serves %s: exports on one address "
                    "share its TLS settings", e->id, want, l->key, have);
        return false;
    }
    if (e->tls != l->tls) {
        nbd_tls_creds_unref(l->tls);
        l->tls = nbd_tls_creds_ref(e->tls);
    }
    return true;
}

bool nbd_listener_add_export(NbdListener *l, Export *e, GError **errp)
{
    if (!listener_check_tls(l, e, errp))
        return false;
    for (guint i = 0; i < l->exports->len; i++) {
        Export *o = l->exports->pdata[i];
        if (strcmp(o->name, e->name) == 0) {
            g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS,
                        "Export '%s' already serves the name '%s' on %s", o->id, e->name, l->key);
            return false;
        }
    }
    g_ptr_array_add(l->exports, e);
    return true;
}

void nbd_listener_remove_export(NbdListener *l, Export *e)
{
    g_ptr_array_remove(l->exports, e);
    if (l->exports->len)
        return;
    g_hash_table_remove(listeners, l->key);
    if (l->alias_key)
        g_hash_table_remove(listeners, l->alias_key);
    /* Clients still negotiating lose their listener; those in transmission keep going. */
    GList *clients = g_steal_pointer(&l->clients);
    for (GList *it = clients; it; it = it->next)
        nbd_client_listener_gone(it->data);
    g_list_free(clients);
    listener_free(l);
}

char *nbd_listener_uri(const NbdListener *l, const char *name)
{
    g_autofree char *ename = g_uri_escape_string(name, "/", FALSE);
    const char *scheme = l->tls ? "nbds" : "nbd";
    if (l->type == EXPORT_SERVER_UNIX) {
        g_autofree char *epath = g_uri_escape_string(l->path, "/", FALSE);
        return g_strdup_printf("%s+unix:///%s?socket=%s", scheme, ename, epath);
    }
    return g_strdup_printf("%s://%s/%s", scheme, l->uri_authority, ename);
}
