/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/node.h"

bool node_name_is_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > NODE_NAME_MAX || !g_ascii_isalpha(name[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!g_ascii_isalnum(name[i]) && !strchr("-._", name[i]))
            return false;
    return true;
}

bool node_takes_writes(const BlockNode *node)
{
    return node->writable && node->active;
}

const char *node_user_kind_name(BlockUserKind kind)
{
    static const char *const names[] = {
        [BLOCK_USER_NODE] = "node",
        [BLOCK_USER_EXPORT] = "export",
        [BLOCK_USER_JOB] = "job",
        [BLOCK_USER_INTERNAL] = "internal",
    };
    return names[kind];
}

/* Indexed by bit number: BLOCK_PERM_WRITE is 1 << 1. */
static const char *const perm_names[] = {
    "consistent-read", "write", "write-unchanged", "resize",
};
G_STATIC_ASSERT(BLOCK_PERM_ALL == (1u << G_N_ELEMENTS(perm_names)) - 1);

const char *block_perm_bit_name(unsigned bit)
{
    g_assert(bit < G_N_ELEMENTS(perm_names));
    return perm_names[bit];
}

char **block_perm_names(uint64_t perm)
{
    GPtrArray *names = g_ptr_array_new();

    for (unsigned i = 0; i < G_N_ELEMENTS(perm_names); i++)
        if (perm & (1u << i))
            g_ptr_array_add(names, g_strdup(perm_names[i]));
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char *block_perm_describe(uint64_t perm)
{
    g_auto(GStrv) names = block_perm_names(perm);
    GString *s = g_string_new(NULL);

    for (int i = 0; names[i]; i++)
        g_string_append_printf(s, "%s'%s'", i ? ", " : "", names[i]);
    return g_string_free(s, FALSE);
}

char *block_child_describe_user(const BlockChild *c)
{
    switch (c->user_kind) {
    case BLOCK_USER_NODE:
        return g_strdup_printf("node '%s' (uses node '%s' as '%s' child)",
                               c->parent->name, c->node->name, c->role);
    case BLOCK_USER_EXPORT:
    case BLOCK_USER_JOB:
    case BLOCK_USER_INTERNAL:
        return g_strdup_printf("%s '%s' (uses node '%s')", node_user_kind_name(c->user_kind),
                               c->user_name, c->node->name);
    }
    g_assert_not_reached();
}

bool graph_check_link_acyclic(const BlockNode *parent, const BlockNode *child,
                              const char *role, GPtrArray *ancestors, GError **errp)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    g_autoptr(GPtrArray) stack = g_ptr_array_new();

    /* Iterative, and each node once: chains are long and DAGs share nodes. */
    g_ptr_array_add(stack, (gpointer)child);
    while (stack->len > 0) {
        const BlockNode *n = g_ptr_array_steal_index_fast(stack, stack->len - 1);

        if (n == parent || (ancestors && g_ptr_array_find(ancestors, n, NULL))) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Making '%s' the '%s' child of node '%s' would create a cycle",
                        child->name, role, parent->name);
            return false;
        }
        if (!g_hash_table_add(seen, (gpointer)n))
            continue;
        for (guint i = 0; i < n->children->len; i++)
            g_ptr_array_add(stack, ((BlockChild *)g_ptr_array_index(n->children, i))->node);
    }
    return true;
}

BlockChild *node_find_child(const BlockNode *node, const char *role)
{
    for (guint i = 0; i < node->children->len; i++) {
        BlockChild *c = g_ptr_array_index(node->children, i);
        if (g_str_equal(c->role, role))
            return c;
    }
    return NULL;
}

static BlockChild *block_child_new(BlockNode *node, BlockUserKind kind, const char *user_name,
                                   const char *role, uint64_t perm, uint64_t shared)
{
    BlockChild *c = g_new0(BlockChild, 1);

    c->node = node;
    c->user_kind = kind;
    c->user_name = g_strdup(user_name);
    c->role = g_strdup(role);
    c->perm = perm;
    c->shared_perm = shared;
    return c;
}

static void block_child_free(BlockChild *c)
{
    g_free(c->user_name);
    g_free(c->role);
    g_free(c);
}

/*
 * Joins c to its node's users, then gives it its permissions (all or nothing).
 * A node being closed (RemoveNode, or its last user went) takes no new users:
 * the release would free it under them.
 */
static BlockChild *node_attach(BlockChild *c, uint64_t perm, uint64_t shared, GError **errp)
{
    if (c->node->removing) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "Node '%s' is being removed",
                    c->node->name);
        block_child_free(c);
        return NULL;
    }
    g_ptr_array_add(c->node->parents, c);
    if (!perm_update_link(c, perm, shared, errp)) {
        g_ptr_array_remove(c->node->parents, c);
        block_child_free(c);
        return NULL;
    }
    node_notify_changed(c->node, NODE_CHANGE_USERS);
    return c;
}

BlockChild *node_attach_user(BlockNode *node, BlockUserKind kind, const char *user_name,
                             const char *role, uint64_t perm, uint64_t shared_perm,
                             GError **errp)
{
    g_assert(kind != BLOCK_USER_NODE);
    return node_attach(block_child_new(node, kind, user_name, role, 0, BLOCK_PERM_ALL),
                       perm, shared_perm, errp);
}

BlockChild *block_child_link(BlockNode *parent, BlockNode *child, const char *role)
{
    BlockChild *c = block_child_new(child, BLOCK_USER_NODE, parent->name, role, 0,
                                    BLOCK_PERM_ALL);

    c->parent = parent;
    g_ptr_array_add(child->parents, c);
    g_ptr_array_add(parent->children, c);
    if (g_str_equal(role, "file"))
        parent->file = c;
    else if (g_str_equal(role, "backing"))
        parent->backing = c;
    return c;
}

BlockChild *node_attach_child(BlockNode *parent, BlockNode *child, const char *role,
                              GError **errp)
{
    uint64_t perm, shared;
    BlockChild *c;

    perm_for_child(parent, role, &perm, &shared);
    c = block_child_new(child, BLOCK_USER_NODE, parent->name, role, 0, BLOCK_PERM_ALL);
    c->parent = parent;
    if (!node_attach(c, perm, shared, errp))
        return NULL;
    g_ptr_array_add(parent->children, c);
    if (g_str_equal(role, "file"))
        parent->file = c;
    else if (g_str_equal(role, "backing"))
        parent->backing = c;
    node_notify_changed(parent, NODE_CHANGE_CHILDREN);
    return c;
}

static void set_shortcut(BlockChild *c, BlockChild *value)
{
    if (g_str_equal(c->role, "file"))
        c->parent->file = value;
    else if (g_str_equal(c->role, "backing"))
        c->parent->backing = value;
}

void block_child_take_out(BlockChild *c)
{
    g_ptr_array_remove(c->node->parents, c);
    if (c->parent) {
        g_ptr_array_remove(c->parent->children, c);
        if (c->parent->file == c || c->parent->backing == c)
            set_shortcut(c, NULL);
        node_notify_changed(c->parent, NODE_CHANGE_CHILDREN);
    }
    node_notify_changed(c->node, NODE_CHANGE_USERS);
}

/* Undo record of a link moved to another node. */
typedef struct ChildMove {
    BlockChild *c;
    BlockNode *from;
} ChildMove;

static void child_move(BlockChild *c, BlockNode *to)
{
    g_ptr_array_remove(c->node->parents, c);
    c->node = to;
    g_ptr_array_add(to->parents, c);
}

static void child_move_abort(void *opaque)
{
    ChildMove *u = opaque;

    child_move(u->c, u->from);
}

static const TransactionActions child_move_actions = { .abort = child_move_abort, .clean = g_free };

void block_child_move_in(BlockChild *c, BlockNode *to, Transaction *tran)
{
    ChildMove *u = g_new(ChildMove, 1);

    *u = (ChildMove){ c, c->node };
    tran_add(tran, &child_move_actions, u);
    child_move(c, to);
}

void block_child_put_back(BlockChild *c, guint child_index)
{
    g_ptr_array_add(c->node->parents, c);
    if (c->parent) {
        g_ptr_array_insert(c->parent->children, (gint)child_index, c);
        set_shortcut(c, c);
    }
}

void block_child_unlink(BlockChild *c)
{
    block_child_take_out(c);
    block_child_free(c);
}

void block_child_destroy(BlockChild *c)
{
    block_child_free(c);
}

void block_child_drop(BlockChild *c)
{
    g_autoptr(GError) err = NULL;

    /* Giving permissions back cannot conflict; a lock that fails to drop is only logged. */
    if (!perm_update_link(c, 0, BLOCK_PERM_ALL, &err)) {
        g_autofree char *who = block_child_describe_user(c);
        g_warning("Releasing the permissions of %s: %s", who, err->message);
    }
    block_child_unlink(c);
}

static void node_detach(BlockChild *c)
{
    BlockNode *node = c->node;

    block_child_drop(c);
    graph_release_if_orphan(node);
}

void coroutine_fn node_detach_user(BlockChild *child)
{
    g_assert(child->user_kind != BLOCK_USER_NODE);
    graph_co_lock();
    node_detach(child);
    graph_unlock();
}

void node_detach_child(BlockChild *child)
{
    g_assert(child->user_kind == BLOCK_USER_NODE);
    node_detach(child);
}

void node_refresh_filename(BlockNode *node)
{
    const char *from = node->file ? node->file->node->filename : NULL;

    if (node->drv->kind == BLOCK_DRIVER_PROTOCOL || g_strcmp0(from, node->filename) == 0)
        return;
    g_free(node->filename);
    node->filename = g_strdup(from);
    node_notify_changed(node, NODE_CHANGE_FILENAME);
    for (guint i = 0; i < node->parents->len; i++) {
        BlockChild *c = g_ptr_array_index(node->parents, i);
        if (c->parent && c->parent->file == c)
            node_refresh_filename(c->parent);
    }
}
