/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A block driver: one table of operations plus one table of options.
 *
 * Drivers are called only through the checked wrappers in graph/io.h and
 * graph/node.h, which verify ranges, writability, permissions and drain state
 * and supply fallbacks for operations a driver leaves out (pwrite_zeroes
 * falls back to writing a zero buffer, block_status to "all data").
 * Per-node state lives in node->opaque (state_size bytes, zeroed); nothing
 * per node lives in a static.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/iov.h"
#include "graph/option.h"

typedef struct BlockNode BlockNode;
typedef struct BlockChild BlockChild;
typedef struct ImageCreate ImageCreate;     /* drivers/create.h */

typedef enum BlockDriverKind {
    BLOCK_DRIVER_PROTOCOL,
    BLOCK_DRIVER_FORMAT,
    BLOCK_DRIVER_FILTER,
} BlockDriverKind;

typedef enum BlockReqFlags {
    BLOCK_REQ_FUA         = 1 << 0,  /* write: stable on return */
    BLOCK_REQ_MAY_UNMAP   = 1 << 1,  /* write_zeroes: may punch a hole */
    BLOCK_REQ_NO_FALLBACK = 1 << 2,  /* write_zeroes: fail with -ENOTSUP rather than write zeroes */
    BLOCK_REQ_NESTED      = 1 << 3,  /* read: part of a write in flight on the node (a
                                        before-write hook's read): passes its drain */
} BlockReqFlags;

/* Block status bits (node_co_block_status). */
typedef enum BlockStatus {
    BLOCK_STATUS_DATA         = 1 << 0,  /* reads return stored data */
    BLOCK_STATUS_ZERO         = 1 << 1,  /* reads return zeroes */
    BLOCK_STATUS_ALLOCATED    = 1 << 2,  /* this layer defines the content (not the backing) */
    BLOCK_STATUS_OFFSET_VALID = 1 << 3,  /* *map is the offset in *file */
    BLOCK_STATUS_RECURSE      = 1 << 4,  /* ask *file at *map (raw pass-through) */
} BlockStatus;

/* Permission bits, QEMU's numbering (lock bytes 100+bit and 200+bit). */
typedef enum BlockPerm {
    BLOCK_PERM_CONSISTENT_READ = 1 << 0,
    BLOCK_PERM_WRITE           = 1 << 1,
    BLOCK_PERM_WRITE_UNCHANGED = 1 << 2,
    BLOCK_PERM_RESIZE          = 1 << 3,
    BLOCK_PERM_ALL             = (1 << 4) - 1,
} BlockPerm;

typedef struct BlockDriver {
    const char *name;
    BlockDriverKind kind;
    size_t state_size;
    const OptionSpec *options;               /* driver's own options */
    const char *const *child_roles;          /* roles it accepts, NULL-terminated */
    const char *const *required_child_roles; /* roles that must be given */
    bool supports_backing;                   /* has a "backing" role opened from the image */
    bool dynamic_read_only;                  /* can switch RO<->RW at run time */
    /*
     * Its I/O may run on an iothread: it keeps no state shared with nodes
     * of other loops (a throttle group is shared) and needs no loop of its
     * own beyond the caller's (an NBD client socket does).
     */
    bool runs_in_iothread;
    /*
     * Opened, it keeps state of its node's loop (rbd's completion eventfd,
     * a throttle group's members): the node never moves to another loop
     * (graph/iothread.h, node_loop_can_move).
     */
    bool stays_in_loop;

    /* Format probing: score 0..100 that buf (start of the image) is ours. */
    int (*probe)(const uint8_t *buf, size_t len);

    /*
     * Opens the node.  Non-backing children are attached before this runs;
     * the backing child after, so that a format can read the backing file
     * name from its header first (set node->backing_filename / _format).
     * Sets node->size.  Returns 0 or a negative errno with *errp set.
     */
    int coroutine_fn (*co_open)(BlockNode *node, const OptionSet *opts, GError **errp);
    /* Called after the backing child is attached or changed. */
    int coroutine_fn (*co_backing_changed)(BlockNode *node, GError **errp);
    /*
     * Writes a new backing file name and format (NULL: none) into the image
     * header, in one write; updates node->backing_filename / _format.
     */
    int coroutine_fn (*co_change_backing_file)(BlockNode *node, const char *filename,
                                               const char *format, GError **errp);
    /*
     * Releases the node.  The core has flushed it; close runs in coroutine
     * context and may still do I/O (qcow2 marks the image clean).
     */
    void coroutine_fn (*close)(BlockNode *node);

    int coroutine_fn (*co_preadv)(BlockNode *node, uint64_t offset, uint64_t bytes,
                                  IOVector *qiov, BlockReqFlags flags);
    int coroutine_fn (*co_pwritev)(BlockNode *node, uint64_t offset, uint64_t bytes,
                                   IOVector *qiov, BlockReqFlags flags);
    int coroutine_fn (*co_pwrite_zeroes)(BlockNode *node, uint64_t offset, uint64_t bytes,
                                         BlockReqFlags flags);
    int coroutine_fn (*co_pdiscard)(BlockNode *node, uint64_t offset, uint64_t bytes);
    int coroutine_fn (*co_flush)(BlockNode *node);
    /* Grows (or shrinks, if the driver can) to size; sets node->size. */
    int coroutine_fn (*co_truncate)(BlockNode *node, uint64_t size, GError **errp);
    /* Returns BlockStatus bits for [offset, offset+*pnum), *pnum <= bytes, > 0. */
    int coroutine_fn (*co_block_status)(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        uint64_t *pnum, uint64_t *map, BlockNode **file);

    /*
     * Zero-copy reads (node_co_map_fd).  linear_map: [offset, offset+bytes)
     * is stored as one run of the "file" child at *file_offset, and stays
     * there while the node is open (raw); false if not.  sendfile_fd: a
     * protocol node's descriptor that sendfile(2) can read the range from
     * without waiting for a device (it is all in memory), or -1.
     */
    bool (*linear_map)(BlockNode *node, uint64_t offset, uint64_t bytes,
                       uint64_t *file_offset);
    int (*sendfile_fd)(BlockNode *node, uint64_t offset, uint64_t bytes);
    /*
     * Zero-copy writes (node_co_map_write): where in memory a protocol node's
     * [offset, offset+bytes) may be written by a kernel copy, or NULL.
     * continued: a later piece of a write mapped whole before.
     */
    void *(*write_mem)(BlockNode *node, uint64_t offset, uint64_t bytes, bool continued);

    /*
     * Copy offload (node_co_copy_range, QEMU's copy_range_from/to).
     * from: node maps [offset, offset+bytes) to the child that holds it
     * and passes the copy on (node_co_copy_range on that child); a
     * protocol node starts the second half (node_co_copy_range_to with
     * itself as the source).  to: node places [offset, +bytes) as a write
     * would (a format allocates) and passes it on (node_co_copy_range_to
     * on its child); a protocol node copies from src's storage.  -ENOTSUP:
     * cannot here (the caller then writes the whole range again).
     */
    int coroutine_fn (*co_copy_range_from)(BlockNode *node, uint64_t offset, BlockChild *dst,
                                           uint64_t dst_offset, uint64_t bytes);
    int coroutine_fn (*co_copy_range_to)(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                         uint64_t offset, uint64_t bytes);

    /*
     * What this node needs from (perm) and allows others on (shared) the
     * child in `role`, given what its own users need and share in total.
     * NULL: the core's default (graph/permission.c): a backing child is read
     * and shares write-unchanged; a storage child ("file") gets what the
     * users take plus read (metadata), and write and resize while the node
     * is writable, and shares what the users share except write and resize.
     * A filter (raw) forwards its users' needs: block_perm_filter_child.
     */
    void (*child_perm)(BlockNode *node, const char *role,
                       uint64_t parent_perm, uint64_t parent_shared,
                       uint64_t *ret_perm, uint64_t *ret_shared);

    /*
     * The node's users now take `perm` and share `shared` in total (after
     * every change).  A protocol driver takes the image locks that say so
     * and fails if another process holds conflicting ones.  Undoing a change
     * calls it again with the previous values.  May yield (the file driver
     * takes its locks in the worker pool).
     */
    int coroutine_fn (*apply_perm)(BlockNode *node, uint64_t perm, uint64_t shared,
                                   GError **errp);

    /*
     * Hand-over to another host (Node.SetActive).  co_inactivate: write back
     * everything cached and leave the image consistent on disk; the core has
     * drained the node, flushes it afterwards and then drops its locks.
     * co_activate: the image may have changed meanwhile: forget everything
     * read from it and read it again (a protocol driver: the size).  The
     * children are active again and the node holds its locks; on failure the
     * node fails (node_fail).
     */
    int coroutine_fn (*co_inactivate)(BlockNode *node);
    int coroutine_fn (*co_activate)(BlockNode *node, GError **errp);

    /*
     * Persistent dirty bitmaps (graph/bitmap.h): whether the node can store
     * one more bitmap of this name and granularity in its image (the driver
     * loads them at open and stores them at close).  NULL: it cannot.
     */
    bool (*can_store_bitmap)(BlockNode *node, const char *name, uint32_t granularity,
                             GError **errp);

    /*
     * A drain of the node began (first of nested drains) or ended (last).
     * A driver that holds requests back by itself (throttle's queues) lets
     * them go at drain_begin, or the drain would wait for them forever, as
     * QEMU's drained_begin flushes a throttled node's queue.
     */
    void (*drain_begin)(BlockNode *node);
    void (*drain_end)(BlockNode *node);

    /* Dynamic read-only: reopen the underlying image RW or RO; sets node->writable. */
    int (*set_writable)(BlockNode *node, bool writable, GError **errp);

    /*
     * Reopen with new options: prepare stages and checks (may fail), then
     * exactly one of commit or abort.  NULL: only options that are equal to
     * the current ones are accepted.
     */
    int coroutine_fn (*reopen_prepare)(BlockNode *node, const OptionSet *new_opts,
                                       void **ret_state, GError **errp);
    void (*reopen_commit)(BlockNode *node, void *state);
    void (*reopen_abort)(BlockNode *node, void *state);

    /*
     * Image creation (Manager.CreateImage, a `create` job): the options
     * <create> takes for this driver besides the common ones
     * (jobs/create.c), and the operation that writes a fresh image of this
     * driver onto c's target (drivers/create.h: a new or emptied file, or
     * a protocol node).  NULL: the driver cannot create images.
     * create_check: the checks that need no I/O (option combinations), so
     * that bad input fails before anything is created; may be NULL.
     */
    const OptionSpec *create_options;
    /*
     * The create_options say where the image goes (rbd: pool and image):
     * <create> takes neither filename= nor <file ref>, c->target is NULL, and
     * co_create runs while the job is set up (its errors fail CreateImage
     * itself, as an existing file does) with no progress callbacks.
     */
    bool create_locates_image;
    bool (*create_check)(ImageCreate *c, GError **errp);
    int coroutine_fn (*co_create)(ImageCreate *c, GError **errp);
} BlockDriver;

/* child_perm of a filter: the child gets exactly what the node's users take and share. */
void block_perm_filter_child(uint64_t parent_perm, uint64_t parent_shared,
                             uint64_t *ret_perm, uint64_t *ret_shared);

/*
 * Whether a node of drv can change the option at reopen: the table marks it
 * mutable and either the core applies it or the driver implements
 * reopen_prepare.  Driver.Options and reopen both ask this.
 */
bool block_driver_option_mutable(const BlockDriver *drv, const OptionSpec *spec);

/* All drivers, in one explicit list. */
const BlockDriver *const *block_drivers(void);
const BlockDriver *block_driver_find(const char *name);
const char *block_driver_kind_name(BlockDriverKind kind);
/*
 * Driver.Capabilities, derived from the table (no driver lists them): the
 * operations it fills (resize, discard, zero-write, block-status, reopen,
 * locking), its flags (backing, dynamic-read-only or fallback-read-only) and
 * options (reconnect: reconnect-delay).  Free with g_strfreev.
 */
char **block_driver_capabilities(const BlockDriver *drv);
