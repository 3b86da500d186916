/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * graph/io.c: the request path checks a request against the node as it is
 * when the request runs, after any drain it waited out, not as it was when
 * the request came.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/io.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define FILE_SIZE (1024 * KiB)
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Queued {
    BlockChild *child;
    uint64_t offset;
    uint64_t len;
    uint8_t *buf;
    int result;
    bool done;
} Queued;

static void drain_begin_co(void *opaque)
{
    node_co_drain_begin(opaque);
}

static void queued_write_co(void *opaque)
{
    Queued *q = opaque;

    q->result = node_co_pwrite(q->child, q->offset, q->len, q->buf, 0);
    q->done = true;
}

typedef struct QueuedControl {
    BlockChild *child;
    bool truncate;      /* else flush */
    int result;
    GError *err;
    bool done;
} QueuedControl;

static void queued_control_co(void *opaque)
{
    QueuedControl *q = opaque;

    if (q->truncate)
        q->result = node_co_truncate(q->child, 2 * FILE_SIZE, &q->err);
    else
        q->result = node_co_flush(q->child);
    q->done = true;
}

static bool direct_supported(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);

    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/*
 * Writes queue behind a drain of a raw node covering the whole file; a
 * reopen then shrinks the window to [256k, 320k).  Once the drain ends the
 * writes are past the new end: refused, and the file is unchanged.
 */
static void shrink_window_under_queued_writes(const char *file_opts)
{
    char *path = tu_pattern_file(FILE_SIZE, 0);
    g_autofree char *orig = NULL;
    g_autofree char *now = NULL;
    gsize len;

    assert_true(g_file_get_contents(path, &orig, &len, NULL));
    if (strstr(file_opts, "direct") && !direct_supported(path)) {
        tu_unlink(path);
        skip();
    }
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='r'><file driver='file' node-name='f' "
        "filename='%s' %s/></blockdev>", path, file_opts);
    BlockNode *r = tu_add_xml(xml, NULL);
    BlockChild *c = tu_attach(r, "writer", RW, NULL);
    g_autofree uint8_t *data = g_malloc(8 * KiB);
    memset(data, 0xee, 8 * KiB);
    Queued q[] = {
        { c, 768 * KiB, 4 * KiB, data },            /* aligned */
        { c, 1000 * KiB + 100, 1000, data },        /* unaligned: bounce path with O_DIRECT */
        { c, 60 * KiB, 8 * KiB, data },             /* straddles the new end */
    };

    aio_run_coroutine(drain_begin_co, r);
    for (size_t i = 0; i < G_N_ELEMENTS(q); i++) {
        coroutine_start(queued_write_co, &q[i]);
        assert_false(q[i].done);
    }
    assert_null(tu_reopen("<blockdev driver='raw' node-name='r' offset='256k' size='64k'>"
                          "<file ref='f'/></blockdev>", NULL));
    assert_int_equal(r->size, 64 * KiB);
    node_drain_end(r);
    for (size_t i = 0; i < G_N_ELEMENTS(q); i++) {
        aio_run_until(&q[i].done);
        assert_int_equal(q[i].result, -EINVAL);
    }
    tu_detach(c);
    tu_remove_all();
    assert_true(g_file_get_contents(path, &now, &len, NULL));
    assert_int_equal(len, FILE_SIZE);
    assert_memory_equal(now, orig, FILE_SIZE);
    tu_unlink(path);
}

static void test_queued_writes_checked_after_reopen(void **state)
{
    shrink_window_under_queued_writes("");
}

static void test_queued_writes_checked_after_reopen_direct(void **state)
{
    shrink_window_under_queued_writes("cache.direct='on'");
}

/*
 * A flush and a resize queue behind a drain of a file node; the node fails
 * meanwhile.  Once the drain ends both see the failure instead of calling
 * the driver: the resize fails with IOError and the file keeps its size.
 */
static void test_queued_flush_truncate_checked_after_drain(void **state)
{
    char *path = tu_pattern_file(FILE_SIZE, 0);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f' filename='%s'/>", path);
    BlockNode *f = tu_add_xml(xml, NULL);
    BlockChild *c = tu_attach(f, "resizer", RW | BLOCK_PERM_RESIZE, NULL);
    QueuedControl q[] = { { c, true }, { c, false } };
    struct stat st;

    aio_run_coroutine(drain_begin_co, f);
    for (size_t i = 0; i < G_N_ELEMENTS(q); i++) {
        coroutine_start(queued_control_co, &q[i]);
        assert_false(q[i].done);
    }
    node_fail(f, "test failure while drained");
    node_drain_end(f);
    for (size_t i = 0; i < G_N_ELEMENTS(q); i++)
        aio_run_until(&q[i].done);
    assert_int_equal(q[0].result, -EIO);
    assert_error(q[0].err, BG_ERROR_IO_ERROR, "test failure while drained");
    assert_int_equal(q[1].result, -EIO);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, FILE_SIZE);
    tu_detach(c);
    tu_remove_all();
    tu_unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_writes_checked_after_reopen),
        cmocka_unit_test(test_queued_writes_checked_after_reopen_direct),
        cmocka_unit_test(test_queued_flush_truncate_checked_after_drain),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
