/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Creating an rbd image (Manager.CreateImage with driver="rbd", QEMU's
 * blockdev-create of driver rbd): the image goes into the pool named by
 * the location options, with the size asked for and librbd's default
 * features:
 *
 *   <create driver="rbd" pool="rbd" image="vm0-disk" size="20G"
 *           conf="/etc/ceph/ceph.conf"/>
 *
 * An existing image is refused unless overwrite=on, which removes it first
 * (librbd refuses that while a client has it open or it has snapshots).
 * Everything runs in the worker pool under open-timeout.  A qcow2 image on
 * rbd is created onto an rbd node (<file ref="node"/>) as onto a file.
 */

#include <errno.h>

#include "aio/worker-pool.h"
#include "drivers/create.h"
#include "drivers/rbd/rbd-int.h"
#include "graph/error.h"

/* librbd's object sizes: 4 KiB to 32 MiB (orders 12 to 25). */
#define RBD_MIN_ORDER 12
#define RBD_MAX_ORDER 25

const OptionSpec rbd_create_options[] = {
    RBD_LOCATION_OPTIONS,
    { .name = "cluster-size", .type = OPTION_SIZE,
      .description = "Object size, a power of two from 4K to 32M (default: librbd's, 4M)" },
    OPTION_TABLE_END,
};

typedef struct RbdCreateJob {
    RbdOpenJob *conn;           /* location; closed in the worker */
    uint64_t size;
    uint64_t order;             /* log2 of the object size; 0: librbd's default */
    bool overwrite;
} RbdCreateJob;

static int rbd_create_image(RbdCreateJob *job)
{
    RbdOpenJob *conn = job->conn;
    rbd_image_options_t o;
    int r = 0;

    rbd_image_options_create(&o);
    if (job->order)
        r = rbd_image_options_set_uint64(o, RBD_IMAGE_OPTION_ORDER, job->order);
    conn->failed_step = "create the image";
    if (r == 0)
        r = rbd_create4(conn->h.ioctx, conn->image, job->size, o);
    if (r == -EEXIST && job->overwrite) {
        conn->failed_step = "remove the existing image";
        r = rbd_remove(conn->h.ioctx, conn->image);
        if (r == 0) {
            conn->failed_step = "create the image";
            r = rbd_create4(conn->h.ioctx, conn->image, job->size, o);
        }
    }
    rbd_image_options_destroy(o);
    return r;
}

static long rbd_job_create(void *opaque)
{
    RbdCreateJob *job = opaque;
    int r = rbd_connect_pool(job->conn);

    if (r == 0)
        r = rbd_create_image(job);
    rbd_handles_close(&job->conn->h);
    return r;
}

static void rbd_create_job_free(void *opaque)
{
    RbdCreateJob *job = opaque;

    rbd_open_job_free(job->conn);
    g_free(job);
}

static void rbd_create_error(const char *spec, const RbdCreateJob *job, unsigned timeout_s, int r, GError **errp)
{
    const char *step = job ? job->conn->failed_step : NULL;
    g_autofree char *who = g_strdup_printf("Cannot create rbd image '%s'", spec);

    if (r == -EEXIST && step && g_str_equal(step, "create the image"))
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "%s: the image exists "
                    "(overwrite=\"on\" replaces it)", who);
    else if (r == -EBUSY && step && g_str_equal(step, "remove the existing image"))
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "%s: the existing image is open in "
                    "another client, it cannot be replaced", who);
    else if (r == -ENOTEMPTY && step && g_str_equal(step, "remove the existing image"))
        g_set_error(errp, BG_ERROR, BG_ERROR_BUSY, "%s: the existing image has snapshots, "
                    "it cannot be replaced", who);
    else
        rbd_set_connect_error(who, spec, job ? job->conn : NULL, timeout_s, r, errp);
}

bool rbd_create_check(ImageCreate *c, GError **errp)
{
    uint64_t object_size = option_set_is_set(c->opts, "cluster-size")
                           ? option_set_get_uint(c->opts, "cluster-size") : 0;

    if (object_size && (object_size & (object_size - 1) ||
                        object_size < (1u << RBD_MIN_ORDER) ||
                        object_size > (1u << RBD_MAX_ORDER))) {
        create_invalid(c, errp, "cluster-size must be a power of two from 4K to 32M, not %"
                       G_GUINT64_FORMAT, object_size);
        return false;
    }
    return true;
}

int coroutine_fn rbd_co_create(ImageCreate *c, GError **errp)
{
    RbdCreateJob *job = g_new0(RbdCreateJob, 1);
    g_autofree char *spec = NULL;
    unsigned timeout_s;
    int r;

    job->conn = rbd_location_job(c->opts);
    job->size = c->size;
    job->overwrite = option_set_get_bool(c->opts, "overwrite");
    if (option_set_is_set(c->opts, "cluster-size"))
        job->order = (uint64_t)g_bit_nth_lsf(option_set_get_uint(c->opts, "cluster-size"), -1);
    spec = rbd_spec_string(job->conn->pool, job->conn->namespace, job->conn->image, NULL);
    timeout_s = job->conn->open_timeout_s;
    if (timeout_s)
        r = (int)worker_pool_co_run_abandonable(rbd_job_create, (void **)&job,
                                                rbd_create_job_free,
                                                (uint64_t)timeout_s * G_USEC_PER_SEC);
    else
        r = (int)worker_pool_co_run(rbd_job_create, job);
    if (r < 0)
        rbd_create_error(spec, job, timeout_s, r, errp);
    if (job)
        rbd_create_job_free(job);
    return r;
}
