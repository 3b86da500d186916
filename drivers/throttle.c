/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * throttle: a filter that holds its requests to the limits of a throttle
 * group (QEMU's block/throttle.c).  Reads count as reads; writes, zero
 * writes and discards as writes; flush and block status pass freely.  A
 * request over the budget waits in the node's queue on the loop (see
 * throttle-group.h); a drain lets the waiting requests go at once.
 */

#include <errno.h>

#include "drivers/drivers.h"
#include "drivers/throttle-group.h"
#include "graph/error.h"
#include "graph/io.h"
#include "graph/iothread.h"

typedef struct ThrottleState {
    ThrottleMember member;
} ThrottleState;

static int coroutine_fn throttle_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    ThrottleState *s = node->opaque;
    const char *group = option_set_get_string(opts, "throttle-group");
    g_autoptr(GError) err = NULL;

    if (!throttle_member_join(&s->member, group, node_loop(node), &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err), "Node '%s': ", node->name);
        return -ENOENT;
    }
    node->size = node->file->node->size;
    node->request_alignment = node->file->node->request_alignment;
    return 0;
}

static void coroutine_fn throttle_close(BlockNode *node)
{
    ThrottleState *s = node->opaque;

    throttle_member_leave(&s->member);
}

static int coroutine_fn throttle_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        IOVector *qiov, BlockReqFlags flags)
{
    ThrottleState *s = node->opaque;

    throttle_member_co_intercept(&s->member, bytes, THROTTLE_READ);
    return node_co_preadv(node->file, offset, bytes, qiov, flags);
}

static int coroutine_fn throttle_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                         IOVector *qiov, BlockReqFlags flags)
{
    ThrottleState *s = node->opaque;

    throttle_member_co_intercept(&s->member, bytes, THROTTLE_WRITE);
    return node_co_pwritev(node->file, offset, bytes, qiov, flags);
}

static int coroutine_fn throttle_pwrite_zeroes(BlockNode *node, uint64_t offset,
                                               uint64_t bytes, BlockReqFlags flags)
{
    ThrottleState *s = node->opaque;

    throttle_member_co_intercept(&s->member, bytes, THROTTLE_WRITE);
    return node_co_pwrite_zeroes(node->file, offset, bytes, flags);
}

static int coroutine_fn throttle_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    ThrottleState *s = node->opaque;

    throttle_member_co_intercept(&s->member, bytes, THROTTLE_WRITE);
    return node_co_pdiscard(node->file, offset, bytes);
}

static void throttle_drain_begin(BlockNode *node)
{
    ThrottleState *s = node->opaque;

    if (s->member.group)
        throttle_member_disable(&s->member);
}

static void throttle_drain_end(BlockNode *node)
{
    ThrottleState *s = node->opaque;

    if (s->member.group)
        throttle_member_enable(&s->member);
}

/* Reopen: another group (the node is drained, so nothing waits in its queues). */
static int coroutine_fn throttle_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                                void **ret_state, GError **errp)
{
    const char *group = option_set_get_string(opts, "throttle-group");
    g_autoptr(GError) err = NULL;

    /* Its own group passes: its members are in the node's loop. */
    if (!throttle_group_check_loop(group, node_loop(node), &err)) {
        g_propagate_prefixed_error(errp, g_steal_pointer(&err), "Node '%s': ", node->name);
        return -EINVAL;
    }
    *ret_state = g_strdup(group);
    return 0;
}

static void throttle_reopen_commit(BlockNode *node, void *state)
{
    ThrottleState *s = node->opaque;
    g_autofree char *group = state;
    unsigned disabled = s->member.disabled;

    throttle_member_leave(&s->member);
    throttle_member_join(&s->member, group, node_loop(node), NULL);
    s->member.disabled = disabled;
}

static void throttle_reopen_abort(BlockNode *node, void *state)
{
    g_free(state);
}

static const OptionSpec throttle_options[] = {
    { .name = "throttle-group", .type = OPTION_STRING, .mutable_on_reopen = true,
      .required = true,
      .description = "The throttle group whose limits apply (Manager.SetThrottleGroup)" },
    OPTION_TABLE_END
};

static const char *const throttle_roles[] = { "file", NULL };
const BlockDriver block_driver_throttle = {
    .name = "throttle",
    .kind = BLOCK_DRIVER_FILTER,
    .state_size = sizeof(ThrottleState),
    .options = throttle_options,
    .child_roles = throttle_roles,
    .required_child_roles = throttle_roles,
    .co_open = throttle_open,
    .close = throttle_close,
    .co_preadv = throttle_preadv,
    .co_pwritev = throttle_pwritev,
    .co_pwrite_zeroes = throttle_pwrite_zeroes,
    .co_pdiscard = throttle_pdiscard,
    .co_truncate = block_filter_co_truncate,
    .co_block_status = block_filter_co_block_status,
    .child_perm = block_filter_child_perm,
    .drain_begin = throttle_drain_begin,
    .drain_end = throttle_drain_end,
    .reopen_prepare = throttle_reopen_prepare,
    .reopen_commit = throttle_reopen_commit,
    .reopen_abort = throttle_reopen_abort,
    .runs_in_iothread = true,
    .stays_in_loop = true,
};
