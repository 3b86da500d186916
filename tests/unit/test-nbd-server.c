/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD server without the bus: exports of a null-co node, a client in a
 * thread speaking the wire protocol, the loop on the main thread.  Covers
 * export_add's checks, Clients counting and safe / hard removal.
 */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "exports/export.h"
#include "exports/nbd-proto.h"
#include "exports/nbd-server.h"
#include "graph/error.h"
#include "graph/graph.h"

typedef struct AddCall {
    BlockdevSpec *spec;
    BlockNode *node;
} AddCall;

static void add_entry(void *opaque)
{
    AddCall *c = opaque;
    g_autoptr(GError) err = NULL;
    c->node = graph_co_add_node(c->spec, &err);
    if (!c->node)
        fail_msg("AddNode: %s", err->message);
}

static void add_null(const char *name, bool read_only)
{
    AddCall c = { blockdev_spec_new(), NULL };
    blockdev_spec_set(c.spec, "driver", "null-co");
    blockdev_spec_set(c.spec, "node-name", name);
    blockdev_spec_set(c.spec, "size", "16M");
    if (read_only)
        blockdev_spec_set(c.spec, "read-only", "on");
    aio_run_coroutine(add_entry, &c);
    blockdev_spec_free(c.spec);
}

static char sock_path[108];

/* An export spec whose strings the test owns (not freed). */
static ExportSpec config(const char *id, const char *node, bool writable)
{
    return (ExportSpec){ .id = (char *)id, .node_name = (char *)node, .writable = writable,
                         .server = { .type = EXPORT_SERVER_UNIX, .path = sock_path } };
}

/* ---- a blocking client in a thread ------------------------------------------ */

typedef struct Peer {
    pthread_t thread;
    atomic_int stage;       /* 1: in transmission, 2: may go on, 3: saw EOF, -1: failed */
    int fd;
} Peer;

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = read(fd, p, len);
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

static bool peer_handshake(int fd)
{
    uint8_t g[18], flags[4], opt[16 + 4 + 5 + 2], rep[20];
    if (!read_full(fd, g, sizeof(g)) || nbd_get64(g) != NBD_MAGIC)
        return false;
    nbd_put32(flags, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    nbd_put64(opt, NBD_OPTS_MAGIC);
    nbd_put32(opt + 8, NBD_OPT_GO);
    nbd_put32(opt + 12, 4 + 5 + 2);
    nbd_put32(opt + 16, 5);
    memcpy(opt + 20, "disk0", 5);
    nbd_put16(opt + 25, 0);
    if (write(fd, flags, 4) != 4 || write(fd, opt, sizeof(opt)) != sizeof(opt))
        return false;
    for (;;) {
        if (!read_full(fd, rep, sizeof(rep)))
            return false;
        uint32_t type = nbd_get32(rep + 12), len = nbd_get32(rep + 16);
        uint8_t skip[256];
        if (len > sizeof(skip) || !read_full(fd, skip, len))
            return false;
        if (type == NBD_REP_ACK)
            return true;
        if (type != NBD_REP_INFO)
            return false;
    }
}

/* One write; returns the simple reply's error, or -1 if the connection failed. */
static int peer_write(int fd, uint64_t off)
{
    uint8_t req[NBD_REQUEST_SIZE + 512] = { 0 }, rep[NBD_SIMPLE_REPLY_SIZE];
    nbd_put32(req, NBD_REQUEST_MAGIC);
    nbd_put16(req + 6, NBD_CMD_WRITE);
    nbd_put64(req + 8, 1);
    nbd_put64(req + 16, off);
    nbd_put32(req + 24, 512);
    if (write(fd, req, sizeof(req)) != sizeof(req) || !read_full(fd, rep, sizeof(rep)))
        return -1;
    return (int)nbd_get32(rep + 4);
}

static void *peer_main(void *opaque)
{
    Peer *p = opaque;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, sock_path);
    p->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !peer_handshake(p->fd) ||
        peer_write(p->fd, 0) != 0) {
        p->stage = -1;
        return NULL;
    }
    p->stage = 1;
    while (p->stage == 1)
        usleep(1000);
    uint8_t b;
    p->stage = read(p->fd, &b, 1) == 0 ? 3 : -1;   /* the server hangs up */
    close(p->fd);
    return NULL;
}

/* Connects, reads the greeting, then sends nothing: the server must hang up. */
static void *peer_idle_main(void *opaque)
{
    Peer *p = opaque;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint8_t g[18], b;
    strcpy(sa.sun_path, sock_path);
    p->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || !read_full(p->fd, g, sizeof(g))) {
        p->stage = -1;
        return NULL;
    }
    p->stage = read(p->fd, &b, 1) == 0 ? 3 : -1;
    close(p->fd);
    return NULL;
}

/* Runs the loop until the peer reaches at least stage (or fails). */
static void loop_until_stage(Peer *p, int stage)
{
    for (int i = 0; i < 5000 && p->stage >= 0 && p->stage < stage; i++)
        sd_event_run(aio_loop(), 2000);
    assert_int_equal(p->stage, stage);
}

typedef struct RemoveCall {
    Export *e;
    ExportRemoveMode mode;
    GError *err;
    int ret;
} RemoveCall;

static void remove_entry(void *opaque)
{
    RemoveCall *c = opaque;
    c->ret = export_co_remove(c->e, c->mode, &c->err);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_add_checks(void **state)
{
    g_autoptr(GError) err = NULL;
    ExportSpec cfg = config("x0", "nope", false);
    assert_null(export_add(&cfg, NULL, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_FOUND));
    g_clear_error(&err);

    cfg = config("x0", "ro0", true);
    assert_null(export_add(&cfg, NULL, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_READ_ONLY));
    g_clear_error(&err);

    cfg = config("x0", "disk0", false);
    Export *e = export_add(&cfg, NULL, NULL);
    assert_non_null(e);
    assert_string_equal(e->name, "disk0");
    g_autofree char *uri = g_strdup_printf("nbd+unix:///disk0?socket=%s", sock_path);
    assert_string_equal(e->uri, uri);
    assert_ptr_equal(export_lookup("x0"), e);

    assert_null(export_add(&cfg, NULL, &err));            /* same id */
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_EXISTS));
    g_clear_error(&err);
    cfg = config("x1", "disk0", false);             /* same name, same socket */
    assert_null(export_add(&cfg, NULL, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_EXISTS));
    g_clear_error(&err);
    cfg.name = (char *)"second";
    Export *e2 = export_add(&cfg, NULL, NULL);
    assert_non_null(e2);
    assert_ptr_equal(e2->listener, e->listener);    /* one listener per address */

    assert_int_equal(export_remove("x1", EXPORT_REMOVE_SAFE, NULL), 0);
    assert_int_equal(export_remove("x0", EXPORT_REMOVE_SAFE, NULL), 0);
    assert_null(export_lookup("x0"));
    assert_int_equal(access(sock_path, F_OK), -1);  /* the last export closed the socket */
    assert_int_equal(export_remove("x0", EXPORT_REMOVE_SAFE, &err), -ENOENT);
}

static void test_remove_safe_then_hard(void **state)
{
    ExportSpec cfg = config("e0", "disk0", true);
    Export *e = export_add(&cfg, NULL, NULL);
    assert_non_null(e);
    Peer p = { .stage = 0 };
    pthread_create(&p.thread, NULL, peer_main, &p);
    loop_until_stage(&p, 1);
    assert_int_equal(e->n_clients, 1);

    RemoveCall c = { e, EXPORT_REMOVE_SAFE, NULL, 0 };
    aio_run_coroutine(remove_entry, &c);
    assert_int_equal(c.ret, -EBUSY);
    assert_true(g_error_matches(c.err, BG_ERROR, BG_ERROR_BUSY));
    assert_non_null(strstr(c.err->message, "1 connected client"));
    g_clear_error(&c.err);

    p.stage = 2;
    c.mode = EXPORT_REMOVE_HARD;
    aio_run_coroutine(remove_entry, &c);
    assert_int_equal(c.ret, 0);
    assert_null(export_lookup("e0"));
    loop_until_stage(&p, 3);
    pthread_join(p.thread, NULL);
}

static void test_remove_all(void **state)
{
    ExportSpec cfg = config("e1", "disk0", true);
    assert_non_null(export_add(&cfg, NULL, NULL));
    Peer p = { .stage = 0 };
    pthread_create(&p.thread, NULL, peer_main, &p);
    loop_until_stage(&p, 1);
    p.stage = 2;
    aio_run_coroutine((void (*)(void *))export_co_remove_all, NULL);
    assert_null(export_list());
    loop_until_stage(&p, 3);
    pthread_join(p.thread, NULL);
}

static void test_handshake_timeout(void **state)
{
    ExportSpec cfg = config("e2", "disk0", false);
    assert_non_null(export_add(&cfg, NULL, NULL));
    nbd_set_handshake_timeout_us(200 * 1000);
    Peer p = { .stage = 0 };
    pthread_create(&p.thread, NULL, peer_idle_main, &p);
    loop_until_stage(&p, 3);
    pthread_join(p.thread, NULL);
    nbd_set_handshake_timeout_us(30 * G_USEC_PER_SEC);
    assert_int_equal(export_remove("e2", EXPORT_REMOVE_SAFE, NULL), 0);
}

int main(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-nbd-server-XXXXXX", NULL);
    g_snprintf(sock_path, sizeof(sock_path), "%s/nbd.sock", dir);
    add_null("disk0", false);
    add_null("ro0", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_checks),
        cmocka_unit_test(test_remove_safe_then_hard),
        cmocka_unit_test(test_remove_all),
        cmocka_unit_test(test_handshake_timeout),
    };
    int ret = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return ret;
}
