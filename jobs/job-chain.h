/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Backing chains as stream and commit walk them: a format node's "backing"
 * link, a filter's "file" link (filters are passed through, QEMU's
 * bdrv_filter_or_cow_bs).
 */

#include "jobs/job.h"

/* The link to the next node down the chain, or NULL at its end. */
BlockChild *job_chain_link(const BlockNode *node);
BlockNode *job_chain_next(const BlockNode *node);
bool job_node_is_filter(const BlockNode *node);
/* The first node at or below node that is not a filter (NULL: none). */
BlockNode *job_chain_skip_filters(BlockNode *node);
/* Whether node lies strictly below top in top's chain. */
bool job_chain_is_below(const BlockNode *top, const BlockNode *node);
/* "No node 'x' known" for a required attribute; the node or NULL. */
BlockNode *job_spec_node(const JobSpec *spec, const char *attr, bool required, GError **errp);
/* Freezes every chain link from top down to (and into) base; NULL: the whole chain. */
bool job_freeze_chain(Job *job, BlockNode *top, BlockNode *base, GError **errp);
/*
 * Makes base the backing node of node (NULL: none), writing backing_file
 * and base's format into node's image header first, so that the header and
 * the link change in one step.
 */
int coroutine_fn job_co_set_backing(BlockNode *node, BlockNode *base, const char *backing_file,
                                    GError **errp);

/*
 * Right before a pivot: `to` takes `from`'s place read-only-ness included,
 * as QEMU's mirror_exit_common reopens the target (mirror, active commit).
 * A read-only `from` gives a read-only `to` (its file follows through
 * auto-read-only).  As there, a failure only warns: the pivot goes on.
 */
void coroutine_fn job_co_take_read_only(Job *job, BlockNode *from, BlockNode *to);
