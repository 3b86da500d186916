/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The `rbd` protocol driver (Ceph RADOS block devices through librbd),
 * shared between its parts:
 *   rbd.c        options, open/close, resize, hand-over, the driver table
 *   rbd-jobs.c   the blocking librados/librbd calls, run in the worker pool
 *   rbd-io.c     requests on librbd's asynchronous API, completions to the loop
 *   rbd-lock.c   RBD's exclusive lock for a writable node
 *   rbd-create.c creating an image (Manager.CreateImage, driver="rbd")
 */

#include <stdbool.h>
#include <stdint.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <systemd/sd-event.h>

#include "aio/coroutine.h"
#include "graph/node.h"
#include "graph/option.h"

#define RBD_MAX_TIMEOUT_S 3600

/*
 * Where an image is and how to reach its cluster: the options a node
 * (rbd.c) and a creation (rbd-create.c) share, written once here.
 */
#define RBD_LOCATION_OPTIONS \
    { .name = "pool", .type = OPTION_STRING, .required = true, \
      .description = "Ceph pool of the image" }, \
    { .name = "namespace", .type = OPTION_STRING, \
      .description = "RBD namespace in the pool (default: none)" }, \
    { .name = "image", .type = OPTION_STRING, .required = true, \
      .description = "Name of the rbd image" }, \
    { .name = "conf", .type = OPTION_STRING, \
      .description = "Ceph configuration file (default: librados' search, e.g. " \
                     "/etc/ceph/ceph.conf)" }, \
    { .name = "user", .type = OPTION_STRING, \
      .description = "Ceph user to connect as, without 'client.' (default: admin)" }, \
    { .name = "key-file", .type = OPTION_STRING, \
      .description = "File holding the user's key (base64, as `ceph auth get-key` prints it)" }, \
    { .name = "keyring", .type = OPTION_STRING, \
      .description = "Keyring file holding the user's key" }, \
    { .name = "server.host", .type = OPTION_STRING, \
      .description = "Monitors' host names or addresses, comma-separated (default: from " \
                     "the configuration)" }, \
    { .name = "server.port", .type = OPTION_UINT, .default_value = "6789", \
      .max_value = 65535, .description = "The monitors' port (of hosts without one)" }, \
    { .name = "open-timeout", .type = OPTION_UINT, .default_value = "30", \
      .max_value = RBD_MAX_TIMEOUT_S, \
      .description = "Seconds to connect and open the image before giving up (0: no limit)" }

/* The cluster connection and the open image (owned by a node or by a job). */
typedef struct RbdHandles {
    rados_t cluster;
    rados_ioctx_t ioctx;
    rbd_image_t image;
} RbdHandles;

typedef enum RbdLocking {
    RBD_LOCKING_AUTO,       /* exclusive lock if the image has the feature */
    RBD_LOCKING_ON,         /* refuse to write an image without it */
    RBD_LOCKING_OFF,
} RbdLocking;

/* Where librbd's callbacks (its own threads) leave completed requests. */
typedef struct RbdCompletions {
    int efd;
    sd_event_source *source;
    GMutex lock;
    GQueue done;            /* RbdReq, linked through req->link */
} RbdCompletions;

typedef struct RbdState {
    BlockNode *node;
    RbdHandles h;
    char *spec;             /* pool[/namespace]/image[@snapshot], for messages */
    bool snapshot;
    uint64_t object_size;
    uint64_t features;
    RbdLocking locking;
    bool lock_held;
    bool lock_taken_once;   /* librbd keeps other clients from taking it from now on */
    bool warned;            /* a failed request was logged */
    RbdCompletions *completions;
} RbdState;

/* ---- rbd-jobs.c (worker threads) ---- */

/* What the open job needs, and what it found. */
typedef struct RbdOpenJob {
    /* in */
    char *pool, *namespace, *image, *snapshot;
    char *conf, *user, *key_file, *keyring;
    char *mon_host;
    bool cache;
    unsigned open_timeout_s, io_timeout_s;
    /* out */
    RbdHandles h;
    rbd_image_info_t info;
    uint64_t features;
    const char *failed_step;    /* "connect to the cluster", "open pool", ... */
    char *conf_error;           /* an option librados refused, or a path refused */
} RbdOpenJob;

RbdOpenJob *rbd_open_job_new(void);
/* A job with the RBD_LOCATION_OPTIONS of opts. */
RbdOpenJob *rbd_location_job(const OptionSet *opts);
/* Closes the handles it holds (blocks: in a worker). */
void rbd_handles_close(RbdHandles *h);
/* Frees the job and closes whatever handles it still holds. */
void rbd_open_job_free(RbdOpenJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RbdOpenJob, rbd_open_job_free)
/* Connects and opens the pool (and namespace): the first steps of an open. */
int rbd_connect_pool(RbdOpenJob *job);
long rbd_job_open(void *opaque);

/* Closes the handles: rbd_close, the I/O context, the connection. */
long rbd_job_close(void *opaque);       /* RbdHandles* */

typedef struct RbdImageJob {
    rbd_image_t image;
    uint64_t size;              /* resize: in; get_size: out */
    uint64_t offset, bytes;     /* block status: in */
    uint64_t object_size;
    bool allocated;             /* block status: out */
    uint64_t pnum;
    char *owner;                /* lock: who holds it, when refused */
} RbdImageJob;

long rbd_job_resize(void *opaque);
long rbd_job_refresh(void *opaque);     /* invalidates the cache, reads the size */
long rbd_job_block_status(void *opaque);
long rbd_job_lock(void *opaque);
long rbd_job_unlock(void *opaque);

/* ---- rbd.c ---- */

/* "pool/[namespace/]image[@snapshot]" */
char *rbd_spec_string(const char *pool, const char *ns, const char *image,
                      const char *snapshot);
void rbd_set_connect_error(const char *who, const char *spec, const RbdOpenJob *job,
                           unsigned timeout_s, int r, GError **errp);

/* ---- rbd-create.c ---- */

extern const OptionSpec rbd_create_options[];
bool rbd_create_check(ImageCreate *c, GError **errp);
int coroutine_fn rbd_co_create(ImageCreate *c, GError **errp);

/* ---- rbd-io.c ---- */

/* Completions resumed on loop (the node's: main or an iothread). */
int rbd_completions_new(AioLoop *loop, RbdCompletions **ret);
void rbd_completions_free(RbdCompletions *c);

int coroutine_fn rbd_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                               IOVector *qiov, BlockReqFlags flags);
int coroutine_fn rbd_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags);
int coroutine_fn rbd_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                      BlockReqFlags flags);
int coroutine_fn rbd_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes);
int coroutine_fn rbd_co_flush(BlockNode *node);
int coroutine_fn rbd_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                     uint64_t *pnum, uint64_t *map, BlockNode **file);

/* ---- rbd-lock.c ---- */

int coroutine_fn rbd_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared,
                                GError **errp);
