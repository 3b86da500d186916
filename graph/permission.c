/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Permission checks between the users of one node (QEMU's perm/shared_perm
 * over consistent-read, write, write-unchanged, resize).
 */

#include "graph/error.h"
#include "graph/graph-internal.h"

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

static bool perm_make_writable(BlockNode *node, GError **errp)
{
    if (node->writable)
        return true;
    if (!node->active) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INACTIVE, "Node '%s' is inactive", node->name);
        return false;
    }
    if (node->read_only) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY, "Node '%s' is read-only", node->name);
        return false;
    }
    if (node->auto_read_only && node->drv->dynamic_read_only && node->drv->set_writable)
        return node->drv->set_writable(node, true, errp) == 0;
    g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY,
                "Node '%s' is open read-only (auto-read-only fell back to read-only)", node->name);
    return false;
}

bool perm_check_new_user(BlockNode *node, const BlockChild *candidate,
                         const BlockChild *ignore, GError **errp)
{
    for (guint i = 0; i < node->parents->len; i++) {
        const BlockChild *other = g_ptr_array_index(node->parents, i);

        if (other == ignore || other == candidate)
            continue;
        if (candidate->perm & ~other->shared_perm)
            return perm_conflict(node, candidate->perm & ~other->shared_perm, candidate, other, errp);
        if (other->perm & ~candidate->shared_perm)
            return perm_conflict(node, other->perm & ~candidate->shared_perm, other, candidate, errp);
    }
    if (candidate->perm & (BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE))
        return perm_make_writable(node, errp);
    return true;
}

void perm_for_child(BlockNode *parent, const char *role, uint64_t *ret_perm, uint64_t *ret_shared)
{
    bool force_share = option_set_get_bool(parent->options, "force-share");

    if (parent->drv->child_perm) {
        parent->drv->child_perm(parent, role, 0, BLOCK_PERM_ALL, ret_perm, ret_shared);
        return;
    }
    if (g_str_equal(role, "backing")) {
        /* A backing image must not change under its overlay. */
        *ret_perm = BLOCK_PERM_CONSISTENT_READ;
        *ret_shared = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    } else {
        /* Storage of a format or filter: written when the parent is writable. */
        *ret_perm = BLOCK_PERM_CONSISTENT_READ;
        if (parent->writable)
            *ret_perm |= BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE;
        *ret_shared = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED;
    }
    if (force_share)
        *ret_shared = BLOCK_PERM_ALL;
}
