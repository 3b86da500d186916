/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Linux AIO on an O_DIRECT file: batched submissions, queue depth beyond the
 * io context size, a failed submission among good ones, results checked against plain pread()/pwrite().  Skips
 * when the temporary directory refuses O_DIRECT (tmpfs) or the kernel gives
 * no io context.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/linux-aio.h"
#include "aio/loop.h"
#include "aio/worker-pool.h"

#define BLOCK 4096

typedef struct Fixture {
    char *dir;
    char *path;
    int fd;                     /* O_DIRECT */
    int plain_fd;               /* buffered, for checking */
} Fixture;

static int setup(void **state)
{
    const char *base = g_getenv("BG_TEST_DIRECT_DIR") ?: "/var/tmp";
    Fixture *f = g_new0(Fixture, 1);

    f->dir = g_build_filename(base, "bg-linux-aio-XXXXXX", NULL);
    if (!g_mkdtemp(f->dir)) {
        g_free(f->dir);
        g_free(f);
        return -1;
    }
    f->path = g_build_filename(f->dir, "image", NULL);
    f->plain_fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(f->plain_fd >= 0);
    assert_int_equal(ftruncate(f->plain_fd, 1024 * BLOCK), 0);
    f->fd = open(f->path, O_RDWR | O_DIRECT | O_CLOEXEC);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;

    if (f->fd >= 0)
        close(f->fd);
    close(f->plain_fd);
    unlink(f->path);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static void skip_unless_usable(Fixture *f)
{
    if (f->fd < 0) {
        print_message("O_DIRECT refused in %s (%s): skipping\n", f->dir, g_strerror(errno));
        skip();
    }
    if (!linux_aio_available()) {
        print_message("no Linux AIO context: skipping\n");
        skip();
    }
}

static void *aligned_block(unsigned count, int fill)
{
    void *buf = NULL;

    assert_int_equal(posix_memalign(&buf, BLOCK, (size_t)count * BLOCK), 0);
    memset(buf, fill, (size_t)count * BLOCK);
    return buf;
}

typedef struct Req {
    int fd;
    LinuxAioOp op;
    uint64_t offset;
    struct iovec iov[2];
    int niov;
    long ret;
    unsigned *finished;
    unsigned total;
    bool *done;
} Req;

static void req_co(void *opaque)
{
    Req *r = opaque;

    r->ret = linux_aio_co_submit(r->fd, r->op, r->offset, r->iov, r->niov);
    if (++*r->finished == r->total)
        *r->done = true;
}

/* Runs n requests at once (all submitted before any completes). */
static void run_reqs(Req *reqs, unsigned n)
{
    unsigned finished = 0;
    bool done = false;

    for (unsigned i = 0; i < n; i++) {
        reqs[i].finished = &finished;
        reqs[i].total = n;
        reqs[i].done = &done;
        coroutine_start(req_co, &reqs[i]);
    }
    assert_int_equal(aio_run_until(&done), 0);
}

/* 600 concurrent writes: more than the io context holds (EAGAIN/queueing). */
static void test_many_writes_then_reads(void **state)
{
    Fixture *f = *state;
    enum { N = 600 };
    g_autofree Req *reqs = g_new0(Req, N);
    uint8_t *bufs = NULL;
    uint8_t check[BLOCK];

    skip_unless_usable(f);
    bufs = aligned_block(N, 0);
    for (unsigned i = 0; i < N; i++) {
        memset(bufs + (size_t)i * BLOCK, (int)(i % 251) + 1, BLOCK);
        reqs[i] = (Req){ .fd = f->fd, .op = LINUX_AIO_WRITE, .offset = (uint64_t)i * BLOCK,
                         .iov = { { bufs + (size_t)i * BLOCK, BLOCK } }, .niov = 1 };
    }
    run_reqs(reqs, N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(reqs[i].ret, BLOCK);
        assert_int_equal(pread(f->plain_fd, check, BLOCK, (off_t)i * BLOCK), BLOCK);
        assert_memory_equal(check, bufs + (size_t)i * BLOCK, BLOCK);
    }

    memset(bufs, 0, (size_t)N * BLOCK);
    for (unsigned i = 0; i < N; i++)
        reqs[i].op = LINUX_AIO_READ;
    run_reqs(reqs, N);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(reqs[i].ret, BLOCK);
        assert_int_equal(bufs[(size_t)i * BLOCK], (i % 251) + 1);
        assert_int_equal(bufs[(size_t)i * BLOCK + BLOCK - 1], (i % 251) + 1);
    }
    free(bufs);
}

static void test_vectored_write(void **state)
{
    Fixture *f = *state;
    uint8_t *a, *b;
    uint8_t check[2 * BLOCK];
    Req req;

    skip_unless_usable(f);
    a = aligned_block(1, 0x11);
    b = aligned_block(1, 0x22);
    req = (Req){ .fd = f->fd, .op = LINUX_AIO_WRITE, .offset = 8 * BLOCK,
                 .iov = { { a, BLOCK }, { b, BLOCK } }, .niov = 2 };
    run_reqs(&req, 1);
    assert_int_equal(req.ret, 2 * BLOCK);
    assert_int_equal(pread(f->plain_fd, check, sizeof(check), 8 * BLOCK), sizeof(check));
    assert_memory_equal(check, a, BLOCK);
    assert_memory_equal(check + BLOCK, b, BLOCK);
    free(a);
    free(b);
}

static void test_short_read_at_eof(void **state)
{
    Fixture *f = *state;
    uint8_t *buf;
    Req req;

    skip_unless_usable(f);
    buf = aligned_block(2, 0x5a);
    req = (Req){ .fd = f->fd, .op = LINUX_AIO_READ, .offset = 1023 * BLOCK,
                 .iov = { { buf, 2 * BLOCK } }, .niov = 1 };
    run_reqs(&req, 1);
    assert_int_equal(req.ret, BLOCK);
    free(buf);
}

static void test_errors(void **state)
{
    Fixture *f = *state;
    uint8_t *buf;
    Req reqs[3];

    skip_unless_usable(f);
    buf = aligned_block(1, 0x77);
    /* A bad descriptor fails at submission; the others still complete. */
    reqs[0] = (Req){ .fd = f->fd, .op = LINUX_AIO_WRITE, .offset = 0,
                     .iov = { { buf, BLOCK } }, .niov = 1 };
    reqs[1] = (Req){ .fd = 987654, .op = LINUX_AIO_READ, .offset = 0,
                     .iov = { { buf, BLOCK } }, .niov = 1 };
    reqs[2] = (Req){ .fd = f->fd, .op = LINUX_AIO_WRITE, .offset = BLOCK,
                     .iov = { { buf, BLOCK } }, .niov = 1 };
    run_reqs(reqs, 3);
    assert_int_equal(reqs[0].ret, BLOCK);
    assert_int_equal(reqs[1].ret, -EBADF);
    assert_int_equal(reqs[2].ret, BLOCK);
    free(buf);
}

static void test_write_dsync(void **state)
{
    Fixture *f = *state;
    uint8_t check[BLOCK];
    uint8_t *buf;
    Req req;

    skip_unless_usable(f);
    buf = aligned_block(1, 0x3c);
    req = (Req){ .fd = f->fd, .op = LINUX_AIO_WRITE_DSYNC, .offset = 5 * BLOCK,
                 .iov = { { buf, BLOCK } }, .niov = 1 };
    run_reqs(&req, 1);
    if (req.ret == -EOPNOTSUPP) {
        free(buf);
        skip();     /* kernel without RWF_DSYNC for AIO */
    }
    assert_int_equal(req.ret, BLOCK);
    assert_int_equal(pread(f->plain_fd, check, BLOCK, 5 * BLOCK), BLOCK);
    assert_memory_equal(check, buf, BLOCK);
    free(buf);
}

static void test_fdsync(void **state)
{
    Fixture *f = *state;
    Req req;

    skip_unless_usable(f);
    req = (Req){ .fd = f->fd, .op = LINUX_AIO_FDSYNC };
    run_reqs(&req, 1);
    /* Older kernels and some file systems have no AIO fsync. */
    assert_true(req.ret == 0 || req.ret == -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_many_writes_then_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vectored_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_read_at_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_dsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fdsync, setup, teardown),
    };
    int ret = cmocka_run_group_tests(tests, NULL, NULL);

    linux_aio_shutdown();
    worker_pool_shutdown();
    aio_loop_shutdown();
    return ret;
}
