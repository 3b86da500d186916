/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Building nodes from a BlockdevSpec, all or nothing: every node created for
 * one AddNode (inline children, the image's backing chain) stays invisible
 * until all of them opened; on error they are closed and freed again.
 */

#include <limits.h>
#include <stdlib.h>

#include "graph/driver-call.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "graph/iothread.h"

#define MAX_INLINE_DEPTH 16
#define PROBE_BYTES 4096

typedef struct AddContext {
    GPtrArray *created;         /* BlockNode*, in creation order */
    GHashTable *pending;        /* name -> BlockNode* created here */
    GPtrArray *chain_files;     /* canonical image paths of the chain being opened */
    GPtrArray *building;        /* BlockNode*: the nodes being opened, outermost first */
    unsigned depth;
} AddContext;

static unsigned generated_names;

static BlockNode *open_node(AddContext *ctx, const BlockdevSpec *spec, bool user_owned,
                            bool open_backing, GError **errp);

static BlockNode *lookup_any(AddContext *ctx, const char *name)
{
    BlockNode *node = g_hash_table_lookup(ctx->pending, name);

    return node ? node : graph_lookup(name);
}

static char *pick_name(AddContext *ctx, const BlockdevSpec *spec, bool user_owned,
                       bool *generated, GError **errp)
{
    const char *name = blockdev_spec_get(spec, "node-name");

    if (!name) {
        if (user_owned) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Missing required option 'node-name' for a node added by AddNode");
            return NULL;
        }
        *generated = true;
        return g_strdup_printf("#block%03u", generated_names++);
    }
    if (!node_name_is_valid(name)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Invalid node-name '%s': it must start with a letter and hold only letters, "
                    "digits, '-', '.' and '_', at most %d characters", name, NODE_NAME_MAX);
        return NULL;
    }
    if (lookup_any(ctx, name)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_EXISTS, "A node named '%s' already exists", name);
        return NULL;
    }
    *generated = false;
    return g_strdup(name);
}

bool child_spec_check_role(const BlockDriver *drv, const BlockdevSpec *spec,
                           const ChildSpec *cs, const char *name, GError **errp)
{
    if (!drv->child_roles || !g_strv_contains(drv->child_roles, cs->role)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Driver '%s' of node '%s' takes no '%s' child", drv->name, name, cs->role);
        return false;
    }
    if (blockdev_spec_find_child(spec, cs->role) != cs) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Node '%s' has more than one '%s' child", name, cs->role);
        return false;
    }
    return true;
}

static bool check_child_specs(const BlockDriver *drv, const BlockdevSpec *spec,
                              const char *name, GError **errp)
{
    for (guint i = 0; i < spec->children->len; i++) {
        const ChildSpec *cs = g_ptr_array_index(spec->children, i);

        if (!child_spec_check_role(drv, spec, cs, name, errp))
            return false;
        if (cs->kind == CHILD_SPEC_NONE && !g_str_equal(cs->role, "backing")) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "The '%s' child of node '%s' cannot be empty", cs->role, name);
            return false;
        }
    }
    for (const char *const *r = drv->required_child_roles; r && *r; r++) {
        if (!blockdev_spec_find_child(spec, *r)) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "Node '%s' (driver '%s') needs a '%s' child", name, drv->name, *r);
            return false;
        }
    }
    return true;
}

static BlockNode *node_new(AddContext *ctx, char *name, bool generated,
                           const BlockDriver *drv, OptionSet *opts)
{
    BlockNode *node = g_new0(BlockNode, 1);

    node->name = name;
    node->name_generated = generated;
    node->drv = drv;
    node->options = opts;
    node->opaque = drv->state_size ? g_malloc0(drv->state_size) : NULL;
    node->children = g_ptr_array_new();
    node->parents = g_ptr_array_new();
    node->read_only = option_set_get_bool(opts, "read-only");
    node->auto_read_only = option_set_get_bool(opts, "auto-read-only");
    node->writable = !node->read_only;
    node->active = true;
    node->request_alignment = 1;
    node_apply_common_options(node);
    co_queue_init(&node->quiesce_waiters);
    co_queue_init(&node->idle_waiters);
    g_ptr_array_add(ctx->created, node);
    g_hash_table_insert(ctx->pending, node->name, node);
    g_ptr_array_add(ctx->building, node);
    return node;
}

/* The node's `iothread` option: the loop that will do its I/O. */
static bool node_bind_loop(BlockNode *node, GError **errp)
{
    const char *id = option_set_get_string(node->options, "iothread");
    g_autofree char *what = NULL;

    if (!id)
        return true;
    what = g_strdup_printf("Node '%s'", node->name);
    node->loop = iothread_lookup(id, what, errp);
    if (!node->loop)
        return false;
    if (!node->drv->runs_in_iothread) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Node '%s': driver '%s' cannot run in an iothread (iothread '%s')",
                    node->name, node->drv->name, id);
        return false;
    }
    return true;
}

static BlockNode *resolve_child(AddContext *ctx, BlockNode *parent, const ChildSpec *cs,
                                GError **errp)
{
    BlockNode *child;

    if (cs->kind == CHILD_SPEC_INLINE) {
        child_spec_apply_inherited_defaults(cs);
        if (parent->loop && !blockdev_spec_get(cs->inline_spec, "iothread"))
            blockdev_spec_set(cs->inline_spec, "iothread", aio_loop_name(parent->loop));
        child = open_node(ctx, cs->inline_spec, false, true, errp);
        if (child && !node_check_same_loop(parent, child, cs->role, errp))
            return NULL;    /* the rollback closes it */
        return child;
    }
    child = lookup_any(ctx, cs->ref);
    if (child && child->removing) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND,
                    "Node '%s' (the '%s' child of node '%s') is being removed", cs->ref,
                    cs->role, parent->name);
        return NULL;
    }
    if (!child) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND,
                    "Node '%s' (the '%s' child of node '%s') does not exist",
                    cs->ref, cs->role, parent->name);
        return NULL;
    }
    /* parent's own parents are not linked yet: they are still being built. */
    if (!graph_check_link_acyclic(parent, child, cs->role, ctx->building, errp) ||
        !node_check_same_loop(parent, child, cs->role, errp))
        return NULL;
    return child;
}

/* Links a child; a writable auto-read-only parent settles for read-only if it must. */
static bool attach_child(BlockNode *node, BlockNode *child, const char *role, GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (perm_child_can_write(node, child, role, &err) &&
        node_attach_child(node, child, role, &err))
        return true;
    if (node->writable && node->auto_read_only && !g_str_equal(role, "backing") &&
        g_error_matches(err, BG_ERROR, BG_ERROR_READ_ONLY)) {
        node->writable = false;
        return node_attach_child(node, child, role, errp) != NULL;
    }
    g_propagate_error(errp, g_steal_pointer(&err));
    return false;
}

static bool attach_storage_children(AddContext *ctx, BlockNode *node, const BlockdevSpec *spec,
                                    GError **errp)
{
    for (guint i = 0; i < spec->children->len; i++) {
        const ChildSpec *cs = g_ptr_array_index(spec->children, i);
        BlockNode *child;

        if (g_str_equal(cs->role, "backing"))
            continue;
        child = resolve_child(ctx, node, cs, errp);
        if (!child || !attach_child(node, child, cs->role, errp))
            return false;
    }
    node_refresh_filename(node);
    return true;
}

static bool set_backing(BlockNode *node, BlockNode *backing, GError **errp)
{
    if (!attach_child(node, backing, "backing", errp))
        return false;
    return drv_co_backing_changed(node, errp) == 0;
}

static const char *probe_format(BlockNode *file_node)
{
    uint8_t buf[PROBE_BYTES];
    const char *best = "raw";
    int best_score = 0;
    uint64_t len = MIN(file_node->size, PROBE_BYTES);
    BlockChild *c = node_attach_user(file_node, BLOCK_USER_INTERNAL, "probe", "probe",
                                     BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, NULL);

    if (!c)
        return best;
    if (node_co_pread(c, 0, len, buf, 0) == 0) {
        for (const BlockDriver *const *d = block_drivers(); *d; d++) {
            int score = (*d)->probe ? (*d)->probe(buf, len) : 0;
            if (score > best_score) {
                best_score = score;
                best = (*d)->name;
            }
        }
    }
    block_child_unlink(c);
    return best;
}

static char *backing_path(const BlockNode *node)
{
    g_autofree char *dir = NULL;

    if (g_path_is_absolute(node->backing_filename) || !node->filename)
        return g_strdup(node->backing_filename);
    dir = g_path_get_dirname(node->filename);
    return g_build_filename(dir, node->backing_filename, NULL);
}

static bool chain_enter(AddContext *ctx, const char *path, const BlockNode *overlay, GError **errp)
{
    char canonical[PATH_MAX];
    const char *key = realpath(path, canonical) ? canonical : path;

    for (guint i = 0; i < ctx->chain_files->len; i++) {
        if (g_str_equal(g_ptr_array_index(ctx->chain_files, i), key)) {
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "The backing chain of node '%s' is cyclic: '%s' is its own backing file",
                        overlay->name, path);
            return false;
        }
    }
    g_ptr_array_add(ctx->chain_files, g_strdup(key));
    return true;
}

/* Opens one backing image named by node's header, read-only, as its own nodes. */
static BlockNode *open_backing_image(AddContext *ctx, BlockNode *node, GError **errp)
{
    g_autofree char *path = backing_path(node);
    g_autoptr(BlockdevSpec) file_spec = blockdev_spec_new();
    g_autoptr(BlockdevSpec) fmt_spec = blockdev_spec_new();
    BlockNode *file_node, *fmt_node;

    if (strstr(path, "://")) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Backing file '%s' of node '%s' is not a local file", path, node->name);
        return NULL;
    }
    if (!chain_enter(ctx, path, node, errp))
        return NULL;
    blockdev_spec_set(file_spec, "driver", "file");
    blockdev_spec_set(file_spec, "filename", path);
    blockdev_spec_set(file_spec, "read-only", "on");
    if (node->loop) {       /* the chain is the overlay's subtree */
        blockdev_spec_set(file_spec, "iothread", aio_loop_name(node->loop));
        blockdev_spec_set(fmt_spec, "iothread", aio_loop_name(node->loop));
    }
    file_node = open_node(ctx, file_spec, false, false, errp);
    if (!file_node)
        return NULL;
    file_node->from_image_header = true;
    blockdev_spec_set(fmt_spec, "driver",
                      node->backing_format ? node->backing_format : probe_format(file_node));
    blockdev_spec_set(fmt_spec, "read-only", "on");
    blockdev_spec_add_child(fmt_spec, "file", CHILD_SPEC_REF)->ref = g_strdup(file_node->name);
    fmt_node = open_node(ctx, fmt_spec, false, false, errp);
    if (fmt_node)
        fmt_node->from_image_header = true;
    return fmt_node;
}

/* Follows backing file names from the headers, iteratively (chains can be long). */
static bool open_backing_chain(AddContext *ctx, BlockNode *top, GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (top->drv->supports_backing && top->filename &&
        !chain_enter(ctx, top->filename, top, errp))
        return false;
    for (BlockNode *cur = top; !cur->backing && cur->backing_filename;) {
        BlockNode *backing = open_backing_image(ctx, cur, &err);

        if (!backing || !set_backing(cur, backing, &err)) {
            g_propagate_prefixed_error(errp, g_steal_pointer(&err),
                                       "Could not open backing file '%s' of node '%s': ",
                                       cur->backing_filename, cur->name);
            return false;
        }
        cur = backing;
    }
    return true;
}

static bool open_backing(AddContext *ctx, BlockNode *node, const BlockdevSpec *spec,
                         bool open_from_image, GError **errp)
{
    const ChildSpec *cs = blockdev_spec_find_child(spec, "backing");
    BlockNode *backing;

    if (!cs)
        return !open_from_image || open_backing_chain(ctx, node, errp);
    if (cs->kind == CHILD_SPEC_NONE)
        return true;
    backing = resolve_child(ctx, node, cs, errp);
    return backing && set_backing(node, backing, errp);
}

static BlockNode *open_node_checked(AddContext *ctx, const BlockdevSpec *spec, bool user_owned,
                                    bool open_backing_from_image, GError **errp)
{
    const char *driver = blockdev_spec_get(spec, "driver");
    const char *given = blockdev_spec_get(spec, "node-name");
    g_autofree char *what = NULL;
    const BlockDriver *drv;
    bool generated = false;
    char *name;
    OptionSet *opts;
    BlockNode *node;

    what = given ? g_strdup_printf("node '%s'", given) : g_strdup("an unnamed node");
    if (!driver) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Missing required option 'driver' for %s", what);
        return NULL;
    }
    drv = block_driver_find(driver);
    if (!drv) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Unknown driver '%s' for %s", driver, what);
        return NULL;
    }
    name = pick_name(ctx, spec, user_owned, &generated, errp);
    if (!name)
        return NULL;
    g_free(what);
    what = g_strdup_printf("node '%s' (driver '%s')", name, driver);
    const OptionSpec *const tables[] = { node_common_options, drv->options, NULL };
    opts = option_set_parse(tables, spec->options, what, errp);
    if (!opts || !check_child_specs(drv, spec, name, errp)) {
        option_set_free(opts);
        g_free(name);
        return NULL;
    }
    node = node_new(ctx, name, generated, drv, opts);
    if (!node_bind_loop(node, errp) || !attach_storage_children(ctx, node, spec, errp))
        return NULL;
    if (drv_co_open(node, opts, errp) < 0)
        return NULL;
    if (!open_backing(ctx, node, spec, open_backing_from_image, errp))
        return NULL;
    return node;
}

static BlockNode *open_node(AddContext *ctx, const BlockdevSpec *spec, bool user_owned,
                            bool open_backing_from_image, GError **errp)
{
    guint building = ctx->building->len;
    BlockNode *node;

    if (ctx->depth >= MAX_INLINE_DEPTH) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Inline children are nested more than %d deep", MAX_INLINE_DEPTH);
        return NULL;
    }
    ctx->depth++;
    node = open_node_checked(ctx, spec, user_owned, open_backing_from_image, errp);
    ctx->depth--;
    g_ptr_array_set_size(ctx->building, building);
    if (!node && spec->line > 0)
        bg_error_prefix_location(errp, spec->source, spec->line);
    return node;
}

static void coroutine_fn add_rollback(AddContext *ctx)
{
    GPtrArray *created = ctx->created;

    for (guint i = created->len; i-- > 0;)
        drv_co_close(g_ptr_array_index(created, i));
    /* Nodes that were there before stay open: they get back what the new links took. */
    for (guint i = created->len; i-- > 0;) {
        BlockNode *node = g_ptr_array_index(created, i);
        while (node->children->len > 0) {
            BlockChild *c = g_ptr_array_index(node->children, node->children->len - 1);

            if (g_ptr_array_find(created, c->node, NULL))
                block_child_unlink(c);
            else
                block_child_drop(c);
        }
    }
    for (guint i = created->len; i-- > 0;)
        node_free(g_ptr_array_index(created, i));
}

BlockNode *coroutine_fn graph_co_add_node(const BlockdevSpec *spec, GError **errp)
{
    AddContext ctx = {
        .created = g_ptr_array_new(),
        .pending = g_hash_table_new(g_str_hash, g_str_equal),
        .chain_files = g_ptr_array_new_with_free_func(g_free),
        .building = g_ptr_array_new(),
    };
    BlockNode *top;

    graph_co_lock();
    top = open_node(&ctx, spec, true, true, errp);

    if (top) {
        top->user_owned = true;
        for (guint i = 0; i < ctx.created->len; i++)
            graph_register(g_ptr_array_index(ctx.created, i));
    } else {
        add_rollback(&ctx);
    }
    g_ptr_array_unref(ctx.created);
    g_hash_table_unref(ctx.pending);
    g_ptr_array_unref(ctx.chain_files);
    g_ptr_array_unref(ctx.building);
    graph_unlock();
    return top;
}
