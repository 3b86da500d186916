/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Throttle groups: I/O limits shared by the `throttle` filter nodes that
 * name a group (QEMU's throttle-group objects and block/throttle-groups.c).
 *
 * A group holds one set of leaky buckets (QEMU's util/throttle.c: bps and
 * iops, total or read/write, each with an optional burst rate `-max` kept
 * up for `-max-length` seconds, and iops-size); every member node's
 * requests drain them.  A request that would overflow a bucket waits in its
 * member's queue on the loop; one timer per group and direction wakes the
 * next member in round-robin order, so that members share the budget
 * fairly.  The members of a group are in one loop (the main loop or one
 * iothread), which runs its timers.  Limits may change while requests wait: the buckets start empty
 * again and the waiting requests are measured against the new limits.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "graph/option.h"

typedef enum ThrottleDirection {
    THROTTLE_READ,
    THROTTLE_WRITE,
    THROTTLE_DIRECTIONS,
} ThrottleDirection;

typedef struct ThrottleGroup ThrottleGroup;

/* One member node of a group: its queues of waiting requests. */
typedef struct ThrottleMember {
    ThrottleGroup *group;
    CoQueue queue[THROTTLE_DIRECTIONS];
    unsigned pending[THROTTLE_DIRECTIONS];  /* requests waiting in queue */
    unsigned disabled;                      /* > 0: drained, no limits apply */
} ThrottleMember;

/* The limit options of a group (<throttle-group iops-total="..."/>), QEMU's names. */
extern const OptionSpec throttle_limit_options[];

/*
 * Creates group id, or gives an existing one new limits, from raw option
 * texts (name -> text).  Bad or conflicting limits: InvalidArgument naming
 * the group and the option, and nothing changes.  implicit: created for one
 * disk (AddDisk); it goes away with its last member.  A group set by this
 * call without `implicit` stays (and an implicit one becomes explicit).
 */
bool throttle_group_set(const char *id, GHashTable *raw, bool implicit, GError **errp);
/* Checks limits as throttle_group_set would, changing nothing. */
bool throttle_limits_check(const char *id, GHashTable *raw, GError **errp);
/* An implicit group with no members: removes it (AddDisk failed or RemoveDisk). */
void throttle_group_release(const char *id);
bool throttle_group_exists(const char *id);
/* The group's limits as given, in table order (NULL if unknown); for messages and tests. */
const OptionSet *throttle_group_limits(const char *id);

/*
 * Whether a node of loop may join group id: NotFound for an unknown group,
 * InvalidArgument when its members are in another loop (the group's
 * buckets, queues and timers are one loop's, never locked).
 */
bool throttle_group_check_loop(const char *id, AioLoop *loop, GError **errp);
/* Joins group id (throttle_group_check_loop) from loop, or leaves its group. */
bool throttle_member_join(ThrottleMember *m, const char *id, AioLoop *loop, GError **errp);
void throttle_member_leave(ThrottleMember *m);

/* Waits until the group's budget allows bytes in direction dir, then charges them. */
void coroutine_fn throttle_member_co_intercept(ThrottleMember *m, uint64_t bytes,
                                               ThrottleDirection dir);

/* Drain: waiting requests go at once (charged, not delayed), and new ones are not held. */
void throttle_member_disable(ThrottleMember *m);
void throttle_member_enable(ThrottleMember *m);
