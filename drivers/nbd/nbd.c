/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `nbd` protocol driver: a node whose data lives on an NBD server,
 * with QEMU's options (server.*, export, reconnect-delay, open-timeout).
 * The server element has the shape exports use:
 *
 *   <blockdev driver="nbd" node-name="remote0" export="disk0" reconnect-delay="10">
 *     <server type="unix" path="/run/nbd.sock"/>
 *   </blockdev>
 *
 * Opening connects without blocking the loop; see nbd-int.h for the parts.
 */

#include <errno.h>
#include <string.h>

#include "drivers/drivers.h"
#include "drivers/nbd/nbd-int.h"
#include "exports/export-spec.h"
#include "graph/error.h"

#define NBD_MAX_DELAY_S 3600
#define NBD_OPEN_PAUSE_US (100 * 1000)
/* With open-timeout=0 the one attempt gives up after this long. */
#define NBD_OPEN_ATTEMPT_US (30 * G_USEC_PER_SEC)

typedef enum NbdServerType {
    NBD_SERVER_UNIX,
    NBD_SERVER_INET,
} NbdServerType;

static const char *const nbd_server_types[] = {
    [NBD_SERVER_UNIX] = "unix", [NBD_SERVER_INET] = "inet", NULL,
};

static bool nbd_option_misplaced(BlockNode *node, const OptionSet *opts, const char *name,
                                 const char *type, GError **errp)
{
    if (!option_set_is_set(opts, name))
        return false;
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Node '%s': option '%s' does not apply to a server of type '%s'",
                node->name, name, type);
    return true;
}

static bool nbd_option_needed(BlockNode *node, const OptionSet *opts, const char *name,
                              const char *type, GError **errp)
{
    const char *v = option_set_get_string(opts, name);

    if (v && *v)
        return true;
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                "Node '%s': a server of type '%s' needs option '%s'", node->name, type, name);
    return false;
}

static bool nbd_parse_address(BlockNode *node, const OptionSet *opts, NbdAddress *a,
                              GError **errp)
{
    const char *type = option_set_get_string(opts, "server.type");

    a->is_unix = option_set_get_enum(opts, "server.type") == NBD_SERVER_UNIX;
    if (a->is_unix) {
        if (!nbd_option_needed(node, opts, "server.path", type, errp) ||
            nbd_option_misplaced(node, opts, "server.host", type, errp) ||
            nbd_option_misplaced(node, opts, "server.port", type, errp))
            return false;
        a->path = g_strdup(option_set_get_string(opts, "server.path"));
        return true;
    }
    if (!nbd_option_needed(node, opts, "server.host", type, errp) ||
        nbd_option_misplaced(node, opts, "server.path", type, errp))
        return false;
    a->host = g_strdup(option_set_get_string(opts, "server.host"));
    a->port = g_strdup_printf("%" G_GUINT64_FORMAT, option_set_is_set(opts, "server.port")
                              ? option_set_get_uint(opts, "server.port")
                              : EXPORT_NBD_DEFAULT_PORT);
    return true;
}

/* The node's Filename, as an NBD URI (QEMU's spelling). */
static char *nbd_uri(const NbdState *s)
{
    g_autofree char *name = g_uri_escape_string(s->export_name, "/", FALSE);

    if (s->addr.is_unix) {
        g_autofree char *sock = g_uri_escape_string(s->addr.path, "/", FALSE);
        return g_strdup_printf("nbd+unix:///%s?socket=%s", name, sock);
    }
    if (strchr(s->addr.host, ':'))
        return g_strdup_printf("nbd://[%s]:%s/%s", s->addr.host, s->addr.port, name);
    return g_strdup_printf("nbd://%s:%s/%s", s->addr.host, s->addr.port, name);
}

/* The first connection: one attempt, or attempts until open-timeout. */
static int coroutine_fn nbd_co_first_connect(NbdState *s, struct nbd_handle **ret_h,
                                             GError **errp)
{
    uint64_t start = nbd_now_us();
    uint64_t deadline = start + (s->open_timeout_us ? s->open_timeout_us : NBD_OPEN_ATTEMPT_US);

    for (;;) {
        g_autoptr(GError) err = NULL;
        int r = nbd_co_connect(s, deadline, ret_h, &s->caps, &err);

        if (r == 0)
            return 0;
        if (!s->open_timeout_us || nbd_now_us() + NBD_OPEN_PAUSE_US >= deadline ||
            r == -ECANCELED) {
            g_propagate_prefixed_error(errp, g_steal_pointer(&err), "Node '%s': ",
                                       s->node->name);
            return r;
        }
        nbd_co_wait_fd(s, -1, 0, nbd_now_us() + NBD_OPEN_PAUSE_US);
    }
}

static int nbd_check_writable(BlockNode *node, NbdState *s, const OptionSet *opts,
                              GError **errp)
{
    if (!s->caps.read_only || option_set_get_bool(opts, "read-only"))
        return 0;
    if (option_set_get_bool(opts, "auto-read-only")) {
        node->writable = false;
        return 0;
    }
    g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                "Node '%s': NBD export '%s' at %s is read-only (set read-only=on or "
                "auto-read-only=on)", node->name, s->export_name, node->filename);
    return -EROFS;
}

static int coroutine_fn nbd_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    NbdState *s = node->opaque;
    const char *export_name = option_set_get_string(opts, "export");
    struct nbd_handle *h = NULL;
    int r;

    s->node = node;
    g_queue_init(&s->in_flight);
    co_queue_init(&s->link_waiters);
    co_queue_init(&s->reconnect_done);
    s->state = NBD_LINK_DOWN;
    if (!nbd_parse_address(node, opts, &s->addr, errp))
        return -EINVAL;
    s->export_name = g_strdup(export_name ? export_name : "");
    s->reconnect_delay_us = option_set_get_uint(opts, "reconnect-delay") * G_USEC_PER_SEC;
    s->open_timeout_us = option_set_get_uint(opts, "open-timeout") * G_USEC_PER_SEC;
    g_free(node->filename);
    node->filename = nbd_uri(s);

    r = nbd_co_first_connect(s, &h, errp);
    if (r < 0)
        return r;
    nbd_link_start(s, h);
    node->size = s->caps.size;
    node->request_alignment = s->caps.min_block;
    node->max_transfer = s->caps.max_request;
    return nbd_check_writable(node, s, opts, errp);
}

static void coroutine_fn nbd_close_node(BlockNode *node)
{
    NbdState *s = node->opaque;

    nbd_link_co_close(s);
    g_clear_pointer(&s->addr.path, g_free);
    g_clear_pointer(&s->addr.host, g_free);
    g_clear_pointer(&s->addr.port, g_free);
    g_clear_pointer(&s->export_name, g_free);
}

static const OptionSpec nbd_options[] = {
    {
        .name = "server.type", .type = OPTION_ENUM, .required = true,
        .enum_values = nbd_server_types,
        .description = "How to reach the server: unix (a socket path) or inet (host and port)",
    },
    { .name = "server.path", .type = OPTION_STRING, .description = "unix: the socket's path" },
    { .name = "server.host", .type = OPTION_STRING, .description = "inet: host name or address" },
    {
        .name = "server.port", .type = OPTION_UINT, .max_value = 65535,
        .description = "inet: TCP port (default 10809)",
    },
    {
        .name = "export", .type = OPTION_STRING,
        .description = "Export name to ask the server for (default: the server's default export)",
    },
    {
        .name = "reconnect-delay", .type = OPTION_UINT, .default_value = "0",
        .max_value = NBD_MAX_DELAY_S,
        .description = "Seconds requests wait for a reconnect after the connection drops "
                       "(0: they fail at once); reconnecting goes on in the background",
    },
    {
        .name = "open-timeout", .type = OPTION_UINT, .default_value = "0",
        .max_value = NBD_MAX_DELAY_S,
        .description = "Seconds to keep trying the first connection (0: one attempt)",
    },
    OPTION_TABLE_END,
};

static const char *const nbd_child_roles[] = { NULL };

const BlockDriver block_driver_nbd = {
    .name = "nbd",
    .kind = BLOCK_DRIVER_PROTOCOL,
    .state_size = sizeof(NbdState),
    .options = nbd_options,
    .child_roles = nbd_child_roles,
    .required_child_roles = nbd_child_roles,
    .co_open = nbd_open,
    .close = nbd_close_node,
    .co_preadv = nbd_co_preadv,
    .co_pwritev = nbd_co_pwritev,
    .co_pwrite_zeroes = nbd_co_pwrite_zeroes,
    .co_pdiscard = nbd_co_pdiscard,
    .co_flush = nbd_co_flush,
    .co_block_status = nbd_co_block_status,
};
