/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `file` driver's inline policy (drivers/file-inline.c): which transfers
 * skip the worker pool, and that those that do move the right bytes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

#include "drivers/file-inline.h"

typedef struct Fixture {
    char *path;
    int fd;
} Fixture;

static Fixture *fixture_open(const char *dir, int extra_flags)
{
    Fixture *f = g_new0(Fixture, 1);
    f->path = g_build_filename(dir, "bg-inline-XXXXXX", NULL);
    f->fd = g_mkstemp(f->path);
    assert_true(f->fd >= 0);
    assert_int_equal(ftruncate(f->fd, 1 << 20), 0);
    if (extra_flags) {
        int fd = open(f->path, O_RDWR | O_CLOEXEC | extra_flags);
        if (fd < 0) {
            unlink(f->path);
            close(f->fd);
            g_free(f->path);
            g_free(f);
            return NULL;
        }
        close(f->fd);
        f->fd = fd;
    }
    return f;
}

static void fixture_close(Fixture *f)
{
    close(f->fd);
    unlink(f->path);
    g_free(f->path);
    g_free(f);
}

static bool pool_idle(void)
{
    return false;
}

static bool pool_busy(void)
{
    return true;
}

static FileRwJob rw_job(int fd, bool write, uint64_t offset, struct iovec *iov)
{
    return (FileRwJob){ .fd = fd, .write = write, .offset = offset,
                        .bytes = iov->iov_len, .iov = iov, .niov = 1 };
}

static void test_memory_fs_inline(void **state)
{
    if (!g_file_test("/dev/shm", G_FILE_TEST_IS_DIR))
        skip();
    Fixture *f = fixture_open("/dev/shm", 0);
    FileInline fi;
    file_inline_init(&fi, file_is_memory_fs(f->fd), false);
    assert_true(fi.memory_fs);

    char out[4096], in[4096];
    memset(out, 0xa5, sizeof(out));
    struct iovec iov = { out, sizeof(out) };
    FileRwJob job = rw_job(f->fd, true, 8192, &iov);
    long ret = -1;
    assert_true(file_inline_try(&fi, &job, pool_idle, &ret));
    assert_int_equal(ret, sizeof(out));
    assert_int_equal(pread(f->fd, in, sizeof(in), 8192), sizeof(in));
    assert_memory_equal(in, out, sizeof(in));

    /* A read at the end of the file comes back short, as from the pool. */
    iov = (struct iovec){ in, sizeof(in) };
    job = rw_job(f->fd, false, (1 << 20) - 512, &iov);
    assert_true(file_inline_try(&fi, &job, pool_idle, &ret));
    assert_int_equal(ret, 512);

    /* Large transfers are left to the pool, unless it is busy. */
    g_autofree char *big = g_malloc(1 << 20);
    g_autofree char *back = g_malloc0(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++)
        big[i] = (char)(i * 7 + 3);
    iov = (struct iovec){ big, 1 << 20 };
    job = rw_job(f->fd, true, 0, &iov);
    assert_false(file_inline_try(&fi, &job, pool_idle, &ret));
    assert_true(file_inline_try(&fi, &job, pool_busy, &ret));
    assert_int_equal(ret, 1 << 20);
    iov = (struct iovec){ back, 1 << 20 };
    job = rw_job(f->fd, false, 0, &iov);
    assert_true(file_inline_try(&fi, &job, pool_busy, &ret));
    assert_int_equal(ret, 1 << 20);
    assert_memory_equal(back, big, 1 << 20);
    fixture_close(f);
}

static void test_direct_never_inline(void **state)
{
    Fixture *f = fixture_open("/var/tmp", O_DIRECT);
    if (!f)
        skip();
    FileInline fi;
    file_inline_init(&fi, file_is_memory_fs(f->fd), true);
    void *buf = NULL;
    assert_int_equal(posix_memalign(&buf, 4096, 4096), 0);
    struct iovec iov = { buf, 4096 };
    FileRwJob job = rw_job(f->fd, false, 0, &iov);
    long ret = -1;
    assert_false(file_inline_try(&fi, &job, pool_idle, &ret));
    assert_int_equal(ret, -1);
    free(buf);
    fixture_close(f);
}

/* On a disk file system: cached data is read inline, misses back off. */
static void test_disk_nowait(void **state)
{
    Fixture *f = fixture_open("/var/tmp", 0);
    FileInline fi;
    file_inline_init(&fi, file_is_memory_fs(f->fd), false);
    assert_false(fi.memory_fs);

    char out[4096], in[4096];
    memset(out, 0x3c, sizeof(out));
    /* Blocks far enough apart that readahead for one does not bring the next. */
    enum { BLOCKS = 32, STRIDE = 1024 * 1024 };
    for (int i = 0; i < BLOCKS; i++)
        assert_int_equal(pwrite(f->fd, out, sizeof(out), (off_t)i * STRIDE), sizeof(out));
    struct iovec iov = { in, sizeof(in) };
    FileRwJob job = rw_job(f->fd, false, 0, &iov);
    long ret = -1;
    if (!file_inline_try(&fi, &job, pool_idle, &ret)) {
        /* Only a file system without RWF_NOWAIT may refuse a cached read. */
        assert_false(fi.nowait_read);
        fixture_close(f);
        skip();
    }
    assert_int_equal(ret, sizeof(in));
    assert_memory_equal(in, out, sizeof(in));

    /* FUA writes wait for the disk: never inline. */
    iov = (struct iovec){ out, sizeof(out) };
    job = rw_job(f->fd, true, 0, &iov);
    job.rw_flags = RWF_DSYNC;
    assert_false(file_inline_try(&fi, &job, pool_idle, &ret));

    /* A large read of cached data goes to the pool even when it is busy: a disk may wait. */
    g_autofree char *big = g_malloc(1 << 20);
    iov = (struct iovec){ big, 1 << 20 };
    job = rw_job(f->fd, false, 0, &iov);
    assert_false(file_inline_try(&fi, &job, pool_busy, &ret));

    /*
     * Drop the pages: reads miss, and after a few misses in a row the policy
     * stops trying.  A missed RWF_NOWAIT read starts readahead, and on a busy
     * machine a dropped page can come back before it is read, so a hit in
     * between may reset the count: the back-off must still come within the
     * blocks written.
     */
    assert_int_equal(fdatasync(f->fd), 0);
    assert_int_equal(posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    for (int i = 0; i < BLOCKS && fi.skip == 0; i++) {
        iov = (struct iovec){ in, sizeof(in) };
        job = rw_job(f->fd, false, (off_t)i * STRIDE, &iov);
        file_inline_try(&fi, &job, pool_idle, &ret);
    }
    assert_int_equal(fi.skip, 64);
    assert_int_equal(fi.misses, 0);
    fixture_close(f);
}

/* cachestat: what was just written is cached, dropped pages and holes are not. */
/*
 * A device node under /dev lives on devtmpfs, which fstatfs reports as tmpfs:
 * a host_device on a real disk is not a memory file system (its transfers
 * would run on the loop thread and wait for the disk there).
 */
static void test_device_node_not_memory(void **state)
{
    (void)state;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_false(file_is_memory_fs(fd));
    close(fd);
}

static void test_range_cached(void **state)
{
    Fixture *f = fixture_open("/var/tmp", 0);
    FileInline fi;
    file_inline_init(&fi, file_is_memory_fs(f->fd), false);
    g_autofree char *buf = g_malloc(256 * 1024);
    memset(buf, 0x11, 256 * 1024);
    assert_int_equal(pwrite(f->fd, buf, 256 * 1024, 64 * 1024), 256 * 1024);
    if (!file_inline_range_cached(&fi, f->fd, 64 * 1024, 256 * 1024)) {
        fixture_close(f);
        skip();                 /* a kernel without cachestat (before 6.5) */
    }
    /* Part of a page beyond the written range counts as not cached. */
    assert_false(file_inline_range_cached(&fi, f->fd, 64 * 1024, 256 * 1024 + 1));
    assert_false(file_inline_range_cached(&fi, f->fd, 512 * 1024, 4096));
    assert_int_equal(fdatasync(f->fd), 0);
    assert_int_equal(posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    assert_false(file_inline_range_cached(&fi, f->fd, 64 * 1024, 256 * 1024));
    fixture_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_fs_inline),
        cmocka_unit_test(test_direct_never_inline),
        cmocka_unit_test(test_disk_nowait),
        cmocka_unit_test(test_range_cached),
        cmocka_unit_test(test_device_node_not_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
