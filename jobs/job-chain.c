/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "jobs/job-chain.h"

#include <errno.h>

#include "graph/error.h"
#include "graph/graph.h"
#include "graph/graph-internal.h"
#include "graph/io.h"

bool job_node_is_filter(const BlockNode *node)
{
    return node->drv->kind == BLOCK_DRIVER_FILTER;
}

BlockChild *job_chain_link(const BlockNode *node)
{
    return job_node_is_filter(node) ? node->file : node->backing;
}

BlockNode *job_chain_next(const BlockNode *node)
{
    BlockChild *c = job_chain_link(node);

    return c ? c->node : NULL;
}

BlockNode *job_chain_skip_filters(BlockNode *node)
{
    while (node && job_node_is_filter(node))
        node = job_chain_next(node);
    return node;
}

bool job_chain_is_below(const BlockNode *top, const BlockNode *node)
{
    for (BlockNode *n = job_chain_next(top); n; n = job_chain_next(n))
        if (n == node)
            return true;
    return false;
}

BlockNode *job_spec_node(const JobSpec *spec, const char *attr, bool required, GError **errp)
{
    const char *name = job_spec_get(spec, attr);
    BlockNode *node;

    if (!name) {
        if (required)
            g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                        "<job type=\"%s\"> needs a '%s' attribute", spec->type, attr);
        return NULL;
    }
    node = graph_lookup(name);
    if (!node)
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known (%s of job '%s')",
                    name, attr, spec->id);
    return node;
}

bool job_freeze_chain(Job *job, BlockNode *top, BlockNode *base, GError **errp)
{
    for (BlockNode *n = top; n && n != base; n = job_chain_next(n)) {
        BlockChild *c = job_chain_link(n);

        if (c && !job_freeze_link(job, c, errp))
            return false;
    }
    return true;
}

static int coroutine_fn write_header(BlockNode *node, BlockNode *base, const char *backing_file,
                                     GError **errp)
{
    if (node->drv->co_change_backing_file)
        return node->drv->co_change_backing_file(node, base ? backing_file : NULL,
                                                 base ? base->drv->name : NULL, errp);
    if (!node->backing_filename)
        return 0;       /* nothing in a header to change */
    g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                "Driver '%s' of node '%s' cannot change the backing file in its header",
                node->drv->name, node->name);
    return -ENOTSUP;
}

int coroutine_fn job_co_set_backing(BlockNode *node, BlockNode *base, const char *backing_file,
                                    GError **errp)
{
    int r;

    /*
     * What the job copied must be on disk before the header stops pointing
     * at the layers it came from: node's mapping of the copied clusters
     * (stream), the base's data (commit).
     */
    r = node_co_flush_node(node);
    if (r == 0 && base)
        r = node_co_flush_node(base);
    if (r < 0) {
        bg_set_error_errno(errp, r, "Cannot flush node '%s' before changing its backing file",
                           node->name);
        return r;
    }
    graph_co_lock();
    r = write_header(node, base, backing_file, errp);
    if (r == 0 && node->backing && node->backing->node == base) {
        graph_unlock();
        return 0;
    }
    if (r == 0 && node->backing)
        node_detach_child(node->backing);
    if (r == 0 && base && !node_attach_child(node, base, "backing", errp))
        r = -EPERM;
    if (r == 0 && node->drv->co_backing_changed)
        r = node->drv->co_backing_changed(node, errp);
    graph_unlock();
    return r;
}

void coroutine_fn job_co_take_read_only(Job *job, BlockNode *from, BlockNode *to)
{
    g_autoptr(GError) err = NULL;
    bool ro = from->read_only;

    if (to->read_only == ro)
        return;
    if (graph_co_set_read_only(to, ro, &err) < 0)
        g_warning("Job '%s': node '%s' stays %s: %s", job->id, to->name,
                  ro ? "read-write" : "read-only", err->message);
}
