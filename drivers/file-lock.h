/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Image locking compatible with QEMU: OFD byte-range read locks on the image
 * file.  A permission held is a lock on byte 100 + bit, a permission not
 * shared a lock on byte 200 + bit (bits as in BlockPerm).  Another process
 * (QEMU, qemu-img, another blockgraphd) that needs a permission we do not
 * share, or does not share one we need, sees the lock and refuses.
 */

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* Whether the file system supports OFD locks on fd. */
bool file_lock_supported(int fd);

/*
 * Moves fd's locks from (old_perm, old_shared) to (perm, shared), checking
 * that no other open file description conflicts.  On error the old locks
 * are back and *errp names the permission and the image.
 */
int file_lock_apply(int fd, const char *filename, uint64_t old_perm, uint64_t old_shared,
                    uint64_t perm, uint64_t shared, GError **errp);

/*
 * file_lock_apply as a worker pool job (aio/worker-pool.h): fcntl on a
 * network file system can block, so it never runs on the loop thread.
 */
typedef struct FileLockJob {
    int fd;
    const char *filename;
    uint64_t old_perm, old_shared;
    uint64_t perm, shared;
    GError *err;                /* result: set on failure */
} FileLockJob;

long file_lock_job_apply(void *opaque);

/* Takes (perm, shared) on a fresh descriptor of the same file, without checks. */
void file_lock_take(int fd, uint64_t perm, uint64_t shared);
