/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The blocking halves of the rbd driver: connecting, opening, closing,
 * resizing, locking and diff queries talk to the cluster and wait for it,
 * so they run in worker threads (aio/worker-pool.h), never on the loop.
 * Each returns 0 or a negative errno.
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "drivers/rbd/rbd-int.h"
#include "policy/allow-path.h"

RbdOpenJob *rbd_open_job_new(void)
{
    return g_new0(RbdOpenJob, 1);
}

void rbd_handles_close(RbdHandles *h)
{
    if (h->image)
        rbd_close(h->image);
    if (h->ioctx)
        rados_ioctx_destroy(h->ioctx);
    if (h->cluster)
        rados_shutdown(h->cluster);
    *h = (RbdHandles){ 0 };
}

void rbd_open_job_free(RbdOpenJob *job)
{
    if (!job)
        return;
    rbd_handles_close(&job->h);
    g_free(job->pool);
    g_free(job->namespace);
    g_free(job->image);
    g_free(job->snapshot);
    g_free(job->conf);
    g_free(job->user);
    g_free(job->key_file);
    g_free(job->keyring);
    g_free(job->mon_host);
    g_free(job->conf_error);
    g_free(job);
}

static int rbd_conf_set(RbdOpenJob *job, const char *name, const char *value)
{
    int r = rados_conf_set(job->h.cluster, name, value);

    if (r < 0) {
        job->failed_step = "set a Ceph option";
        job->conf_error = g_strdup_printf("%s=%s", name, value);
    }
    return r;
}

/* A file named by an option, where the daemon may read it (allow-path). */
static int rbd_resolve(RbdOpenJob *job, const char *step, const char *path, char **ret)
{
    int r = allow_path_resolve(path, false, ret);

    if (r < 0) {
        job->failed_step = step;
        job->conf_error = g_strdup(path);
        return r;
    }
    if (!*ret)
        *ret = g_strdup(path);
    return 0;
}

static int rbd_read_conf(RbdOpenJob *job)
{
    g_autofree char *path = NULL;
    int r;

    if (!job->conf) {
        rados_conf_read_file(job->h.cluster, NULL);     /* the default places, if any */
        return 0;
    }
    r = rbd_resolve(job, "read the configuration file", job->conf, &path);
    if (r == 0)
        r = rados_conf_read_file(job->h.cluster, path);
    if (r < 0 && !job->failed_step) {
        job->failed_step = "read the configuration file";
        job->conf_error = g_strdup(job->conf);
    }
    return r;
}

/* The key (cephx secret, base64) from key-file, or a keyring file. */
static int rbd_set_key(RbdOpenJob *job)
{
    g_autofree char *path = NULL;
    g_autofree char *key = NULL;
    int r;

    if (job->keyring) {
        r = rbd_resolve(job, "read the keyring", job->keyring, &path);
        if (r < 0 || (r = rbd_conf_set(job, "keyring", path)) < 0)
            return r;
    }
    if (!job->key_file)
        return 0;
    g_clear_pointer(&path, g_free);
    r = rbd_resolve(job, "read the key file", job->key_file, &path);
    if (r < 0)
        return r;
    if (!g_file_get_contents(path, &key, NULL, NULL)) {
        job->failed_step = "read the key file";
        job->conf_error = g_strdup(job->key_file);
        return access(path, R_OK) < 0 ? -errno : -EIO;
    }
    return rbd_conf_set(job, "key", g_strstrip(key));
}

/* Deadlines, so that a cluster that does not answer is an error, not a hang. */
static int rbd_set_timeouts(RbdOpenJob *job)
{
    char open_s[16], io_s[16];
    int r;

    g_snprintf(open_s, sizeof(open_s), "%u", job->open_timeout_s);
    g_snprintf(io_s, sizeof(io_s), "%u", job->io_timeout_s);
    if (job->open_timeout_s &&
        ((r = rbd_conf_set(job, "client_mount_timeout", open_s)) < 0 ||
         (r = rbd_conf_set(job, "rados_mon_op_timeout", open_s)) < 0))
        return r;
    if (job->io_timeout_s && (r = rbd_conf_set(job, "rados_osd_op_timeout", io_s)) < 0)
        return r;
    return 0;
}

static int rbd_configure(RbdOpenJob *job)
{
    int r;

    job->failed_step = NULL;
    r = rbd_read_conf(job);
    if (r == 0 && job->mon_host)
        r = rbd_conf_set(job, "mon_host", job->mon_host);
    if (r == 0)
        r = rbd_set_key(job);
    if (r == 0)
        r = rbd_set_timeouts(job);
    /* As QEMU: librbd's cache unless cache.direct=on. */
    if (r == 0)
        r = rbd_conf_set(job, "rbd_cache", job->cache ? "true" : "false");
    /*
     * Unlike QEMU, a write cache from the first write, not from the
     * client's first flush: the node's writes are durable once flushed (or
     * FUA), as a file node's in the page cache and as the NBD export
     * advertises.  librbd's default (write-around) then completes a write
     * once it is sent to the OSDs, up to rbd_cache_max_dirty bytes, instead
     * of when they committed it; reads wait for overlapping writes, and a
     * flush waits for all and reports their errors.
     */
    if (r == 0 && job->cache)
        r = rbd_conf_set(job, "rbd_cache_writethrough_until_flush", "false");
    return r;
}

static int rbd_open_pool(RbdOpenJob *job)
{
    bool exists = false;
    int r;

    job->failed_step = "open the pool";
    r = rados_ioctx_create(job->h.cluster, job->pool, &job->h.ioctx);
    if (r < 0)
        job->h.ioctx = NULL;        /* not set on failure */
    if (r < 0 || !job->namespace || !*job->namespace)
        return r;
    job->failed_step = "find the namespace";
    r = rbd_namespace_exists(job->h.ioctx, job->namespace, &exists);
    if (r == 0 && !exists)
        r = -ENOENT;
    if (r == 0)
        rados_ioctx_set_namespace(job->h.ioctx, job->namespace);
    return r;
}

int rbd_connect_pool(RbdOpenJob *job)
{
    int r;

    job->failed_step = "set up the cluster connection";
    r = rados_create(&job->h.cluster, job->user);
    if (r < 0) {
        job->h.cluster = NULL;
        return r;
    }
    r = rbd_configure(job);
    if (r < 0)
        return r;
    job->failed_step = "connect to the cluster";
    r = rados_connect(job->h.cluster);
    return r < 0 ? r : rbd_open_pool(job);
}

long rbd_job_open(void *opaque)
{
    RbdOpenJob *job = opaque;
    int r = rbd_connect_pool(job);

    if (r < 0)
        return r;
    job->failed_step = "open the image";
    /* Always read-write, as QEMU: the node's permissions decide who writes. */
    r = rbd_open(job->h.ioctx, job->image, &job->h.image, job->snapshot);
    if (r < 0) {
        job->h.image = NULL;
        return r;
    }
    job->failed_step = "read the image's size";
    r = rbd_stat(job->h.image, &job->info, sizeof(job->info));
    if (r == 0)
        r = rbd_get_features(job->h.image, &job->features);
    if (r == 0)
        job->failed_step = NULL;
    return r;
}

long rbd_job_close(void *opaque)
{
    RbdHandles *h = opaque;

    rbd_handles_close(h);
    return 0;
}

long rbd_job_resize(void *opaque)
{
    RbdImageJob *job = opaque;

    return rbd_resize(job->image, job->size);
}

long rbd_job_refresh(void *opaque)
{
    RbdImageJob *job = opaque;
    int r = rbd_invalidate_cache(job->image);

    return r < 0 ? r : rbd_get_size(job->image, &job->size);
}

/* ---- block status ---- */

#define RBD_DIFF_STOP (-9999)

/*
 * Called for each object that exists, in order.  Builds the first run of
 * the range: data up to the first hole, or a hole up to the first data.
 */
static int rbd_diff_cb(uint64_t offs, size_t len, int exists, void *opaque)
{
    RbdImageJob *job = opaque;
    uint64_t start = MAX(offs, job->offset);
    uint64_t end = offs + len;

    if (!exists || end <= job->offset)
        return 0;
    if (!job->allocated && start > job->offset) {
        job->pnum = start - job->offset;          /* a hole first */
        return RBD_DIFF_STOP;
    }
    if (job->allocated && start > job->offset + job->pnum)
        return RBD_DIFF_STOP;                       /* a hole after the data */
    job->allocated = true;
    job->pnum = end - job->offset;
    return 0;
}

/*
 * Whether the object map answers for this image: fast-diff, valid, and
 * (librbd before 1.17 reports wrong offsets for a start inside an object,
 * https://tracker.ceph.com/issues/53784) a layout where rounding the start
 * down to its object is exact: default striping, no parent.
 */
static bool rbd_diff_usable(rbd_image_t image)
{
    uint64_t features, flags;
    rbd_linked_image_spec_t parent;
    rbd_snap_spec_t parent_snap;
    int r;

    if (rbd_get_features(image, &features) < 0 || !(features & RBD_FEATURE_FAST_DIFF) ||
        (features & RBD_FEATURE_STRIPINGV2))
        return false;
    if (rbd_get_flags(image, &flags) < 0 || (flags & RBD_FLAG_FAST_DIFF_INVALID))
        return false;
    r = rbd_get_parent(image, &parent, &parent_snap);
    if (r == 0) {
        rbd_linked_image_spec_cleanup(&parent);
        rbd_snap_spec_cleanup(&parent_snap);
    }
    return r == -ENOENT;
}

long rbd_job_block_status(void *opaque)
{
    RbdImageJob *job = opaque;
    uint64_t start = job->offset - job->offset % job->object_size;
    int r;

    job->allocated = false;
    job->pnum = 0;
    if (!rbd_diff_usable(job->image)) {
        job->allocated = true;
        job->pnum = job->bytes;
        return 0;
    }
    r = rbd_diff_iterate2(job->image, NULL, start, job->offset + job->bytes - start,
                          true, true, rbd_diff_cb, job);
    if (r < 0 && r != RBD_DIFF_STOP) {
        job->allocated = true;      /* no answer: everything may be data */
        job->pnum = job->bytes;
        return 0;
    }
    if (job->pnum == 0 || job->pnum > job->bytes)
        job->pnum = job->bytes;
    return 0;
}

/* ---- the exclusive lock ---- */

static char *rbd_lock_owner(rbd_image_t image)
{
    char *owners[8];
    size_t n = G_N_ELEMENTS(owners);
    rbd_lock_mode_t mode;
    g_autoptr(GString) s = g_string_new(NULL);

    if (rbd_lock_get_owners(image, &mode, owners, &n) < 0 || n == 0)
        return g_strdup("another client");
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", owners[i]);
    rbd_lock_get_owners_cleanup(owners, n);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

long rbd_job_lock(void *opaque)
{
    RbdImageJob *job = opaque;
    int r = rbd_lock_acquire(job->image, RBD_LOCK_MODE_EXCLUSIVE);

    if (r == -EROFS || r == -EBUSY || r == -EAGAIN)
        job->owner = rbd_lock_owner(job->image);
    return r;
}

long rbd_job_unlock(void *opaque)
{
    RbdImageJob *job = opaque;
    int r = rbd_flush(job->image);

    return r < 0 ? r : rbd_lock_release(job->image);
}
