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
#include "drivers/drivers.h"
#include "drivers/rbd/rbd-int.h"
#include "graph/error.h"
#include "policy/allow-path.h"

#define RBD_MAX_TIMEOUT_S 3600
#define RBD_DEFAULT_MON_PORT 6789
/* rbd_close waits for the cluster to take cached writes: give up after this. */
#define RBD_CLOSE_TIMEOUT_S 30

static const char *const rbd_locking_values[] = {
    [RBD_LOCKING_AUTO] = "auto",
    [RBD_LOCKING_ON] = "on",
    [RBD_LOCKING_OFF] = "off",
    NULL,
};

static char *rbd_spec_string(const char *pool, const char *ns, const char *image,
                             const char *snapshot)
{
    return g_strdup_printf("%s/%s%s%s%s%s", pool, ns && *ns ? ns : "", ns && *ns ? "/" : "",
                           image, snapshot ? "@" : "", snapshot ? snapshot : "");
}

/* The monitor address: "v1:" is not needed, librados picks the protocol. */
static char *rbd_mon_host(const OptionSet *opts)
{
    const char *host = option_set_get_string(opts, "server.host");
    uint64_t port = option_set_get_uint(opts, "server.port");

    if (!host)
        return NULL;
    return g_strdup_printf(strchr(host, ':') ? "[%s]:%" G_GUINT64_FORMAT
                                             : "%s:%" G_GUINT64_FORMAT, host, port);
}

static RbdOpenJob *rbd_open_job_from(const OptionSet *opts)
{
    RbdOpenJob *job = rbd_open_job_new();

    job->pool = g_strdup(option_set_get_string(opts, "pool"));
    job->namespace = g_strdup(option_set_get_string(opts, "namespace"));
    job->image = g_strdup(option_set_get_string(opts, "image"));
    job->snapshot = g_strdup(option_set_get_string(opts, "snapshot"));
    job->conf = g_strdup(option_set_get_string(opts, "conf"));
    job->user = g_strdup(option_set_get_string(opts, "user"));
    job->key_file = g_strdup(option_set_get_string(opts, "key-file"));
    job->keyring = g_strdup(option_set_get_string(opts, "keyring"));
    job->mon_host = rbd_mon_host(opts);
    job->cache = !option_set_get_bool(opts, "cache.direct");
    job->open_timeout_s = (unsigned)option_set_get_uint(opts, "open-timeout");
    job->io_timeout_s = (unsigned)option_set_get_uint(opts, "io-timeout");
    return job;
}

/* Why the open failed, naming the node, the image and what was tried. */
static void rbd_set_open_error(BlockNode *node, RbdState *s, const RbdOpenJob *job,
                               unsigned timeout_s, int r, GError **errp)
{
    if (!job && r == -ETIMEDOUT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Node '%s': the Ceph cluster did not "
                    "answer within %u s (open-timeout) while opening rbd image '%s'",
                    node->name, timeout_s, s->spec);
    } else if (!job) {
        bg_set_error_errno(errp, r, "Node '%s': could not open rbd image '%s'", node->name,
                           s->spec);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "open the pool")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "Node '%s': Ceph pool '%s' does not "
                    "exist (rbd image '%s')", node->name, job->pool, s->spec);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "find the namespace")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "Node '%s': namespace '%s' does not "
                    "exist in Ceph pool '%s'", node->name, job->namespace, job->pool);
    } else if (r == -ENOENT && g_str_equal(job->failed_step, "open the image")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "Node '%s': rbd image '%s' does not "
                    "exist%s", node->name, s->spec, job->snapshot ? " (or has no such snapshot)"
                                                                 : "");
    } else if (job->conf_error && r == -EACCES) {
        allow_path_set_error(errp, job->conf_error, r);
        g_prefix_error(errp, "Node '%s': ", node->name);
    } else if (job->conf_error) {
        bg_set_error_errno(errp, r, "Node '%s': could not %s '%s'", node->name,
                           job->failed_step, job->conf_error);
    } else if (r == -ETIMEDOUT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Node '%s': could not %s of rbd image "
                    "'%s': the Ceph cluster did not answer in time", node->name,
                    job->failed_step, s->spec);
    } else {
        bg_set_error_errno(errp, r, "Node '%s': could not %s of rbd image '%s'", node->name,
                           job->failed_step, s->spec);
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
        rbd_set_open_error(node, s, job, timeout_s, r, errp);
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
    r = rbd_completions_new(&s->completions);
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
    { .name = "pool", .type = OPTION_STRING, .required = true,
      .description = "Ceph pool of the image" },
    { .name = "namespace", .type = OPTION_STRING,
      .description = "RBD namespace in the pool (default: none)" },
    { .name = "image", .type = OPTION_STRING, .required = true,
      .description = "Name of the rbd image" },
    { .name = "snapshot", .type = OPTION_STRING,
      .description = "Open this snapshot of the image (read-only)" },
    { .name = "conf", .type = OPTION_STRING,
      .description = "Ceph configuration file (default: librados' search, e.g. "
                     "/etc/ceph/ceph.conf)" },
    { .name = "user", .type = OPTION_STRING,
      .description = "Ceph user to connect as, without 'client.' (default: admin)" },
    { .name = "key-file", .type = OPTION_STRING,
      .description = "File holding the user's key (base64, as `ceph auth get-key` prints it)" },
    { .name = "keyring", .type = OPTION_STRING,
      .description = "Keyring file holding the user's key" },
    { .name = "server.host", .type = OPTION_STRING,
      .description = "A monitor's host name or address (default: from the configuration)" },
    { .name = "server.port", .type = OPTION_UINT, .default_value = "6789", .max_value = 65535,
      .description = "The monitor's port" },
    { .name = "open-timeout", .type = OPTION_UINT, .default_value = "30",
      .max_value = RBD_MAX_TIMEOUT_S,
      .description = "Seconds to connect and open the image before giving up (0: no limit)" },
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
};
