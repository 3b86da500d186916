/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Many hosts, one image: while some user writes to (or resizes) the node,
 * it holds RBD's exclusive lock (rbd_lock_acquire), so a second daemon
 * cannot write the same image; librbd then refuses to hand the lock over
 * to other clients on request.  The lock goes when the last writer goes
 * or the node is inactivated (Node.SetActive(false): the core flushes and
 * drops the permissions first), so the other host can take it.
 */

#include <errno.h>

#include "aio/worker-pool.h"
#include "drivers/rbd/rbd-int.h"
#include "graph/error.h"

#define RBD_LOCKING_PERMS (BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE)

static bool rbd_lockable(BlockNode *node, RbdState *s, GError **errp)
{
    if (s->features & RBD_FEATURE_EXCLUSIVE_LOCK)
        return true;
    if (s->locking == RBD_LOCKING_ON)
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED, "Node '%s': locking=on, but rbd "
                    "image '%s' has no exclusive-lock feature", node->name, s->spec);
    return false;
}

static int coroutine_fn rbd_co_lock(BlockNode *node, RbdState *s, GError **errp)
{
    RbdImageJob job = { .image = s->h.image };
    int r = (int)worker_pool_co_run(rbd_job_lock, &job);

    if (r < 0 && job.owner) {
        g_set_error(errp, BG_ERROR, BG_ERROR_PERMISSION_CONFLICT, "Node '%s': rbd image '%s' "
                    "is locked by the client at %s (exclusive lock): another host or program writes to it",
                    node->name, s->spec, job.owner);
    } else if (r < 0) {
        bg_set_error_errno(errp, r, "Node '%s': could not take the exclusive lock of rbd "
                           "image '%s'", node->name, s->spec);
    }
    g_free(job.owner);
    return r;
}

static int coroutine_fn rbd_co_unlock(BlockNode *node, RbdState *s, GError **errp)
{
    RbdImageJob job = { .image = s->h.image };
    int r = (int)worker_pool_co_run(rbd_job_unlock, &job);

    if (r < 0)
        bg_set_error_errno(errp, r, "Node '%s': could not release the exclusive lock of rbd "
                           "image '%s'", node->name, s->spec);
    return r;
}

int coroutine_fn rbd_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared,
                                GError **errp)
{
    RbdState *s = node->opaque;
    bool want = (perm & RBD_LOCKING_PERMS) && s->locking != RBD_LOCKING_OFF;
    g_autoptr(GError) err = NULL;
    int r;

    if (want == s->lock_held)
        return 0;
    if (want && !rbd_lockable(node, s, &err)) {
        if (!err)
            return 0;               /* auto: an image without the feature goes unlocked */
        g_propagate_error(errp, g_steal_pointer(&err));
        return -ENOTSUP;
    }
    r = want ? rbd_co_lock(node, s, errp) : rbd_co_unlock(node, s, errp);
    if (r == 0)
        s->lock_held = want;
    s->lock_taken_once |= s->lock_held;
    return r;
}
