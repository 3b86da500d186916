/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Permissions between the users of a node (QEMU's perm / shared_perm over
 * consistent-read, write, write-unchanged, resize), propagated down the
 * graph as one transaction.
 *
 * A link's permissions must be allowed by every other user's shared set of
 * the same node.  A node whose users need write or resize must be writable:
 * a dynamic auto-read-only node switches to read-write for the first writer
 * and back when the last one leaves.  What a node asks of its own children
 * follows from its users' needs (perm_for_child), so a change at the top
 * walks down until nothing changes.
 */

#include "graph/driver-call.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/transaction.h"

#define PERM_WRITING (BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE)

static bool refresh_node(BlockNode *node, Transaction *tran, GError **errp);

bool node_is_dynamic_read_only(const BlockNode *node)
{
    return !node->read_only && node->auto_read_only && node->drv->dynamic_read_only &&
           node->drv->set_writable;
}

static void cumulative_perm(const BlockNode *node, uint64_t *perm, uint64_t *shared)
{
    *perm = 0;
    *shared = BLOCK_PERM_ALL;
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->parents, i);
        *perm |= c->perm;
        *shared &= c->shared_perm;
    }
}

static bool perm_conflict(const BlockNode *node, uint64_t bits, const BlockChild *requirer,
                          const BlockChild *unsharer, GError **errp)
{
    g_autofree char *perms = block_perm_describe(bits);
    g_autofree char *who_requires = block_child_describe_user(requirer);
    g_autofree char *who_unshares = block_child_describe_user(unsharer);

    g_set_error(errp, BG_ERROR, BG_ERROR_PERMISSION_CONFLICT,
                "Permission conflict on node '%s': permissions %s are both required by %s "
                "and unshared by %s.", node->name, perms, who_requires, who_unshares);
    return false;
}

static bool check_conflicts(const BlockNode *node, const BlockChild *candidate,
                            const BlockChild *self, GError **errp)
{
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *other = g_ptr_array_index(node->parents, i);

        if (other == self)
            continue;
        if (candidate->perm & ~other->shared_perm)
            return perm_conflict(node, candidate->perm & ~other->shared_perm, candidate, other, errp);
        if (other->perm & ~candidate->shared_perm)
            return perm_conflict(node, other->perm & ~candidate->shared_perm, other, candidate, errp);
    }
    return true;
}

/* Undo records. */

typedef struct LinkUndo {
    BlockChild *c;
    uint64_t perm, shared;
} LinkUndo;

static void link_undo_abort(void *opaque)
{
    LinkUndo *u = opaque;

    u->c->perm = u->perm;
    u->c->shared_perm = u->shared;
}

static void link_undo_commit(void *opaque)
{
    LinkUndo *u = opaque;

    node_notify_changed(u->c->node, NODE_CHANGE_USERS);
}

static const TransactionActions link_undo_actions = {
    .commit = link_undo_commit, .abort = link_undo_abort, .clean = g_free,
};

typedef struct WritableUndo {
    BlockNode *node;
    bool was_writable;
} WritableUndo;

static void writable_undo_abort(void *opaque)
{
    WritableUndo *u = opaque;
    g_autoptr(GError) err = NULL;

    if (u->node->writable == u->was_writable)
        return;
    if (drv_set_writable(u->node, u->was_writable, &err) < 0)
        g_warning("Failed to switch node '%s' back: %s", u->node->name, err->message);
}

static void writable_undo_commit(void *opaque)
{
    WritableUndo *u = opaque;

    if (u->node->writable != u->was_writable)
        node_notify_changed(u->node, NODE_CHANGE_WRITABLE);
}

static const TransactionActions writable_undo_actions = {
    .commit = writable_undo_commit, .abort = writable_undo_abort, .clean = g_free,
};

typedef struct LockUndo {
    BlockNode *node;
    uint64_t perm, shared;
} LockUndo;

static void lock_undo_abort(void *opaque)
{
    LockUndo *u = opaque;
    g_autoptr(GError) err = NULL;

    if (drv_apply_perm(u->node, u->perm, u->shared, &err) < 0) {
        g_warning("Failed to restore the image locks of node '%s': %s", u->node->name,
                  err->message);
        u->node->locked_perm = u->perm;     /* what the undone change left is what counts */
        u->node->locked_shared = u->shared;
    }
}

static const TransactionActions lock_undo_actions = {
    .abort = lock_undo_abort, .clean = g_free,
};

bool perm_child_can_write(const BlockNode *parent, const BlockNode *child, const char *role,
                          GError **errp)
{
    if (!parent->writable || g_str_equal(role, "backing"))
        return true;
    if (!child->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE,
                    "Node '%s' is inactive: node '%s' cannot use it as its writable '%s' child",
                    child->name, parent->name, role);
        return false;
    }
    if (!child->read_only && (child->writable || node_is_dynamic_read_only(child)))
        return true;
    g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                "Node '%s' is read-only, but node '%s' is writable and uses it as its '%s' child",
                child->name, parent->name, role);
    return false;
}

bool perm_children_can_write(const BlockNode *node, GError **errp)
{
    for (guint i = 0; i < node->children->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->children, i);
        if (!perm_child_can_write(node, c->node, c->role, errp))
            return false;
    }
    return true;
}

bool perm_set_writable(BlockNode *node, bool writable, Transaction *tran, GError **errp)
{
    WritableUndo *u = g_new(WritableUndo, 1);

    *u = (WritableUndo){ node, node->writable };
    tran_add(tran, &writable_undo_actions, u);
    return drv_set_writable(node, writable, errp) == 0;
}

const BlockChild *perm_first_writer(const BlockNode *node)
{
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *c = g_ptr_array_index(node->parents, i);
        if (c->perm & PERM_WRITING)
            return c;
    }
    return NULL;
}

static bool make_writable(BlockNode *node, Transaction *tran, GError **errp)
{
    const BlockChild *first = perm_first_writer(node);
    g_autofree char *writer = first ? block_child_describe_user(first) : g_strdup("a user");

    if (!node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE,
                    "Node '%s' is inactive: it takes no writers", node->name);
        return false;
    }
    if (node->read_only) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                    "Node '%s' is read-only, but %s needs to write", node->name, writer);
        return false;
    }
    if (node_is_dynamic_read_only(node))
        return perm_set_writable(node, true, tran, errp);
    g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                "Node '%s' is open read-only (auto-read-only could not open it read-write), "
                "but %s needs to write", node->name, writer);
    return false;
}

static bool update_link(BlockChild *c, uint64_t perm, uint64_t shared, Transaction *tran,
                        GError **errp)
{
    BlockChild candidate = *c;
    LinkUndo *u;

    if (c->perm == perm && c->shared_perm == shared)
        return true;
    candidate.perm = perm;
    candidate.shared_perm = shared;
    if (!check_conflicts(c->node, &candidate, c, errp))
        return false;
    u = g_new(LinkUndo, 1);
    *u = (LinkUndo){ c, c->perm, c->shared_perm };
    tran_add(tran, &link_undo_actions, u);
    c->perm = perm;
    c->shared_perm = shared;
    return refresh_node(c->node, tran, errp);
}

static bool apply_locks(BlockNode *node, uint64_t perm, uint64_t shared, Transaction *tran,
                        GError **errp)
{
    LockUndo *u;

    if (!node->drv->apply_perm || !node->opened)
        return true;
    if (perm == node->locked_perm && shared == node->locked_shared)
        return true;
    u = g_new(LockUndo, 1);
    *u = (LockUndo){ node, node->locked_perm, node->locked_shared };
    if (drv_apply_perm(node, perm, shared, errp) < 0) {
        g_free(u);
        return false;
    }
    tran_add(tran, &lock_undo_actions, u);
    return true;
}

static bool refresh_node(BlockNode *node, Transaction *tran, GError **errp)
{
    uint64_t perm, shared;

    cumulative_perm(node, &perm, &shared);
    if ((perm & PERM_WRITING) && !node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE,
                    "Node '%s' is inactive: it takes no writers", node->name);
        return false;
    }
    if ((perm & PERM_WRITING) && (!node->writable || node->read_only) &&
        !make_writable(node, tran, errp))
        return false;
    if (!(perm & PERM_WRITING) && node->writable && node_is_dynamic_read_only(node) &&
        !perm_set_writable(node, false, tran, errp))
        return false;
    /* An inactive node belongs to another host for now: it holds no locks. */
    if (!node->active) {
        perm = 0;
        shared = BLOCK_PERM_ALL;
    }
    if (!apply_locks(node, perm, shared, tran, errp))
        return false;
    for (guint i = 0; i < node->children->len; i++) {
        BlockChild *child = g_ptr_array_index(node->children, i);
        uint64_t cperm, cshared;

        perm_for_child(node, child->role, &cperm, &cshared);
        if (!update_link(child, cperm, cshared, tran, errp))
            return false;
    }
    return true;
}

bool perm_check_link(const BlockChild *c, GError **errp)
{
    return check_conflicts(c->node, c, c, errp);
}

bool perm_update_link_in(BlockChild *c, uint64_t perm, uint64_t shared, Transaction *tran,
                         GError **errp)
{
    return update_link(c, perm, shared, tran, errp);
}

bool perm_refresh_node_in(BlockNode *node, Transaction *tran, GError **errp)
{
    return refresh_node(node, tran, errp);
}

bool perm_update_link(BlockChild *c, uint64_t perm, uint64_t shared, GError **errp)
{
    Transaction *tran = tran_new();

    return tran_finish(tran, update_link(c, perm, shared, tran, errp));
}

bool perm_refresh_node(BlockNode *node, GError **errp)
{
    Transaction *tran = tran_new();

    return tran_finish(tran, refresh_node(node, tran, errp));
}

void block_perm_filter_child(uint64_t parent_perm, uint64_t parent_shared,
                             uint64_t *ret_perm, uint64_t *ret_shared)
{
    *ret_perm = parent_perm;
    *ret_shared = parent_shared;
}

/*
 * Storage of a format (its "file"), QEMU's default for a child with metadata
 * and data: what the users do passes through; the metadata needs reading
 * always and writing whenever the format is writable; written data may grow
 * the file; nobody else may write or resize under the metadata.
 */
static void storage_child_perm(const BlockNode *parent, uint64_t parent_perm,
                               uint64_t parent_shared, uint64_t *ret_perm, uint64_t *ret_shared)
{
    uint64_t perm = parent_perm | BLOCK_PERM_CONSISTENT_READ;
    uint64_t shared = parent_shared & ~PERM_WRITING;

    if (parent->writable && parent->active)
        perm |= PERM_WRITING;
    /* Unchanged data may still be written as different clusters (copy-on-read). */
    if (perm & BLOCK_PERM_WRITE_UNCHANGED)
        perm |= BLOCK_PERM_WRITE;
    if (perm & BLOCK_PERM_WRITE)
        perm |= BLOCK_PERM_RESIZE;
    *ret_perm = perm;
    *ret_shared = shared;
}

void perm_for_child(BlockNode *parent, const char *role, uint64_t *ret_perm, uint64_t *ret_shared)
{
    uint64_t parent_perm, parent_shared;

    cumulative_perm(parent, &parent_perm, &parent_shared);
    if (parent->drv->child_perm) {
        parent->drv->child_perm(parent, role, parent_perm, parent_shared, ret_perm, ret_shared);
    } else if (g_str_equal(role, "backing") && !(parent_perm & BLOCK_PERM_CONSISTENT_READ)) {
        /*
         * Nobody reads the overlay (QEMU's bdrv_default_perms_for_cow asks
         * only what the overlay's users ask): the backing image may change
         * under it, as the old top after an active commit's pivot.
         */
        *ret_perm = 0;
        *ret_shared = BLOCK_PERM_ALL;
    } else if (g_str_equal(role, "backing")) {
        /* A backing image must not change under an overlay that is read. */
        *ret_perm = BLOCK_PERM_CONSISTENT_READ;
        *ret_shared = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    } else {
        storage_child_perm(parent, parent_perm, parent_shared, ret_perm, ret_shared);
    }
    BlockChild *link = node_find_child(parent, role);
    if (link)
        *ret_shared |= link->job_shared;
    if (option_set_get_bool(parent->options, "force-share"))
        *ret_shared = BLOCK_PERM_ALL;
}
