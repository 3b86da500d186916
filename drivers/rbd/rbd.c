/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `rbd` protocol driver: an image on a Ceph cluster, through librbd,
 * with QEMU's options (pool, namespace, image, snapshot, conf, user, the
 * monitor as server.host/server.port) and the key from a file or a keyring:
 *
 *   <blockdev driver="rbd" node-name="vm0" pool="rbd" image="vm0-disk"
 *             conf="/etc/ceph/ceph.conf" user="libvirt"
 *             keyring="/etc/ceph/ceph.client.libvirt.keyring"/>
 *
 * Everything that waits for the cluster runs in the worker pool, under a
 * deadline (open-timeout for connecting and opening, io-timeout for each
 * request to the OSDs), so a cluster that does not answer gives an error.
 * See rbd-int.h for the parts and docs/rbd.md for the user's view.
 */

#include <errno.h>
#include <string.h>

#include "aio/worker-pool.h"
#include "drivers/create.h"
#include "drivers/drivers.h"
#include "drivers/rbd/rbd-int.h"
#include "graph/error.h"
#include "graph/iothread.h"
#include "policy/allow-path.h"

#define RBD_DEFAULT_MON_PORT 6789
/* rbd_close waits for the cluster to take cached writes: give up after this. */
#define RBD_CLOSE_TIMEOUT_S 30

static const char *const rbd_locking_values[] = {
    [RBD_LOCKING_AUTO] = "auto",
    [RBD_LOCKING_ON] = "on",
    [RBD_LOCKING_OFF] = "off",
    NULL,
};

char *rbd_spec_string(const char *pool, const char *ns, const char *image,
                      const char *snapshot)
{
    return g_strdup_printf("%s/%s%s%s%s%s", pool, ns && *ns ? ns : "", ns && *ns ? "/" : "",
                           image, snapshot ? "@" : "", snapshot ? snapshot : "");
}

/*
 * One monitor of server.host: "host", "host:port", "[v6]", "[v6]:port" or
 * a bare IPv6 address; the port is server.port's unless the entry has one.
 */
static void rbd_mon_append(GString *out, const char *entry, uint64_t port)
{
    const char *colon = strchr(entry, ':');
    bool bracketed = entry[0] == '[';
    bool has_port = bracketed ? strstr(entry, "]:") != NULL
                              : colon && !strchr(colon + 1, ':');

    if (out->len)
        g_string_append_c(out, ',');
    if (has_port)
        g_string_append(out, entry);
    else if (colon && !bracketed)
        g_string_append_printf(out, "[%s]:%" G_GUINT64_FORMAT, entry, port);
    else
        g_string_append_printf(out, "%s:%" G_GUINT64_FORMAT, entry, port);
}

/* librados' mon_host ("v1:" is not needed: librados picks the protocol). */
static char *rbd_mon_host(const OptionSet *opts)
{
    const char *hosts = option_set_get_string(opts, "server.host");
    uint64_t port = option_set_get_uint(opts, "server.port");
    g_auto(GStrv) entries = NULL;
    g_autoptr(GString) out = g_string_new(NULL);

    if (!hosts)
        return NULL;
    entries = g_strsplit(hosts, ",", -1);
    for (char **e = entries; *e; e++)
        if (*g_strstrip(*e))
            rbd_mon_append(out, *e, port);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

RbdOpenJob *rbd_location_job(const OptionSet *opts)
{
    RbdOpenJob *job = rbd_open_job_new();

    job->pool = g_strdup(option_set_get_string(opts, "pool"));
    job->namespace = g_strdup(option_set_get_string(opts, "namespace"));
    job->image = g_strdup(option_set_get_string(opts, "image"));
    job->conf = g_strdup(option_set_get_string(opts, "conf"));
    job->user = g_strdup(option_set_get_string(opts, "user"));
    job->key_file = g_strdup(option_set_get_string(opts, "key-file"));
    job->keyring = g_strdup(option_set_get_string(opts, "keyring"));
    job->mon_host = rbd_mon_host(opts);
    job->open_timeout_s = (unsigned)option_set_get_uint(opts, "open-timeout");
    return job;
}

static RbdOpenJob *rbd_open_job_from(const OptionSet *opts)
{
    RbdOpenJob *job = rbd_location_job(opts);

    job->snapshot = g_strdup(option_set_get_string(opts, "snapshot"));
    job->cache = !option_set_get_bool(opts, "cache.direct");
    job->io_timeout_s = (unsigned)option_set_get_uint(opts, "io-timeout");
    return job;
}

/*
 * Why connecting or opening failed: who is "Node 'vm0'" or "Cannot create
 * rbd image 'rbd/vm0'", spec the image's pool[/namespace]/image[@snapshot].
 */
void rbd_set_connect_error(const char *who, const char *spec, const RbdOpenJob *job,
                           unsigned timeout_s, int r, GError **errp)
{
    if (!job && r == -ETIMEDOUT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "%s: the Ceph cluster did not answer "
                    "within %u s (open-timeout) for rbd image '%s'", who, timeout_s, spec);
    } else if (!job) {
        bg_set_error_errno(errp, r, "%s: could not reach rbd image '%s'", who, spec);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "open the pool")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "%s: Ceph pool '%s' does not "
                    "exist (rbd image '%s')", who, job->pool, spec);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "find the namespace")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "%s: namespace '%s' does not "
                    "exist in Ceph pool '%s'", who, job->namespace, job->pool);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "open the image")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "%s: rbd image '%s' does not "
                    "exist%s", who, spec, job->snapshot ? " (or has no such snapshot)" : "");
    } else if (job->conf_error && r == -EACCES) {
        allow_path_set_error(errp, job->conf_error, r);
        g_prefix_error(errp, "%s: ", who);
    } else if (job->conf_error) {
        bg_set_error_errno(errp, r, "%s: could not %s '%s'", who, job->failed_step,
                           job->conf_error);
    } else if (r == -ETIMEDOUT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "%s: could not %s of rbd image "
                    "'%s': the Ceph cluster did not answer in time", who, job->failed_step,
                    spec);
    } else {
        bg_set_error_errno(errp, r, "%s: could not %s of rbd image '%s'", who,
                           job->failed_step, spec);
    }
}

static void rbd_open_job_release(void *job)
{
    rbd_open_job_free(job);
}

/* Connects and opens in the worker pool, abandoned after open-timeout. */
static int coroutine_fn rbd_co_connect(BlockNode *node, RbdState *s, const OptionSet *opts,
                                       GError **errp)
{
    g_autoptr(RbdOpenJob) job = rbd_open_job_from(opts);
    unsigned timeout_s = job->open_timeout_s;
    int r;

    if (timeout_s)
        r = (int)worker_pool_co_run_abandonable(rbd_job_open, (void **)&job,
                                                rbd_open_job_release,
                                                (uint64_t)timeout_s * G_USEC_PER_SEC);
    else
        r = (int)worker_pool_co_run(rbd_job_open, job);
    if (r < 0) {
        g_autofree char *who = g_strdup_printf("Node '%s'", node->name);

        rbd_set_connect_error(who, s->spec, job, timeout_s, r, errp);
        return r;
    }
    s->h = job->h;
    job->h = (RbdHandles){ 0 };
    node->size = job->info.size;
    s->object_size = job->info.obj_size;
    s->features = job->features;
    return 0;
}

static int rbd_check_writable(BlockNode *node, RbdState *s, const OptionSet *opts,
                              GError **errp)
{
    bool read_only = option_set_get_bool(opts, "read-only");
    bool auto_read_only = option_set_get_bool(opts, "auto-read-only");

    node->writable = !read_only && !auto_read_only && !s->snapshot;
    if (s->snapshot && !read_only && !auto_read_only) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY, "Node '%s': rbd snapshot '%s' is "
                    "read-only (set read-only=on or auto-read-only=on)", node->name, s->spec);
        return -EROFS;
    }
    return 0;
}

static int coroutine_fn rbd_node_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    RbdState *s = node->opaque;
    int r;

    s->node = node;
    s->snapshot = option_set_is_set(opts, "snapshot");
    s->locking = option_set_get_enum(opts, "locking");
    s->spec = rbd_spec_string(option_set_get_string(opts, "pool"),
                              option_set_get_string(opts, "namespace"),
                              option_set_get_string(opts, "image"),
                              option_set_get_string(opts, "snapshot"));
    g_free(node->filename);
    node->filename = g_strdup_printf("rbd:%s", s->spec);
    r = rbd_check_writable(node, s, opts, errp);
    if (r < 0)
        return r;
    r = rbd_completions_new(node_loop(node), &s->completions);
    if (r < 0) {
        bg_set_error_errno(errp, r, "Node '%s': could not set up completions", node->name);
        return r;
    }
    return rbd_co_connect(node, s, opts, errp);
}

static void coroutine_fn rbd_node_close(BlockNode *node)
{
    RbdState *s = node->opaque;

    if (s->h.cluster) {
        RbdHandles *h = g_memdup2(&s->h, sizeof(s->h));

        s->h = (RbdHandles){ 0 };
        /* h is NULL when abandoned: the pool frees it once rbd_close returns. */
        worker_pool_co_run_abandonable(rbd_job_close, (void **)&h, g_free,
                                       RBD_CLOSE_TIMEOUT_S * G_USEC_PER_SEC);
        g_free(h);
    }
    g_clear_pointer(&s->completions, rbd_completions_free);
    g_clear_pointer(&s->spec, g_free);
}

static int coroutine_fn rbd_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    RbdState *s = node->opaque;
    RbdImageJob job = { .image = s->h.image, .size = size };
    int r = (int)worker_pool_co_run(rbd_job_resize, &job);

    if (r < 0) {
        bg_set_error_errno(errp, r, "Could not resize rbd image '%s' of node '%s' to %"
                           G_GUINT64_FORMAT " bytes", s->spec, node->name, size);
        return r;
    }
    node->size = size;
    return 0;
}

/* Opened read-write always (but a snapshot): the switch is the node's alone. */
static int rbd_set_writable(BlockNode *node, bool writable, GError **errp)
{
    RbdState *s = node->opaque;

    if (writable && s->snapshot) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Node '%s': rbd snapshot '%s' is read-only", node->name, s->spec);
        return -EROFS;
    }
    node->writable = writable;
    return 0;
}

/* Another host may have written and resized the image meanwhile. */
static int coroutine_fn rbd_co_activate(BlockNode *node, GError **errp)
{
    RbdState *s = node->opaque;
    RbdImageJob job = { .image = s->h.image };
    int r = (int)worker_pool_co_run(rbd_job_refresh, &job);

    if (r < 0) {
        bg_set_error_errno(errp, r, "Could not read rbd image '%s' again (node '%s')",
                           s->spec, node->name);
        return r;
    }
    node->size = job.size;
    s->warned = false;
    return 0;
}

static const OptionSpec rbd_options[] = {
    RBD_LOCATION_OPTIONS,
    { .name = "snapshot", .type = OPTION_STRING,
      .description = "Open this snapshot of the image (read-only)" },
    { .name = "io-timeout", .type = OPTION_UINT, .default_value = "60",
      .max_value = RBD_MAX_TIMEOUT_S,
      .description = "Seconds a request to the cluster may take before it fails with EIO "
                     "(0: wait as long as it takes)" },
    { .name = "locking", .type = OPTION_ENUM, .default_value = "auto",
      .enum_values = rbd_locking_values,
      .description = "RBD exclusive lock while the node is written (auto: if the image has "
                     "the exclusive-lock feature; on: refuse to write an image without it)" },
    OPTION_TABLE_END,
};

static const char *const rbd_child_roles[] = { NULL };

const BlockDriver block_driver_rbd = {
    .name = "rbd",
    .kind = BLOCK_DRIVER_PROTOCOL,
    .state_size = sizeof(RbdState),
    /* librbd takes requests from any thread; completions go to the node's loop. */
    .runs_in_iothread = true,
    .stays_in_loop = true,
    .options = rbd_options,
    .child_roles = rbd_child_roles,
    .required_child_roles = rbd_child_roles,
    .co_open = rbd_node_open,
    .close = rbd_node_close,
    .co_preadv = rbd_co_preadv,
    .co_pwritev = rbd_co_pwritev,
    .co_pwrite_zeroes = rbd_co_pwrite_zeroes,
    .co_pdiscard = rbd_co_pdiscard,
    .co_flush = rbd_co_flush,
    .co_truncate = rbd_co_truncate,
    .co_block_status = rbd_co_block_status,
    .dynamic_read_only = true,
    .set_writable = rbd_set_writable,
    .apply_perm = rbd_apply_perm,
    .co_activate = rbd_co_activate,
    .create_options = rbd_create_options,
    .create_locates_image = true,
    .create_check = rbd_create_check,
    .co_create = rbd_co_create,
};
