/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The `file` protocol driver: a regular file (block devices are
 * host_device's, as in QEMU: drivers/host-device.c shares this code).
 *
 * Reads and writes go through the loop's io_uring (aio=io_uring, and the
 * default where the kernel permits it: file_choose_aio), the worker pool
 * (aio=threads) or Linux AIO (aio=native, which needs cache.direct=on).
 * With io_uring, fdatasync and fallocate go through the ring too.
 * Everything else that may block (open, ftruncate, lseek, and the rest
 * under the other engines) runs in the worker pool, so the loop never waits
 * for the disk.  The blocking halves live in file-jobs.c.
 *
 * With cache.direct=on the file is opened with O_DIRECT; node->request_alignment
 * is the kernel's offset alignment (the core aligns requests to it), and
 * buffers that are not aligned in memory are bounced through an aligned one.
 *
 * Image locks (file-lock.c) follow the permissions the node's users hold,
 * as QEMU's do.  With auto-read-only=on the file is opened read-only and
 * reopened read-write while some user needs to write (dynamic read-only);
 * switching descriptors uses dup2() so requests in flight keep theirs.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "aio/linux-aio.h"
#include "aio/loop.h"
#include "aio/uring.h"
#include "aio/worker-pool.h"
#include "drivers/create.h"
#include "drivers/drivers.h"
#include "drivers/file.h"
#include "drivers/file-inline.h"
#include "drivers/file-jobs.h"
#include "policy/allow-path.h"
#include "drivers/file-lock.h"
#include "graph/error.h"
#include "graph/node.h"


static const char *const file_aio_values[] = {
    [FILE_AIO_THREADS] = "threads", [FILE_AIO_NATIVE] = "native",
    [FILE_AIO_IO_URING] = "io_uring", NULL,
};
static const char *const file_locking_values[] = {
    [FILE_LOCKING_AUTO] = "auto", [FILE_LOCKING_ON] = "on", [FILE_LOCKING_OFF] = "off", NULL,
};

static int file_open_flags(const FileState *s, bool writable)
{
    return O_CLOEXEC | (s->direct ? O_DIRECT : 0) | (writable ? O_RDWR : O_RDONLY);
}

static void file_forget_data_extent(FileState *s)
{
    s->data_start = s->data_end = 0;
    s->data_gen++;
}

/* ---- opening the image ---- */

/* open(2) does not return on a dead NFS server: give up after this long. */
#define FILE_OPEN_TIMEOUT_S 15

static int file_open_job_take_fd(FileOpenJob *job)
{
    int fd = job->fd;

    job->fd = -1;
    return fd;
}

static const char *file_type_name(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFIFO:
        return "a FIFO";
    case S_IFBLK:
        return "a block device";
    case S_IFCHR:
        return "a character device";
    case S_IFSOCK:
        return "a socket";
    case S_IFREG:
        return "a regular file";
    default:
        return "not a regular file";
    }
}

/*
 * Why opening the image failed, naming node and path.  A read-write
 * reopen refused for permission reasons is ReadOnly, not AccessDenied: a
 * format node with auto-read-only=on then settles for read-only
 * (graph-add.c), as QEMU's auto-read-only does on EACCES/EPERM/EROFS.
 */
static void file_set_open_error(BlockNode *node, const char *path, int flags,
                                const FileOpenJob *job, int ret, GError **errp)
{
    const char *verb = node->opened ? "reopen" : "open";
    const char *mode = (flags & O_ACCMODE) == O_RDWR ? "read-write" : "read-only";

    if (job && job->confine_ret < 0) {
        allow_path_set_error(errp, path, job->confine_ret);
        g_prefix_error(errp, "Could not %s node '%s': ", verb, node->name);
    } else if (!job && ret == -ETIMEDOUT) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "Could not %s '%s' for node '%s': "
                    "no answer within %d s (a hung file system?)", verb, path, node->name,
                    FILE_OPEN_TIMEOUT_S);
    } else if (!job) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Could not %s '%s' for node '%s': shutting down", verb, path, node->name);
    } else if (ret == -EAGAIN && !worker_pool_may_abandon()) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Could not %s '%s' for node '%s': %d opens are waiting or hang already "
                    "(a hung file system?); no more are tried until they return", verb, path,
                    node->name, WORKER_POOL_MAX_ABANDONED);
    } else if (ret == -EINVAL && job->mode && !S_ISREG(job->mode)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Could not %s '%s' for node '%s': it is %s; the file driver opens "
                    "regular files only%s", verb, path, node->name, file_type_name(job->mode),
                    S_ISBLK(job->mode) ? " (host_device opens block devices)" : "");
    } else if (ret == -ENOTBLK) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Could not %s '%s' for node '%s': it is %s; the host_device driver opens "
                    "block devices only%s", verb, path, node->name, file_type_name(job->mode),
                    S_ISREG(job->mode) ? " (file opens regular files)" : "");
    } else if (ret == -EINVAL && (flags & O_DIRECT)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Could not %s '%s' for node '%s' with cache.direct=on: "
                    "the file system does not support O_DIRECT", verb, path, node->name);
    } else if (node->opened && (flags & O_ACCMODE) == O_RDWR &&
               (ret == -EACCES || ret == -EPERM || ret == -EROFS)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_READ_ONLY, "Could not %s '%s' %s for node '%s': %s",
                    verb, path, mode, node->name, g_strerror(-ret));
    } else {
        bg_set_error_errno(errp, ret, "Could not %s '%s' %s for node '%s'", verb, path, mode,
                           node->name);
    }
}

/*
 * Opens node's image at path in the worker pool: the job holds the
 * descriptor and what the open found, or NULL with *ret and *errp set.  An
 * open that hangs is abandoned after FILE_OPEN_TIMEOUT_S, or at shutdown, so
 * that it never holds the graph for good.
 */
static FileOpenJob *coroutine_fn file_co_open_job(BlockNode *node, const char *path, int flags,
                                                 GError **errp, int *ret)
{
    g_autoptr(FileOpenJob) job = file_open_job_new(path, flags);

    job->block_device = node->drv == &block_driver_host_device;

    *ret = (int)worker_pool_co_run_abandonable(file_job_open, (void **)&job, file_open_job_free,
                                               FILE_OPEN_TIMEOUT_S * G_USEC_PER_SEC);
    if (*ret < 0) {
        file_set_open_error(node, path, flags, job, *ret, errp);
        return NULL;
    }
    return g_steal_pointer(&job);
}

/* ---- reads and writes ---- */

static bool file_iov_aligned(const FileState *s, const IOVector *qiov)
{
    uintptr_t mask = s->mem_align - 1;

    if (s->mem_align <= 1)
        return true;
    if (qiov->niov > IOV_MAX)
        return false;
    for (int i = 0; i < qiov->niov; i++) {
        if (((uintptr_t)qiov->iov[i].iov_base | qiov->iov[i].iov_len) & mask)
            return false;
    }
    return true;
}

/*
 * A large copy to or from tmpfs runs on the loop when that is an iothread:
 * the request's buffer was just filled (or is about to be sent) by this
 * thread, and a worker on another CPU would fetch all of it from this
 * CPU's cache and wake the loop afterwards; the copy costs a third more
 * there (docs/nbd.md).  Not on the main loop: it also answers the bus, and
 * serves every node when there are no iothreads.  (A write's payload
 * received into the mapped file is no extra copy: drivers/file-mem.c
 * does that on every loop.)
 */
bool file_large_copy_here(void)
{
    return !aio_loop_is_main(aio_loop_self());
}

/* One transfer without bouncing: bytes moved or -errno. */
static long coroutine_fn file_co_rw_raw(FileState *s, bool write, uint64_t offset,
                                        const struct iovec *iov, int niov, size_t bytes,
                                        int rw_flags)
{
    FileRwJob job = {
        .fd = s->fd, .write = write, .offset = offset,
        .bytes = bytes, .iov = iov, .niov = niov, .rw_flags = rw_flags,
    };
    long ret;

    if (s->aio == FILE_AIO_IO_URING) {
        ret = uring_co_rw(s->fd, write, offset, iov, niov, rw_flags);
        if (ret != -ENXIO)
            return ret;
        /* No ring on this loop (a loop where io_uring_queue_init failed): the pool. */
    }
    if (s->aio != FILE_AIO_NATIVE) {
        if (file_inline_try(&s->inline_io, &job, file_large_copy_here, &ret))
            return ret;
        return worker_pool_co_run(file_job_rw, &job);
    }

    ret = linux_aio_co_submit(s->fd, !write ? LINUX_AIO_READ
                                     : rw_flags ? LINUX_AIO_WRITE_DSYNC : LINUX_AIO_WRITE,
                              offset, iov, niov);
    if (ret >= 0 && (size_t)ret < bytes && write)
        ret = -ENOSPC;
    return ret;
}

/* Through an aligned bounce buffer (O_DIRECT with unaligned memory). */
static long coroutine_fn file_co_rw_bounce(FileState *s, bool write, uint64_t offset,
                                           IOVector *qiov, size_t bytes, int rw_flags)
{
    void *buf = NULL;
    struct iovec iov;
    long ret;

    if (posix_memalign(&buf, MAX(s->mem_align, sizeof(void *)), MAX(bytes, 1)) != 0)
        return -ENOMEM;
    if (write)
        iov_to_buf(qiov, 0, buf, bytes);
    iov = (struct iovec){ .iov_base = buf, .iov_len = bytes };
    ret = file_co_rw_raw(s, write, offset, &iov, 1, bytes, rw_flags);
    if (!write && ret > 0)
        iov_from_buf(qiov, 0, buf, (size_t)ret);
    free(buf);
    return ret;
}

/* Closes the buffered descriptors retired while tail transfers used them. */
static void file_close_retired(FileState *s)
{
    for (guint i = 0; s->retired_fds && i < s->retired_fds->len; i++)
        close(g_array_index(s->retired_fds, int, i));
    if (s->retired_fds)
        g_array_set_size(s->retired_fds, 0);
}

/*
 * With O_DIRECT, the core aligns requests except at the end of a file whose
 * size is no multiple of the alignment.  Those go through a second, buffered
 * descriptor; the kernel keeps page cache and direct I/O coherent.
 */
static long coroutine_fn file_co_rw_unaligned(BlockNode *node, bool write, uint64_t offset,
                                              uint64_t bytes, IOVector *qiov, int rw_flags)
{
    FileState *s = node->opaque;
    FileRwJob job = {
        .write = write, .offset = offset, .bytes = bytes,
        .iov = qiov->iov, .niov = qiov->niov, .rw_flags = rw_flags,
    };

    long ret;

    while (s->buffered_fd < 0) {
        unsigned gen = s->buffered_gen;
        g_autoptr(FileOpenJob) open_job = NULL;
        int r;

        open_job = file_co_open_job(node, node->filename,
                                    file_open_flags(s, node->writable) & ~O_DIRECT, NULL, &r);
        if (!open_job)
            return r;
        /* Another request was quicker, or the mode changed meanwhile. */
        if (s->buffered_fd < 0 && gen == s->buffered_gen)
            s->buffered_fd = file_open_job_take_fd(open_job);
    }
    job.fd = s->buffered_fd;
    s->buffered_users++;
    ret = worker_pool_co_run(file_job_rw, &job);
    if (--s->buffered_users == 0)
        file_close_retired(s);
    return ret;
}

/*
 * A read ended at end of file before the node's size: someone shrank the
 * file under us.  As QEMU's file driver does, the rest reads as zeroes (and
 * a write there grows the file again); unlike QEMU, say so once per node.
 */
static void file_note_short_read(BlockNode *node, uint64_t eof)
{
    FileState *s = node->opaque;

    if (s->warned_short || eof >= node->size)
        return;
    s->warned_short = true;
    g_warning("Node '%s': '%s' ends at %" G_GUINT64_FORMAT " bytes, before the node's size of %"
              G_GUINT64_FORMAT ": was it truncated by another program? Reads past its end "
              "return zeroes", node->name, node->filename, eof, node->size);
}

/* rw_flags: RWF_DSYNC for a FUA write, else 0. */
static int coroutine_fn file_co_rw(BlockNode *node, bool write, uint64_t offset,
                                   uint64_t bytes, IOVector *qiov, int rw_flags)
{
    FileState *s = node->opaque;
    IOVector slice;
    long ret;

    if (bytes == 0)
        return 0;
    if (qiov->size != bytes) {
        iov_init(&slice, qiov->niov);
        iov_concat_slice(&slice, qiov, 0, bytes);
        ret = file_co_rw(node, write, offset, bytes, &slice, rw_flags);
        iov_destroy(&slice);
        return (int)ret;
    }

    if (s->direct && ((offset | bytes) & (node->request_alignment - 1)))
        ret = file_co_rw_unaligned(node, write, offset, bytes, qiov, rw_flags);
    else if (file_iov_aligned(s, qiov))
        ret = file_co_rw_raw(s, write, offset, qiov->iov, qiov->niov, bytes, rw_flags);
    else
        ret = file_co_rw_bounce(s, write, offset, qiov, bytes, rw_flags);
    if (ret < 0)
        return (int)ret;
    if (!write && (uint64_t)ret < bytes) {
        iov_memset(qiov, (size_t)ret, 0, bytes - (size_t)ret);   /* EOF */
        file_note_short_read(node, offset + (uint64_t)ret);
    }
    return 0;
}

static int coroutine_fn file_co_sync(FileState *s)
{
    int ret;

    if (s->no_flush)
        return 0;
    if (s->aio == FILE_AIO_IO_URING) {
        ret = uring_co_fdatasync(s->fd);
        if (ret != -ENXIO)
            return ret;
    }
    return (int)worker_pool_co_run(file_job_fdatasync, &s->fd);
}

/* fallocate(2) through the node's engine: io_uring, else the pool. */
static long coroutine_fn file_co_fallocate(FileState *s, FileFallocateJob *job)
{
    long ret;

    if (s->aio == FILE_AIO_IO_URING) {
        ret = uring_co_fallocate(job->fd, job->mode, job->offset, job->bytes);
        if (ret != -ENXIO)
            return ret;
    }
    return worker_pool_co_run(file_job_fallocate, job);
}

/* Zeroes a range that stays allocated: punch a hole, then allocate it (tmpfs). */
static long coroutine_fn file_co_punch_and_allocate(FileState *s, FileFallocateJob *job)
{
    long ret;

    if (s->aio != FILE_AIO_IO_URING)
        return worker_pool_co_run(file_job_punch_and_allocate, job);
    job->mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    ret = file_co_fallocate(s, job);
    if (ret < 0)
        return ret;
    job->mode = FALLOC_FL_KEEP_SIZE;
    ret = file_co_fallocate(s, job);
    /* The range reads as zeroes either way; allocation is best effort. */
    return ret == -EOPNOTSUPP || ret == -ENOSPC ? 0 : ret;
}

int coroutine_fn file_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       IOVector *qiov, BlockReqFlags flags)
{
    return file_co_rw(node, false, offset, bytes, qiov, 0);
}

/*
 * FUA: one write with RWF_DSYNC (pwritev2, or the Linux AIO equivalent)
 * where the kernel has it, else the write and then fdatasync.
 */
int coroutine_fn file_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        IOVector *qiov, BlockReqFlags flags)
{
    FileState *s = node->opaque;
    bool fua = (flags & BLOCK_REQ_FUA) && !s->no_flush;
    int ret;

    if (fua && s->has_dsync) {
        ret = file_co_rw(node, true, offset, bytes, qiov, RWF_DSYNC);
        if (ret != -EOPNOTSUPP)
            return ret;
        s->has_dsync = false;
    }
    ret = file_co_rw(node, true, offset, bytes, qiov, 0);
    if (ret == 0 && fua)
        ret = file_co_sync(s);
    return ret;
}

/* ---- zeroes, discard, flush, resize, status ---- */

static int coroutine_fn file_co_punch(FileState *s, uint64_t offset, uint64_t bytes)
{
    FileFallocateJob job = {
        .fd = s->fd, .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
        .offset = offset, .bytes = bytes,
    };
    long ret;

    if (!s->has_punch_hole)
        return -ENOTSUP;
    ret = file_co_fallocate(s, &job);
    if (ret == -EOPNOTSUPP)
        s->has_punch_hole = false;
    return ret == -EOPNOTSUPP ? -ENOTSUP : (int)ret;
}

static int coroutine_fn file_co_zero_range(FileState *s, uint64_t offset, uint64_t bytes)
{
    FileFallocateJob job = {
        .fd = s->fd, .mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
        .offset = offset, .bytes = bytes,
    };
    long ret = -EOPNOTSUPP;

    if (s->has_zero_range) {
        ret = file_co_fallocate(s, &job);
        if (ret == -EOPNOTSUPP)
            s->has_zero_range = false;
    }
    /* tmpfs and others: punch a hole and allocate it again. */
    if (ret == -EOPNOTSUPP && s->has_punch_hole) {
        ret = file_co_punch_and_allocate(s, &job);
        if (ret == -EOPNOTSUPP)
            s->has_punch_hole = false;
    }
    return ret == -EOPNOTSUPP ? -ENOTSUP : (int)ret;
}

static int coroutine_fn file_co_pwrite_zeroes(BlockNode *node, uint64_t offset,
                                              uint64_t bytes, BlockReqFlags flags)
{
    FileState *s = node->opaque;
    int ret = -ENOTSUP;

    /* Before and after: a query running meanwhile must not store its answer. */
    file_forget_data_extent(s);
    if ((flags & BLOCK_REQ_MAY_UNMAP) && s->unmap)
        ret = file_co_punch(s, offset, bytes);
    if (ret == -ENOTSUP)
        ret = file_co_zero_range(s, offset, bytes);
    file_forget_data_extent(s);
    if (ret == 0 && (flags & BLOCK_REQ_FUA))
        ret = file_co_sync(s);
    return ret;
}

static int coroutine_fn file_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    FileState *s = node->opaque;
    int ret;

    if (!s->unmap)
        return 0;
    file_forget_data_extent(s);
    ret = file_co_punch(s, offset, bytes);
    file_forget_data_extent(s);
    /* Discard is a hint: a file system without holes simply keeps the data. */
    return ret == -ENOTSUP ? 0 : ret;
}

int coroutine_fn file_co_flush(BlockNode *node)
{
    return file_co_sync(node->opaque);
}

static int coroutine_fn file_co_truncate(BlockNode *node, uint64_t size, GError **errp)
{
    FileState *s = node->opaque;
    FileTruncateJob job = { .fd = s->fd, .size = size };
    long ret;

    if (size > INT64_MAX) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Size %" G_GUINT64_FORMAT " is too large for node '%s'", size, node->name);
        return -EFBIG;
    }
    file_forget_data_extent(s);
    ret = worker_pool_co_run(file_job_truncate, &job);
    file_forget_data_extent(s);
    if (ret < 0) {
        bg_set_error_errno(errp, (int)ret, "Could not resize '%s' of node '%s' to %"
                           G_GUINT64_FORMAT " bytes", node->filename, node->name, size);
        return (int)ret;
    }
    node_set_size(node, size);
    s->warned_short = false;
    return 0;
}

static int coroutine_fn file_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                             uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    FileState *s = node->opaque;
    FileSeekJob job = { .fd = s->fd, .offset = offset, .bytes = bytes };
    uint64_t align = node->request_alignment;
    int ret = BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
    unsigned gen = s->data_gen;

    if (offset >= s->data_start && offset < s->data_end) {
        job.pnum = MIN(s->data_end - offset, bytes);
    } else {
        /* Where lseek cannot tell, the job answers data for the whole range. */
        worker_pool_co_run(file_job_seek, &job);
        if (job.data_end && gen == s->data_gen) {
            s->data_start = offset;
            s->data_end = job.data_end;
        }
    }
    /* Keep extents aligned for O_DIRECT; a partial block counts as data. */
    if (align > 1 && offset + job.pnum < node->size && job.pnum % align) {
        if (job.pnum > align) {
            job.pnum -= job.pnum % align;
        } else {
            job.zero = false;
            job.pnum = MIN(align, bytes);
        }
    }
    *pnum = job.pnum;
    *map = offset;
    *file = node;
    return ret | (job.zero ? BLOCK_STATUS_ZERO : BLOCK_STATUS_DATA);
}

/* sendfile(2) from the node's descriptor (not O_DIRECT), for data in the page cache. */
static int file_sendfile_fd(BlockNode *node, uint64_t offset, uint64_t bytes)
{
    FileState *s = node->opaque;

    if (s->direct || !file_inline_range_cached(&s->inline_io, s->fd, offset, bytes))
        return -1;
    return s->fd;
}

int file_node_fd(const BlockNode *node)
{
    const FileState *s = node->opaque;

    return s->fd;
}

bool file_node_unmap(const BlockNode *node)
{
    const FileState *s = node->opaque;

    return s->unmap;
}

/* ---- open, close, reopen ---- */

/* aio=io_uring asked for: this loop's ring, or an error naming the node. */
static bool file_check_uring(BlockNode *node, const FileState *s, GError **errp)
{
    int r;

    if (s->aio != FILE_AIO_IO_URING)
        return true;
    r = uring_loop_init();
    if (r < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Node '%s': aio=io_uring is not available (io_uring_setup: %s)",
                    node->name, g_strerror(-r));
        return false;
    }
    return true;
}

/*
 * Without an aio option: io_uring, except for buffered files on tmpfs or
 * ramfs, whose transfers are copies that file-inline.c does on the loop
 * thread (the kernel has no non-blocking path for them and would hand each
 * one to an io_uring worker); the pool where io_uring is not permitted.
 * The measurements behind this are in docs/architecture.md.
 */
static void file_choose_aio(BlockNode *node, FileState *s)
{
    int r;

    if (s->aio != FILE_AIO_AUTO)
        return;
    s->aio = FILE_AIO_THREADS;
    if (s->memory_fs && !s->direct)
        return;
    r = uring_loop_init();
    if (r < 0) {
        g_debug("Node '%s': io_uring is not available (%s), using aio=threads", node->name,
                g_strerror(-r));
        return;
    }
    s->aio = FILE_AIO_IO_URING;
}

static bool file_parse_options(BlockNode *node, FileState *s, const OptionSet *opts,
                               GError **errp)
{
    s->aio = option_set_is_set(opts, "aio") ? option_set_get_enum(opts, "aio") : FILE_AIO_AUTO;
    s->locking = option_set_get_enum(opts, "locking");
    s->direct = option_set_get_bool(opts, "cache.direct");
    s->no_flush = option_set_get_bool(opts, "cache.no-flush");
    s->unmap = option_set_get_enum(opts, "discard") == NODE_DISCARD_UNMAP;
    s->has_zero_range = true;
    s->has_punch_hole = true;
    s->has_dsync = true;

    if (s->aio == FILE_AIO_NATIVE && !s->direct) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Node '%s': aio=native requires cache.direct=on", node->name);
        return false;
    }
    if (s->aio == FILE_AIO_NATIVE && !linux_aio_available()) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Node '%s': aio=native is not available (io_setup failed)", node->name);
        return false;
    }
    return file_check_uring(node, s, errp);
}

static bool file_setup_locking(BlockNode *node, FileState *s, bool supported, GError **errp)
{
    if (s->locking == FILE_LOCKING_ON && !supported) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "Node '%s': locking=on, but the file system of '%s' has no OFD locks",
                    node->name, node->filename);
        return false;
    }
    s->lock_enabled = s->locking != FILE_LOCKING_OFF && supported;
    return true;
}

int coroutine_fn file_co_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    FileState *s = node->opaque;
    const char *filename = option_set_get_string(opts, "filename");
    /* auto-read-only: start read-only, the first writer switches (file_set_writable). */
    bool writable = !option_set_get_bool(opts, "read-only") &&
                    !option_set_get_bool(opts, "auto-read-only");
    g_autoptr(FileOpenJob) job = NULL;
    int ret;

    s->fd = -1;
    s->buffered_fd = -1;
    if (!file_parse_options(node, s, opts, errp))
        return -EINVAL;

    job = file_co_open_job(node, filename, file_open_flags(s, writable), errp, &ret);
    if (!job)
        return ret;

    s->fd = file_open_job_take_fd(job);
    s->mem_align = s->direct ? job->mem_align : 1;
    s->memory_fs = job->memory_fs;
    file_choose_aio(node, s);
    file_inline_init(&s->inline_io, s->memory_fs, s->direct);
    node->request_alignment = s->direct ? job->offset_align : 1;
    node->size = job->size;
    node->writable = writable;
    g_free(node->filename);
    node->filename = g_strdup(filename);
    return file_setup_locking(node, s, job->lock_supported, errp) ? 0 : -ENOTSUP;
}

void coroutine_fn file_close(BlockNode *node)
{
    FileState *s = node->opaque;

    file_mem_drop(s);
    if (s->fd >= 0)
        close(s->fd);
    if (s->buffered_fd >= 0)
        close(s->buffered_fd);
    s->fd = s->buffered_fd = -1;
    file_close_retired(s);
    g_clear_pointer(&s->retired_fds, g_array_unref);
}

/*
 * Puts a new descriptor of the same file in place of s->fd.  dup2() keeps the
 * number, so requests in flight finish on the old open file description; the
 * locks move with the permissions to the new one.
 */
static void file_replace_fd(BlockNode *node, FileState *s, int fd)
{
    if (s->lock_enabled)
        file_lock_take(fd, node->locked_perm, node->locked_shared);
    dup3(fd, s->fd, O_CLOEXEC);
    close(fd);
    file_mem_drop(s);           /* mapped through the old one: mapped again on demand */
    /*
     * The buffered descriptor is reopened with the new mode on demand.  Tail
     * transfers may still be in the pool on the old one: it is closed when
     * the last of them ends, so that its number is not reused under them.
     */
    if (s->buffered_fd >= 0 && s->buffered_users == 0) {
        close(s->buffered_fd);
    } else if (s->buffered_fd >= 0) {
        if (!s->retired_fds)
            s->retired_fds = g_array_new(FALSE, FALSE, sizeof(int));
        g_array_append_val(s->retired_fds, s->buffered_fd);
    }
    s->buffered_fd = -1;
    s->buffered_gen++;
}

/* Reopens the same file read-write or read-only (dynamic auto-read-only). */
int coroutine_fn file_set_writable(BlockNode *node, bool writable, GError **errp)
{
    FileState *s = node->opaque;
    g_autoptr(FileOpenJob) job = NULL;
    int ret;

    if (node->writable == writable)
        return 0;
    job = file_co_open_job(node, node->filename, file_open_flags(s, writable), errp, &ret);
    if (!job)
        return ret;
    file_replace_fd(node, s, file_open_job_take_fd(job));
    node->writable = writable;
    return 0;
}

/* The image locks change in the worker pool: fcntl on NFS can block. */
int coroutine_fn file_apply_perm(BlockNode *node, uint64_t perm, uint64_t shared, GError **errp)
{
    FileState *s = node->opaque;
    FileLockJob job = {
        .fd = s->fd, .filename = node->filename,
        .old_perm = node->locked_perm, .old_shared = node->locked_shared,
        .perm = perm, .shared = shared,
    };
    int r;

    if (!s->lock_enabled)
        return 0;
    r = (int)worker_pool_co_run(file_lock_job_apply, &job);
    if (r < 0)
        g_propagate_error(errp, job.err);
    return r;
}

/* Reopen: cache.direct (a new descriptor), cache.no-flush and discard. */
typedef struct FileReopen {
    FileState next;
    int fd;                     /* new descriptor when cache.direct changes, else -1 */
    uint32_t offset_align;
} FileReopen;

int coroutine_fn file_reopen_prepare(BlockNode *node, const OptionSet *opts,
                                            void **ret_state, GError **errp)
{
    FileState *s = node->opaque;
    g_autofree FileReopen *r = g_new0(FileReopen, 1);

    r->next = *s;
    r->fd = -1;
    if (!file_parse_options(node, &r->next, opts, errp))
        return -EINVAL;
    r->next.locking = s->locking;
    if (r->next.direct != s->direct) {
        g_autoptr(FileOpenJob) job = NULL;
        int ret;

        job = file_co_open_job(node, node->filename, file_open_flags(&r->next, node->writable),
                               errp, &ret);
        if (!job)
            return ret;
        r->fd = file_open_job_take_fd(job);
        r->next.mem_align = r->next.direct ? job->mem_align : 1;
        r->offset_align = r->next.direct ? job->offset_align : 1;
    }
    *ret_state = g_steal_pointer(&r);
    return 0;
}

void file_reopen_commit(BlockNode *node, void *state)
{
    FileState *s = node->opaque;
    g_autofree FileReopen *r = state;

    s->direct = r->next.direct;
    s->no_flush = r->next.no_flush;
    s->unmap = r->next.unmap;
    if (r->fd >= 0) {
        file_replace_fd(node, s, r->fd);
        s->mem_align = r->next.mem_align;
        file_inline_init(&s->inline_io, s->memory_fs, s->direct);
        node->request_alignment = r->offset_align;
    }
}

void file_reopen_abort(BlockNode *node, void *state)
{
    g_autofree FileReopen *r = state;

    if (r->fd >= 0)
        close(r->fd);
}

/* Another host may have grown or shrunk the image while the node was inactive. */
int coroutine_fn file_co_activate(BlockNode *node, GError **errp)
{
    FileState *s = node->opaque;
    FileSizeJob job = { .fd = s->fd };
    long ret = worker_pool_co_run(file_job_size, &job);

    if (ret < 0) {
        bg_set_error_errno(errp, (int)ret, "Could not read the size of '%s' (node '%s')",
                           node->filename, node->name);
        return (int)ret;
    }
    file_forget_data_extent(s);
    node->size = job.size;
    return 0;
}

const OptionSpec file_options[] = {
    {
        .name = "filename", .type = OPTION_STRING, .required = true,
        .description = "Path of the image file (a regular file)",
    },
    {
        .name = "aio", .type = OPTION_ENUM,
        .enum_values = file_aio_values,
        .description = "I/O engine: threads (worker pool), native (Linux AIO, needs "
                       "cache.direct=on) or io_uring; unset: io_uring where the kernel "
                       "permits it, except buffered on tmpfs (threads)",
    },
    {
        .name = "locking", .type = OPTION_ENUM, .default_value = "auto",
        .enum_values = file_locking_values,
        .description = "Image locking with OFD byte locks (auto: if the file system supports them)",
    },
    OPTION_TABLE_END,
};

const char *const file_child_roles[] = { NULL };

const BlockDriver block_driver_file = {
    .name = "file",
    FILE_DRIVER_SHARED_OPS,
    .co_pwrite_zeroes = file_co_pwrite_zeroes,
    .co_pdiscard = file_co_pdiscard,
    .co_truncate = file_co_truncate,
    .co_block_status = file_co_block_status,
    .sendfile_fd = file_sendfile_fd,
    .co_copy_range_from = file_co_copy_range_from,
    .co_copy_range_to = file_co_copy_range_to,
    .create_options = create_plain_options,
    .co_create = create_plain_image,
};
