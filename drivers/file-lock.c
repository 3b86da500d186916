/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "drivers/file-lock.h"
#include "graph/error.h"
#include "graph/node.h"

#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
#define LOCK_BITS 4     /* one byte pair per BlockPerm bit */
G_STATIC_ASSERT(BLOCK_PERM_ALL == (1u << LOCK_BITS) - 1);

static int lock_byte(int fd, int byte, short type)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = type,
    };

    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Whether another open file description holds a lock on byte. */
static int byte_locked_elsewhere(int fd, int byte)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

bool file_lock_supported(int fd)
{
    struct flock fl = {
        .l_whence = SEEK_SET, .l_start = 0, .l_len = 0, .l_type = F_WRLCK,
    };

    return fcntl(fd, F_OFD_GETLK, &fl) == 0;
}

/* Locks exactly the bytes (perm, shared) asks for and unlocks the others. */
static int set_lock_bytes(int fd, uint64_t perm, uint64_t shared, int *ret_byte)
{
    for (int bit = 0; bit < LOCK_BITS; bit++) {
        int bytes[2] = { LOCK_PERM_BASE + bit, LOCK_SHARED_BASE + bit };
        bool want[2] = { perm & (1u << bit), !(shared & (1u << bit)) };

        for (int k = 0; k < 2; k++) {
            int r = lock_byte(fd, bytes[k], want[k] ? F_RDLCK : F_UNLCK);
            if (r < 0) {
                *ret_byte = bytes[k];
                return r;
            }
        }
    }
    return 0;
}

void file_lock_take(int fd, uint64_t perm, uint64_t shared)
{
    int byte;

    set_lock_bytes(fd, perm, shared, &byte);
}

static int lock_conflict(const char *filename, int bit, bool shared, GError **errp)
{
    g_set_error(errp, BG_ERROR, BG_ERROR_PERMISSION_CONFLICT,
                "Failed to get %s\"%s\" lock on '%s': is another process using the image?",
                shared ? "shared " : "", block_perm_bit_name(bit), filename);
    return -EAGAIN;
}

static int check_conflicts(int fd, const char *filename, uint64_t perm, uint64_t shared,
                           GError **errp)
{
    for (int bit = 0; bit < LOCK_BITS; bit++) {
        /* Someone does not share what we need, or needs what we do not share. */
        if ((perm & (1u << bit)) && byte_locked_elsewhere(fd, LOCK_SHARED_BASE + bit) != 0)
            return lock_conflict(filename, bit, false, errp);
        if (!(shared & (1u << bit)) && byte_locked_elsewhere(fd, LOCK_PERM_BASE + bit) != 0)
            return lock_conflict(filename, bit, true, errp);
    }
    return 0;
}

int file_lock_apply(int fd, const char *filename, uint64_t old_perm, uint64_t old_shared,
                    uint64_t perm, uint64_t shared, GError **errp)
{
    int byte = 0;
    /* Hold the union while checking, so that nobody slips in between. */
    int r = set_lock_bytes(fd, perm | old_perm, shared & old_shared, &byte);

    if (r == 0)
        r = check_conflicts(fd, filename, perm, shared, errp);
    else
        bg_set_error_errno(errp, r, "Failed to lock byte %d of '%s'", byte, filename);
    if (r < 0) {
        set_lock_bytes(fd, old_perm, old_shared, &byte);
        return r;
    }
    set_lock_bytes(fd, perm, shared, &byte);   /* only unlocks now: cannot conflict */
    return 0;
}

long file_lock_job_apply(void *opaque)
{
    FileLockJob *job = opaque;

    return file_lock_apply(job->fd, job->filename, job->old_perm, job->old_shared, job->perm,
                           job->shared, &job->err);
}
