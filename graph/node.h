/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A node of the block graph and the links to and from it.
 *
 * A BlockChild is one use of a node: by a parent node through a role
 * ("file", "backing"), by an export or by a job.  node->parents lists every
 * use (so Node.Users reads it), parent->children the links a node holds.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "graph/driver.h"
#include "graph/option.h"

typedef enum NodeDiscard {
    NODE_DISCARD_IGNORE,
    NODE_DISCARD_UNMAP,
} NodeDiscard;

typedef enum DetectZeroes {
    DETECT_ZEROES_OFF,
    DETECT_ZEROES_ON,
    DETECT_ZEROES_UNMAP,
} DetectZeroes;

typedef enum BlockUserKind {
    BLOCK_USER_NODE,        /* a parent node through a child link */
    BLOCK_USER_EXPORT,
    BLOCK_USER_JOB,
    BLOCK_USER_INTERNAL,    /* the daemon itself (shutdown, tests) */
} BlockUserKind;

struct BlockChild {
    BlockNode *node;            /* the node being used */
    char *role;                 /* "file", "backing", "export", ... */
    BlockUserKind user_kind;
    BlockNode *parent;          /* BLOCK_USER_NODE only */
    char *user_name;            /* export or job id; parent node name */
    uint64_t perm;              /* BlockPerm bits taken */
    uint64_t shared_perm;       /* BlockPerm bits others may take */
    unsigned frozen;            /* > 0: the link may not be changed (jobs) */
    const char *frozen_by;      /* the id of the job that froze it */
    uint64_t job_shared;        /* more a job lets others do below this link (commit writes
                                   the base under the chain it copies, as QEMU's commit_top) */
    /* Told after graph_co_replace_node moved the link from old_node to c->node (exports). */
    void (*moved)(BlockChild *c, BlockNode *old_node);
    void *owner;                /* the object moved() is about */
    uint64_t requests;          /* reads, writes, zero writes and discards sent through it */
};

struct BlockNode {
    char *name;
    bool name_generated;        /* "#blockNNN" for unnamed inline children */
    bool from_image_header;     /* opened because an image header names it as its
                                   backing file (with its file node), not from XML */
    const BlockDriver *drv;
    void *opaque;               /* driver state, drv->state_size bytes */
    OptionSet *options;         /* common + driver options as opened */

    char *filename;             /* protocol: the path; format: its file's */
    char *backing_filename;     /* set by a format's co_open when the image names one */
    char *backing_format;
    uint64_t size;

    bool read_only;             /* configured read-only=on */
    bool auto_read_only;
    bool writable;              /* open read-write right now */
    bool active;
    AioLoop *loop;              /* the iothread doing its I/O; NULL: the main loop */
    bool user_owned;            /* added by AddNode: stays until RemoveNode; other
                                   nodes go when their last user goes */
    bool opened;                /* co_open succeeded: close is due */
    bool registered;            /* in the graph (visible, on the bus) */
    bool removing;              /* being closed (RemoveNode, last user gone): no new users */
    char *failure;              /* set by node_fail: requests get EIO from now on */
    uint64_t locked_perm;       /* what apply_perm last applied (image locks) */
    uint64_t locked_shared;

    GPtrArray *children;        /* BlockChild*: links this node holds */
    GPtrArray *parents;         /* BlockChild*: uses of this node */
    BlockChild *file;           /* shortcuts into children, or NULL */
    BlockChild *backing;

    /* Request path. */
    uint32_t request_alignment; /* >= 1 */
    uint64_t max_transfer;      /* 0: no limit */
    unsigned in_flight;
    unsigned quiesce_counter;   /* > 0: drained; new requests wait */
    CoQueue quiesce_waiters;    /* requests held back while drained */
    CoQueue idle_waiters;       /* drainers waiting for in_flight == 0 */
    GQueue held_waits;          /* requests in flight here waiting out another node's
                                   drain (graph/io.c: a drain here lets them go on) */
    GList *write_tracks;        /* WriteTrack*: writes in flight (aligned nodes, or range-locked) */
    unsigned range_lockers;     /* > 0: every write is tracked (node_co_range_lock_start) */
    unsigned read_lockers;      /* > 0: reads are tracked too (node_co_range_lock_reads_start) */
    GList *write_observers;     /* WriteObserver*: told of every write, before and after (graph/io.h) */

    /* Common options, decoded once for the request path. */
    uint8_t detect_zeroes;      /* DetectZeroes */
    bool discard_unmap;         /* discard=unmap */

    GList *bitmaps;             /* DirtyBitmap* (graph/bitmap.h) */

    GList *graph_link;          /* position in the graph's node list */
};

/* node-name rules as in QEMU: a letter first, then letters, digits, '-', '.', '_'; at most 31. */
#define NODE_NAME_MAX 31
bool node_name_is_valid(const char *name);

/* Whether the node takes writes now: open read-write and active (Node.Writable). */
bool node_takes_writes(const BlockNode *node);

/*
 * What the node's loop changes and the bus reads without its lock
 * (docs/architecture.md, "Event loops"): the size (a qcow2 node in an
 * iothread grows its file), the failure and the driver it switches to.
 * Written with these, read with these from another thread.
 */
static inline void node_set_size(BlockNode *node, uint64_t size)
{
    __atomic_store_n(&node->size, size, __ATOMIC_RELAXED);
}

static inline uint64_t node_size_published(const BlockNode *node)
{
    return __atomic_load_n(&node->size, __ATOMIC_RELAXED);
}

static inline const char *node_failure_published(const BlockNode *node)
{
    return __atomic_load_n(&node->failure, __ATOMIC_ACQUIRE);
}

static inline const BlockDriver *node_driver_published(const BlockNode *node)
{
    return __atomic_load_n(&node->drv, __ATOMIC_ACQUIRE);
}

/* Options every node takes, whatever its driver. */
extern const OptionSpec node_common_options[];
/* Decodes the common options the request path reads (discard, detect-zeroes) from node->options. */
void node_apply_common_options(BlockNode *node);

const char *node_user_kind_name(BlockUserKind kind);

/* The name of permission bit `bit` (BLOCK_PERM_WRITE: bit 1, "write"): spelled only here. */
const char *block_perm_bit_name(unsigned bit);
/* Perm bits -> "consistent-read", "write", ... (NULL-terminated, g_strfreev). */
char **block_perm_names(uint64_t perm);
/* "write, resize" for messages. */
char *block_perm_describe(uint64_t perm);

/*
 * Attaches a user (export, job, a bus call) to node; fails if the permissions
 * conflict, or with NotFound while the node is being removed.  The caller
 * holds the graph lock (graph_co_lock) when it runs in a coroutine: a
 * read-write switch or image lock change may yield.
 */
BlockChild *node_attach_user(BlockNode *node, BlockUserKind kind, const char *user_name,
                             const char *role, uint64_t perm, uint64_t shared_perm,
                             GError **errp);
/*
 * Gives the user's permissions back and unlinks it; a node nobody holds any
 * more is closed and freed.  Takes the graph lock (do not hold it), so call it
 * in a coroutine.
 */
void coroutine_fn node_detach_user(BlockChild *child);

/* Links child under parent in role; permissions from the parent's driver. */
BlockChild *node_attach_child(BlockNode *parent, BlockNode *child, const char *role,
                              GError **errp);
/*
 * Unlinks.  A node that no user-owned root and no other user holds any more
 * is closed and freed; since closing may do I/O, call this in a coroutine.
 */
void node_detach_child(BlockChild *child);

BlockChild *node_find_child(const BlockNode *node, const char *role);

/* A string describing a user for messages: "node 'top' (uses node 'base' as 'backing' child)". */
char *block_child_describe_user(const BlockChild *child);

/*
 * What changed about a node, for the listener (the bus turns each into the
 * property it shows; graph code knows no property names).
 */
typedef enum NodeChange {
    NODE_CHANGE_DRIVER,         /* failed over to the `error` driver */
    NODE_CHANGE_SIZE,
    NODE_CHANGE_READ_ONLY,      /* the configured read-only option */
    NODE_CHANGE_AUTO_READ_ONLY,
    NODE_CHANGE_WRITABLE,       /* open read-write or not, active or not */
    NODE_CHANGE_ACTIVE,
    NODE_CHANGE_FILENAME,
    NODE_CHANGE_FAILURE,        /* node_fail: why it failed */
    NODE_CHANGE_CHILDREN,
    NODE_CHANGE_USERS,          /* a user came, went or changed its permissions */
    NODE_CHANGE_BITMAPS,
    NODE_CHANGE_COUNT,
} NodeChange;

/* Tells the listener what changed on the node (the bus: PropertiesChanged). */
void node_notify_changed(BlockNode *node, NodeChange change);

/*
 * Activates (children first) or inactivates a node.  An inactive node holds
 * no image locks, refuses writers and resize (Inactive); inactivating refuses
 * while an active user still writes to the node.
 */
int coroutine_fn node_co_set_active(BlockNode *node, bool active, GError **errp);

/*
 * A driver found the image fatally broken (corrupt metadata): every request
 * gets EIO from now on, and once nothing is in flight the node switches to
 * the `error` driver, so that the daemon keeps running and the node keeps
 * answering.  Safe to call from inside a driver's request.
 */
void node_fail(BlockNode *node, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
