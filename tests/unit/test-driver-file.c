/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The `file` driver through the request path (graph/io.h): what it writes is
 * compared with the file's bytes read back with plain pread(), and what it
 * reads with bytes written with plain pwrite().  Block status, zero writes,
 * discard, resize and read-only behaviour are checked on the file itself,
 * once on a disk file system (/var/tmp) and once on tmpfs (/dev/shm).
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
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <glib.h>

#include "aio/linux-aio.h"
#include "aio/uring.h"
#include "aio/loop.h"
#include "aio/worker-pool.h"
#include "drivers/file-state.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/io.h"

#define MiB (1024 * 1024)

typedef struct Fixture {
    char *dir;
    char *path;
    int fd;                     /* plain descriptor for checking */
} Fixture;

/* Where the images go: a disk file system, then tmpfs (no ZERO_RANGE there). */
static const char *test_base = "/var/tmp";
/* The aio option every node gets unless the test names one; NULL: the default. */
static const char *test_engine;

static int setup(void **state)
{
    Fixture *f = g_new0(Fixture, 1);

    f->dir = g_build_filename(test_base, "bg-driver-file-XXXXXX", NULL);
    assert_non_null(g_mkdtemp(f->dir));
    f->path = g_build_filename(f->dir, "image", NULL);
    f->fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(f->fd >= 0);
    assert_int_equal(ftruncate(f->fd, MiB), 0);
    *state = f;
    return 0;
}

static void close_all_co(void *opaque)
{
    graph_co_close_all();
}

static int teardown(void **state)
{
    Fixture *f = *state;
    int flags = 0;

    /* A failed test may have left its node behind. */
    if (graph_node_count() > 0)
        aio_run_coroutine(close_all_co, NULL);

    /* The read-only test may have made the image immutable. */
    if (ioctl(f->fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL)) {
        flags &= ~FS_IMMUTABLE_FL;
        ioctl(f->fd, FS_IOC_SETFLAGS, &flags);
    }
    close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* ---- running test bodies in a coroutine ---- */

typedef struct Body {
    void (*fn)(Fixture *f);
    Fixture *f;
} Body;

static void body_co(void *opaque)
{
    Body *b = opaque;

    b->fn(b->f);
}

static void run_co(void (*fn)(Fixture *f), void **state)
{
    Body b = { .fn = fn, .f = *state };

    aio_run_coroutine(body_co, &b);
}

static BlockNode *coroutine_fn add_file_node_va(Fixture *f, GError **err, va_list ap)
{
    g_autoptr(BlockdevSpec) spec = blockdev_spec_new();
    const char *name;

    blockdev_spec_set(spec, "driver", "file");
    blockdev_spec_set(spec, "node-name", "disk0");
    blockdev_spec_set(spec, "filename", f->path);
    if (test_engine)
        blockdev_spec_set(spec, "aio", test_engine);
    while ((name = va_arg(ap, const char *)))
        blockdev_spec_set(spec, name, va_arg(ap, const char *));
    return graph_co_add_node(spec, err);
}

/* Adds node "disk0" over f->path with extra name/value pairs (NULL-terminated). */
static BlockNode *coroutine_fn add_file_node(Fixture *f, GError **err, ...)
{
    BlockNode *node;
    va_list ap;

    va_start(ap, err);
    node = add_file_node_va(f, err, ap);
    va_end(ap);
    return node;
}

static BlockChild *attach(BlockNode *node, uint64_t perm)
{
    g_autoptr(GError) err = NULL;
    BlockChild *c = node_attach_user(node, BLOCK_USER_INTERNAL, "test", "test",
                                     perm, BLOCK_PERM_ALL, &err);

    if (!c)
        fail_msg("attach: %s", err->message);
    return c;
}

#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE)

/* add_file_node, then a read-write user for I/O. */
static BlockChild *coroutine_fn open_rw(Fixture *f, ...)
{
    g_autoptr(GError) err = NULL;
    BlockNode *node;
    va_list ap;

    va_start(ap, f);
    node = add_file_node_va(f, &err, ap);
    va_end(ap);
    if (!node)
        fail_msg("add node: %s", err->message);
    return attach(node, RW);
}

static void coroutine_fn close_node(BlockChild *c)
{
    g_autoptr(GError) err = NULL;

    node_detach_user(c);
    assert_int_equal(graph_co_remove_node("disk0", &err), 0);
    assert_null(graph_lookup("disk0"));
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

static void assert_file_bytes(Fixture *f, uint64_t offset, const uint8_t *expect, size_t len)
{
    g_autofree uint8_t *got = g_malloc(len);

    assert_int_equal(pread(f->fd, got, len, (off_t)offset), (ssize_t)len);
    assert_memory_equal(got, expect, len);
}

static void assert_file_zero(Fixture *f, uint64_t offset, size_t len)
{
    g_autofree uint8_t *zero = g_malloc0(len);

    assert_file_bytes(f, offset, zero, len);
}

/* ---- reads and writes ---- */

/* Writes at aligned and odd places, with FUA; the file holds exactly that. */
static void coroutine_fn check_write_read(Fixture *f, BlockChild *c)
{
    g_autofree uint8_t *a = g_malloc(65536 + 1);
    g_autofree uint8_t *b = g_malloc(1000);
    g_autofree uint8_t *back = g_malloc(65536);
    uint8_t *unaligned = a + 1;

    fill_pattern(unaligned, 65536, 1);
    fill_pattern(b, 1000, 2);
    assert_int_equal(node_co_pwrite(c, 4096, 65536, unaligned, 0), 0);
    assert_int_equal(node_co_pwrite(c, 200000 + 777, 1000, b, BLOCK_REQ_FUA), 0);
    assert_file_bytes(f, 4096, unaligned, 65536);
    assert_file_bytes(f, 200000 + 777, b, 1000);
    assert_file_zero(f, 0, 4096);

    memset(back, 0xee, 65536);
    assert_int_equal(node_co_pread(c, 4096, 65536, back, 0), 0);
    assert_memory_equal(back, unaligned, 65536);
    assert_int_equal(node_co_pread(c, 200000 + 777, 1000, back + 1, 0), 0);
    assert_memory_equal(back + 1, b, 1000);

    /* Bytes written behind the driver's back read as they are. */
    fill_pattern(a, 8192, 3);
    assert_int_equal(pwrite(f->fd, a, 8192, 512 * 1024), 8192);
    assert_int_equal(node_co_pread(c, 512 * 1024, 8192, back, 0), 0);
    assert_memory_equal(back, a, 8192);
    assert_int_equal(node_co_flush(c), 0);
}

static void body_threads(Fixture *f)
{
    BlockChild *c = open_rw(f, NULL);

    assert_int_equal(c->node->size, MiB);
    assert_true(c->node->writable);
    assert_string_equal(c->node->filename, f->path);
    assert_int_equal(c->node->request_alignment, 1);
    check_write_read(f, c);
    close_node(c);
}

static void test_write_read_threads(void **state)
{
    run_co(body_threads, state);
}

static bool direct_supported(Fixture *f)
{
    int fd = open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void body_direct_threads(Fixture *f)
{
    BlockChild *c = open_rw(f, "cache.direct", "on", NULL);

    assert_true(c->node->request_alignment >= 512);
    check_write_read(f, c);
    close_node(c);
}

static void test_write_read_direct_threads(void **state)
{
    if (!direct_supported(*state))
        skip();
    run_co(body_direct_threads, state);
}

static void body_direct_native(Fixture *f)
{
    BlockChild *c = open_rw(f, "cache.direct", "on", "aio", "native", NULL);

    check_write_read(f, c);
    close_node(c);
}

static void test_write_read_direct_native(void **state)
{
    if (!direct_supported(*state))
        skip();
    run_co(body_direct_native, state);
}

/* A file whose size is no multiple of the block size: the tail reads back. */
static void body_direct_tail(Fixture *f)
{
    uint8_t tail[100], back[100];
    struct stat st;
    BlockChild *c;

    fill_pattern(tail, sizeof(tail), 4);
    assert_int_equal(pwrite(f->fd, tail, sizeof(tail), MiB), sizeof(tail));
    c = open_rw(f, "cache.direct", "on", "aio", "native", NULL);
    assert_int_equal(c->node->size, MiB + 100);
    assert_int_equal(node_co_pread(c, MiB, 100, back, 0), 0);
    assert_memory_equal(back, tail, 100);
    /* Writing the tail keeps the file's size. */
    fill_pattern(tail, sizeof(tail), 5);
    assert_int_equal(node_co_pwrite(c, MiB + 50, 50, tail, 0), 0);
    assert_int_equal(node_co_pread(c, MiB + 50, 50, back, 0), 0);
    assert_memory_equal(back, tail, 50);
    close_node(c);
    assert_file_bytes(f, MiB + 50, tail, 50);
    assert_int_equal(fstat(f->fd, &st), 0);
    assert_int_equal(st.st_size, MiB + 100);
}

static void test_direct_unaligned_tail(void **state)
{
    if (!direct_supported(*state))
        skip();
    run_co(body_direct_tail, state);
}

typedef struct Writer {
    BlockChild *c;
    unsigned index;
    int ret;
    unsigned *left;
    Coroutine *waiter;
} Writer;

static void writer_co(void *opaque)
{
    Writer *w = opaque;
    uint8_t buf[4096];

    fill_pattern(buf, sizeof(buf), w->index);
    /* Scattered over the file: block i goes to slot (i * 37) % 256. */
    w->ret = node_co_pwrite(w->c, (uint64_t)((w->index * 37) % 256) * 4096, 4096, buf, 0);
    if (--*w->left == 0)
        coroutine_wake(w->waiter);
}

/* Starts n writers of fn on c, all in flight at once, and waits for them. */
static void run_writers(Writer *w, unsigned n, BlockChild *c, void (*fn)(void *))
{
    unsigned left = n;

    for (unsigned i = 0; i < n; i++) {
        w[i] = (Writer){ .c = c, .index = i, .left = &left, .waiter = coroutine_self() };
        coroutine_start(fn, &w[i]);
    }
    while (left > 0)
        coroutine_yield();
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(w[i].ret, 0);
}

/* Queue depth 64: all writes in flight at once land where they should. */
static void body_concurrent(Fixture *f)
{
    BlockChild *c = open_rw(f, NULL);
    Writer w[64];
    uint8_t expect[4096];

    run_writers(w, 64, c, writer_co);
    for (unsigned i = 0; i < 64; i++) {
        fill_pattern(expect, sizeof(expect), i);
        assert_file_bytes(f, (uint64_t)((i * 37) % 256) * 4096, expect, sizeof(expect));
    }
    close_node(c);
}

static void test_concurrent_writes(void **state)
{
    run_co(body_concurrent, state);
}

/*
 * O_DIRECT with unaligned writes in flight at once: 64 writers of 64 bytes
 * share the first 4 KiB block, each a read-modify-write of that block in the
 * core.  Without serialisation the write-backs undo each other.
 */
static void small_writer_co(void *opaque)
{
    Writer *w = opaque;
    uint8_t buf[64];

    memset(buf, 0x40 + w->index, sizeof(buf));
    w->ret = node_co_pwrite(w->c, w->index * 64ULL, sizeof(buf), buf, 0);
    if (--*w->left == 0)
        coroutine_wake(w->waiter);
}

static void body_direct_unaligned_concurrent(Fixture *f)
{
    BlockChild *c = open_rw(f, "cache.direct", "on", NULL);
    Writer w[64];
    uint8_t expect[64];

    run_writers(w, 64, c, small_writer_co);
    for (unsigned i = 0; i < 64; i++) {
        memset(expect, 0x40 + i, sizeof(expect));
        assert_file_bytes(f, i * 64ULL, expect, sizeof(expect));
    }
    close_node(c);
}

static void test_direct_unaligned_concurrent(void **state)
{
    if (!direct_supported(*state))
        skip();
    run_co(body_direct_unaligned_concurrent, state);
}

/* ---- block status, zeroes, discard ---- */

static int coroutine_fn status(BlockChild *c, uint64_t offset, uint64_t bytes, uint64_t *pnum)
{
    uint64_t map = 0;
    BlockNode *file = NULL;
    int r = node_co_block_status(c, offset, bytes, pnum, &map, &file);

    assert_true(r >= 0);
    assert_true(r & BLOCK_STATUS_OFFSET_VALID);
    assert_int_equal(map, offset);
    assert_ptr_equal(file, c->node);
    return r & (BLOCK_STATUS_DATA | BLOCK_STATUS_ZERO);
}

static void body_block_status(Fixture *f)
{
    uint8_t data[65536];
    uint64_t pnum;
    BlockChild *c;

    assert_int_equal(ftruncate(f->fd, 4 * MiB), 0);
    memset(data, 0x42, sizeof(data));
    assert_int_equal(pwrite(f->fd, data, sizeof(data), MiB), sizeof(data));
    c = open_rw(f, NULL);

    assert_int_equal(status(c, 0, 4 * MiB, &pnum), BLOCK_STATUS_ZERO);
    assert_int_equal(pnum, MiB);
    assert_int_equal(status(c, MiB, 3 * MiB, &pnum), BLOCK_STATUS_DATA);
    assert_int_equal(pnum, 65536);
    assert_int_equal(status(c, MiB + 65536, 3 * MiB - 65536, &pnum), BLOCK_STATUS_ZERO);
    assert_int_equal(pnum, 3 * MiB - 65536);
    /* pnum never exceeds the question. */
    assert_int_equal(status(c, 0, 4096, &pnum), BLOCK_STATUS_ZERO);
    assert_int_equal(pnum, 4096);
    close_node(c);
}

static void test_block_status_sparse(void **state)
{
    run_co(body_block_status, state);
}

static void fill_file(Fixture *f, int c, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);

    memset(buf, c, len);
    assert_int_equal(pwrite(f->fd, buf, len, 0), (ssize_t)len);
}

static void body_zero_write(Fixture *f)
{
    g_autofree uint8_t *aa = g_malloc(65536);
    struct stat st;
    BlockChild *c;

    fill_file(f, 0xaa, MiB);
    memset(aa, 0xaa, 65536);
    c = open_rw(f, NULL);
    assert_int_equal(node_co_pwrite_zeroes(c, 131072, 65536, BLOCK_REQ_NO_FALLBACK), 0);
    assert_file_zero(f, 131072, 65536);
    assert_file_bytes(f, 131072 - 65536, aa, 65536);
    assert_file_bytes(f, 131072 + 65536, aa, 65536);
    /* Odd ranges too, through the core's fallback where needed. */
    assert_int_equal(node_co_pwrite_zeroes(c, 300001, 5000, 0), 0);
    assert_file_zero(f, 300001, 5000);
    assert_file_bytes(f, 300001 - 1, aa, 1);
    assert_file_bytes(f, 305001, aa, 1);
    /* discard=ignore: MAY_UNMAP zeroes but keeps the range allocated data. */
    assert_int_equal(node_co_pwrite_zeroes(c, 0, 65536, BLOCK_REQ_MAY_UNMAP), 0);
    assert_file_zero(f, 0, 65536);
    assert_int_equal(c->node->size, MiB);
    close_node(c);
    assert_int_equal(fstat(f->fd, &st), 0);
    assert_int_equal(st.st_size, MiB);
}

static void test_zero_write(void **state)
{
    run_co(body_zero_write, state);
}

static void body_zero_unmap(Fixture *f)
{
    BlockChild *c;
    uint64_t pnum;

    fill_file(f, 0x55, MiB);
    c = open_rw(f, "discard", "unmap", NULL);
    assert_int_equal(node_co_pwrite_zeroes(c, 262144, 131072, BLOCK_REQ_MAY_UNMAP), 0);
    assert_file_zero(f, 262144, 131072);
    /* Punched: a hole now. */
    assert_int_equal(status(c, 262144, 131072, &pnum), BLOCK_STATUS_ZERO);
    assert_int_equal(pnum, 131072);
    assert_int_equal(status(c, 0, MiB, &pnum), BLOCK_STATUS_DATA);
    assert_int_equal(pnum, 262144);
    close_node(c);
}

static void test_zero_write_unmap(void **state)
{
    run_co(body_zero_unmap, state);
}

static void body_discard(Fixture *f)
{
    g_autofree uint8_t *x = g_malloc(65536);
    BlockChild *c;
    uint64_t pnum;

    fill_file(f, 0x77, MiB);
    memset(x, 0x77, 65536);

    /* discard=ignore (default): nothing happens. */
    c = open_rw(f, NULL);
    assert_int_equal(node_co_pdiscard(c, 65536, 65536), 0);
    assert_file_bytes(f, 65536, x, 65536);
    close_node(c);

    c = open_rw(f, "discard", "unmap", NULL);
    /* The whole file is data, and the driver remembers that extent... */
    assert_int_equal(status(c, 0, MiB, &pnum), BLOCK_STATUS_DATA);
    assert_int_equal(pnum, MiB);
    assert_int_equal(node_co_pdiscard(c, 65536, 65536), 0);
    assert_file_zero(f, 65536, 65536);
    assert_file_bytes(f, 0, x, 65536);
    /* ...until the discard: the hole shows, and the data around it. */
    assert_int_equal(status(c, 65536, MiB - 65536, &pnum), BLOCK_STATUS_ZERO);
    assert_int_equal(pnum, 65536);
    assert_int_equal(status(c, 2 * 65536, MiB - 2 * 65536, &pnum), BLOCK_STATUS_DATA);
    assert_int_equal(pnum, MiB - 2 * 65536);
    /* A write fills the hole again. */
    assert_int_equal(node_co_pwrite(c, 65536, 65536, x, 0), 0);
    assert_int_equal(status(c, 65536, MiB - 65536, &pnum), BLOCK_STATUS_DATA);
    /* Zeroes with unmap punch a hole, also after a remembered extent. */
    assert_int_equal(status(c, 0, MiB, &pnum), BLOCK_STATUS_DATA);
    assert_int_equal(node_co_pwrite_zeroes(c, 3 * 65536, 65536, BLOCK_REQ_MAY_UNMAP), 0);
    assert_int_equal(status(c, 3 * 65536, 65536, &pnum), BLOCK_STATUS_ZERO);
    close_node(c);
}

static void test_discard(void **state)
{
    run_co(body_discard, state);
}

/* ---- resize ---- */

static void body_truncate(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    BlockChild *c = open_rw(f, NULL);
    uint8_t buf[4096];
    struct stat st;

    memset(buf, 0x99, sizeof(buf));
    assert_int_equal(node_co_pwrite(c, MiB - 4096, 4096, buf, 0), 0);
    assert_int_equal(node_co_truncate(c, 3 * MiB, &err), 0);
    assert_null(err);
    assert_int_equal(c->node->size, 3 * MiB);
    assert_int_equal(fstat(f->fd, &st), 0);
    assert_int_equal(st.st_size, 3 * MiB);
    /* The new part reads as zeroes and takes writes. */
    assert_int_equal(node_co_pread(c, 2 * MiB, 4096, buf, 0), 0);
    assert_file_zero(f, 2 * MiB, 4096);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    assert_int_equal(node_co_pwrite(c, 3 * MiB - 4096, 4096, buf, 0), 0);
    /* Beyond the end is refused by the core, not silently extended. */
    assert_int_not_equal(node_co_pwrite(c, 3 * MiB, 4096, buf, 0), 0);
    close_node(c);
}

static void test_truncate(void **state)
{
    run_co(body_truncate, state);
}

/* ---- read-only ---- */

static void body_read_only(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    uint8_t buf[4096], orig[4096];
    BlockNode *node;
    BlockChild *c;

    fill_file(f, 0x33, MiB);
    memset(orig, 0x33, sizeof(orig));
    node = add_file_node(f, &err, "read-only", "on", NULL);
    assert_non_null(node);
    assert_false(node->writable);

    /* A writer cannot attach ... */
    assert_null(node_attach_user(node, BLOCK_USER_INTERNAL, "w", "test", RW, BLOCK_PERM_ALL,
                                 &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_READ_ONLY));
    g_clear_error(&err);

    /* ... and a reader that tries to write anyway is refused. */
    c = attach(node, BLOCK_PERM_CONSISTENT_READ);
    memset(buf, 0, sizeof(buf));
    assert_true(node_co_pwrite(c, 0, 4096, buf, 0) < 0);
    assert_true(node_co_pwrite_zeroes(c, 0, 4096, 0) < 0);
    assert_int_equal(node_co_pread(c, 0, 4096, buf, 0), 0);
    assert_memory_equal(buf, orig, sizeof(buf));
    assert_file_bytes(f, 0, orig, sizeof(orig));
    close_node(c);
}

static void test_read_only_refusal(void **state)
{
    run_co(body_read_only, state);
}

/* Makes the image unwritable even for root; false if that cannot be done. */
static bool make_unwritable(Fixture *f)
{
    int flags = 0;

    if (geteuid() != 0)
        return chmod(f->path, 0444) == 0;
    if (ioctl(f->fd, FS_IOC_GETFLAGS, &flags) < 0)
        return false;
    flags |= FS_IMMUTABLE_FL;
    return ioctl(f->fd, FS_IOC_SETFLAGS, &flags) == 0;
}

static void body_auto_read_only(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    BlockNode *node;

    /* read-only=off alone: the open fails and says why. */
    assert_null(add_file_node(f, &err, NULL));
    assert_non_null(err);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_ACCESS_DENIED));
    assert_non_null(strstr(err->message, f->path));
    assert_null(graph_lookup("disk0"));
    g_clear_error(&err);

    /* auto-read-only=on settles for read-only. */
    node = add_file_node(f, &err, "auto-read-only", "on", NULL);
    assert_non_null(node);
    assert_false(node->writable);
    assert_null(node_attach_user(node, BLOCK_USER_INTERNAL, "w", "test", RW, BLOCK_PERM_ALL,
                                 &err));
    g_clear_error(&err);
    assert_int_equal(graph_co_remove_node("disk0", &err), 0);
}

static void test_auto_read_only_fallback(void **state)
{
    if (!make_unwritable(*state))
        skip();
    run_co(body_auto_read_only, state);
}

/* ---- errors ---- */

static void body_errors(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(BlockdevSpec) spec = blockdev_spec_new();
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);

    assert_null(add_file_node(f, &err, "aio", "native", NULL));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, "cache.direct"));
    g_clear_error(&err);

    assert_null(add_file_node(f, &err, "aio", "io_uring_sqpoll", NULL));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    g_clear_error(&err);

    blockdev_spec_set(spec, "driver", "file");
    blockdev_spec_set(spec, "node-name", "disk0");
    blockdev_spec_set(spec, "filename", missing);
    assert_null(graph_co_add_node(spec, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_FOUND));
    assert_non_null(strstr(err->message, missing));
    g_clear_error(&err);

    blockdev_spec_set(spec, "filename", f->dir);
    assert_null(graph_co_add_node(spec, &err));
    assert_non_null(err);
    g_clear_error(&err);
    assert_int_equal(graph_node_count(), 0);
}

static void test_open_errors(void **state)
{
    run_co(body_errors, state);
}

/* ---- the engine ---- */

/* Without aio: io_uring where the loop has a ring, but the pool for buffered tmpfs. */
static void body_default_engine(Fixture *f)
{
    BlockChild *c = open_rw(f, NULL);
    const FileState *s = c->node->opaque;
    FileAio expect = s->memory_fs || uring_loop_init() < 0 ? FILE_AIO_THREADS
                                                            : FILE_AIO_IO_URING;

    assert_int_equal(s->aio, expect);
    close_node(c);
}

static void test_default_engine(void **state)
{
    if (test_engine)
        skip();
    run_co(body_default_engine, state);
}

/* A flush, then zeroes and a discard under FUA, all through the node's engine. */
static void body_flush_zero_fua(Fixture *f)
{
    g_autofree uint8_t *buf = g_malloc(65536);
    BlockChild *c = open_rw(f, "discard", "unmap", NULL);

    memset(buf, 0x6b, 65536);
    assert_int_equal(node_co_pwrite(c, 0, 65536, buf, BLOCK_REQ_FUA), 0);
    assert_int_equal(node_co_flush(c), 0);
    assert_int_equal(node_co_pwrite_zeroes(c, 4096, 8192, BLOCK_REQ_FUA), 0);
    assert_int_equal(node_co_pdiscard(c, 32768, 4096), 0);
    assert_file_zero(f, 4096, 8192);
    assert_file_zero(f, 32768, 4096);
    assert_file_bytes(f, 0, buf, 4096);
    assert_file_bytes(f, 12288, buf, 32768 - 12288);
    close_node(c);
}

static void test_flush_zero_fua(void **state)
{
    run_co(body_flush_zero_fua, state);
}

/*
 * Under tests/tools/no-io-uring (BG_TEST_URING_ERRNO names the errno it
 * makes io_uring_setup fail with): aio=io_uring is refused naming the node,
 * and the default falls back to the pool.
 */
static void body_uring_refused(Fixture *f)
{
    g_autoptr(GError) err = NULL;
    const char *expect = g_getenv("BG_TEST_URING_ERRNO");

    assert_int_equal(uring_loop_init(), strcmp(expect, "ENOSYS") == 0 ? -ENOSYS : -EPERM);
    assert_null(add_file_node(f, &err, "aio", "io_uring", NULL));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_SUPPORTED));
    assert_non_null(strstr(err->message, "'disk0'"));
    assert_non_null(strstr(err->message, "aio=io_uring"));
    body_default_engine(f);
    assert_false(uring_loop_ready());
}

static void test_uring_refused(void **state)
{
    if (!g_getenv("BG_TEST_URING_ERRNO"))
        skip();
    run_co(body_uring_refused, state);
}

/* The engines to run every test with; io_uring only where the kernel permits it. */
static const char *const engines[] = { NULL, "threads", "io_uring" };

static void uring_init_co(void *opaque)
{
    *(int *)opaque = uring_loop_init();
}

static int run_groups(const struct CMUnitTest *tests, size_t n, const char *base)
{
    int uring = 0, ret = 0;

    aio_run_coroutine(uring_init_co, &uring);
    test_base = base;
    for (size_t i = 0; i < G_N_ELEMENTS(engines); i++) {
        g_autofree char *name = g_strdup_printf("%s aio=%s", base, engines[i] ?: "default");

        if (g_strcmp0(engines[i], "io_uring") == 0 && uring < 0) {
            print_message("io_uring: %s, skipping aio=io_uring\n", g_strerror(-uring));
            continue;
        }
        test_engine = engines[i];
        ret |= _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    }
    return ret;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_direct_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_direct_native, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_unaligned_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_unaligned_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_status_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_write_unmap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_read_only_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_zero_fua, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uring_refused, setup, teardown),
    };
    int ret;

    if (g_getenv("BG_TEST_DIR")) {
        ret = run_groups(tests, G_N_ELEMENTS(tests), g_getenv("BG_TEST_DIR"));
    } else {
        ret = run_groups(tests, G_N_ELEMENTS(tests), "/var/tmp");
        if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR))
            ret |= run_groups(tests, G_N_ELEMENTS(tests), "/dev/shm");
    }

    linux_aio_shutdown();
    worker_pool_shutdown();
    aio_loop_shutdown();
    return ret;
}
