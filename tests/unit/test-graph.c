/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "aio/loop.h"
#include "drivers/drivers.h"
#include "graph/driver-call.h"
#include "graph/error.h"
#include "graph/graph-internal.h"
#include "graph/graph.h"
#include "graph/io.h"

typedef struct AddCall {
    BlockdevSpec *spec;
    BlockNode *node;
    GError *err;
} AddCall;

static void add_entry(void *opaque)
{
    AddCall *c = opaque;

    c->node = graph_co_add_node(c->spec, &c->err);
}

/* Adds spec; returns the node or NULL with *ret_err set. */
static BlockNode *add(BlockdevSpec *spec, GError **ret_err)
{
    AddCall c = { .spec = spec };

    aio_run_coroutine(add_entry, &c);
    blockdev_spec_free(spec);
    if (ret_err)
        *ret_err = c.err;
    else if (c.err)
        fail_msg("AddNode failed: %s", c.err->message);
    return c.node;
}

typedef struct RemoveCall {
    const char *name;
    GError *err;
} RemoveCall;

static void remove_entry(void *opaque)
{
    RemoveCall *c = opaque;

    graph_co_remove_node(c->name, &c->err);
}

static GError *remove_node(const char *name)
{
    RemoveCall c = { .name = name };

    aio_run_coroutine(remove_entry, &c);
    return c.err;
}

static BlockdevSpec *null_spec(const char *name, const char *size)
{
    BlockdevSpec *s = blockdev_spec_new();

    blockdev_spec_set(s, "driver", "null-co");
    if (name)
        blockdev_spec_set(s, "node-name", name);
    if (size)
        blockdev_spec_set(s, "size", size);
    return s;
}

static BlockdevSpec *raw_over_inline_null(const char *name, const char *child_name)
{
    BlockdevSpec *s = blockdev_spec_new();
    ChildSpec *file;

    blockdev_spec_set(s, "driver", "raw");
    blockdev_spec_set(s, "node-name", name);
    file = blockdev_spec_add_child(s, "file", CHILD_SPEC_INLINE);
    blockdev_spec_set(file->inline_spec, "driver", "null-co");
    blockdev_spec_set(file->inline_spec, "size", "64k");
    if (child_name)
        blockdev_spec_set(file->inline_spec, "node-name", child_name);
    return s;
}

static void test_add_and_remove_null(void **state)
{
    BlockNode *n = add(null_spec("n0", "1M"), NULL);

    assert_non_null(n);
    assert_ptr_equal(graph_lookup("n0"), n);
    assert_int_equal(n->size, 1024 * 1024);
    assert_true(n->writable);
    assert_null(remove_node("n0"));
    assert_null(graph_lookup("n0"));
    assert_int_equal(graph_node_count(), 0);
}

static void test_inline_child_gets_generated_name_and_goes_with_parent(void **state)
{
    BlockNode *r = add(raw_over_inline_null("r0", NULL), NULL);

    assert_non_null(r);
    assert_int_equal(graph_node_count(), 2);
    assert_non_null(r->file);
    assert_true(r->file->node->name_generated);
    assert_int_equal(r->file->node->name[0], '#');
    assert_false(node_name_is_valid(r->file->node->name));
    assert_int_equal(r->size, 65536);
    assert_null(remove_node("r0"));
    assert_int_equal(graph_node_count(), 0);
}

static void test_remove_refuses_used_node_naming_user(void **state)
{
    BlockdevSpec *s = blockdev_spec_new();
    g_autoptr(GError) err = NULL;

    add(null_spec("base", "1M"), NULL);
    blockdev_spec_set(s, "driver", "raw");
    blockdev_spec_set(s, "node-name", "top");
    blockdev_spec_add_child(s, "file", CHILD_SPEC_REF)->ref = g_strdup("base");
    add(s, NULL);

    err = remove_node("base");
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_BUSY));
    assert_non_null(strstr(err->message, "node 'top' (uses node 'base' as 'file' child)"));
    assert_null(remove_node("top"));
    /* A node added on its own stays after its parent went. */
    assert_non_null(graph_lookup("base"));
    assert_null(remove_node("base"));
}

static void test_failed_grandchild_leaves_nothing(void **state)
{
    BlockdevSpec *s = raw_over_inline_null("outer", "mid-child");
    ChildSpec *file = g_ptr_array_index(s->children, 0);
    g_autoptr(GError) err = NULL;

    /* Turn the null-co child into a raw node whose own child is broken. */
    blockdev_spec_set(file->inline_spec, "driver", "raw");
    g_hash_table_remove(file->inline_spec->options, "size");
    ChildSpec *grand = blockdev_spec_add_child(file->inline_spec, "file", CHILD_SPEC_INLINE);
    blockdev_spec_set(grand->inline_spec, "driver", "null-co");
    blockdev_spec_set(grand->inline_spec, "size", "not-a-size");

    assert_null(add(s, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, "option 'size'"));
    assert_int_equal(graph_node_count(), 0);
    assert_null(graph_lookup("mid-child"));
}

static void test_bad_input_errors(void **state)
{
    GError *err = NULL;
    BlockdevSpec *s;

    add(null_spec("dup", NULL), NULL);
    assert_null(add(null_spec("dup", NULL), &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_EXISTS));
    g_clear_error(&err);

    assert_null(add(null_spec("9bad", NULL), &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    g_clear_error(&err);

    assert_null(add(null_spec(NULL, NULL), &err));
    assert_non_null(strstr(err->message, "'node-name'"));
    g_clear_error(&err);

    s = null_spec("x", NULL);
    blockdev_spec_set(s, "driver", "no-such-driver");
    assert_null(add(s, &err));
    assert_non_null(strstr(err->message, "Unknown driver 'no-such-driver'"));
    g_clear_error(&err);

    s = blockdev_spec_new();
    blockdev_spec_set(s, "driver", "raw");
    blockdev_spec_set(s, "node-name", "dangling");
    blockdev_spec_add_child(s, "file", CHILD_SPEC_REF)->ref = g_strdup("nowhere");
    assert_null(add(s, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_FOUND));
    assert_non_null(strstr(err->message, "'nowhere'"));
    g_clear_error(&err);

    s = null_spec("kid", NULL);
    blockdev_spec_add_child(s, "file", CHILD_SPEC_REF)->ref = g_strdup("dup");
    assert_null(add(s, &err));
    assert_non_null(strstr(err->message, "takes no 'file' child"));
    g_clear_error(&err);

    s = blockdev_spec_new();
    blockdev_spec_set(s, "driver", "raw");
    blockdev_spec_set(s, "node-name", "nofile");
    assert_null(add(s, &err));
    assert_non_null(strstr(err->message, "needs a 'file' child"));
    g_clear_error(&err);

    assert_int_equal(graph_node_count(), 1);
    assert_null(remove_node("dup"));
    err = remove_node("dup");
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_FOUND));
    g_clear_error(&err);
}

static void test_raw_window_bounds(void **state)
{
    BlockdevSpec *s = raw_over_inline_null("win", NULL);
    GError *err = NULL;
    BlockNode *n;

    blockdev_spec_set(s, "offset", "4k");
    blockdev_spec_set(s, "size", "8k");
    n = add(s, NULL);
    assert_int_equal(n->size, 8192);
    assert_null(remove_node("win"));

    s = raw_over_inline_null("win", NULL);
    blockdev_spec_set(s, "offset", "60k");
    blockdev_spec_set(s, "size", "8k");
    assert_null(add(s, &err));
    assert_non_null(strstr(err->message, "past the end"));
    g_clear_error(&err);
    assert_int_equal(graph_node_count(), 0);
}

typedef struct IoTest {
    BlockChild *user;
    int requests_done;
    bool drained;
    int done_when_drained;
    int result;
} IoTest;

static void io_entry(void *opaque)
{
    IoTest *t = opaque;
    uint8_t buf[4096];
    int r = node_co_pread(t->user, 0, sizeof(buf), buf, 0);

    if (r < 0)
        t->result = r;
    t->requests_done++;
}

static void drain_entry(void *opaque)
{
    IoTest *t = opaque;

    node_co_drain_begin(t->user->node);
    t->done_when_drained = t->requests_done;
    t->drained = true;
    node_drain_end(t->user->node);
}

static void test_drain_waits_for_in_flight_requests(void **state)
{
    BlockdevSpec *s = null_spec("slow", "1M");
    IoTest t = { 0 };
    BlockNode *n;

    blockdev_spec_set(s, "latency-ns", "5000000");
    blockdev_spec_set(s, "read-zeroes", "on");
    n = add(s, NULL);
    t.user = node_attach_user(n, BLOCK_USER_INTERNAL, "test", "test",
                              BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, NULL);
    assert_non_null(t.user);
    for (int i = 0; i < 8; i++)
        coroutine_start(io_entry, &t);
    assert_int_equal(n->in_flight, 8);
    coroutine_start(drain_entry, &t);
    /* Requests started while drained wait until the drain ends. */
    for (int i = 0; i < 4; i++)
        coroutine_start(io_entry, &t);
    while (t.requests_done < 12)
        sd_event_run(aio_loop(), UINT64_MAX);
    assert_true(t.drained);
    assert_int_equal(t.done_when_drained, 8);
    assert_int_equal(t.result, 0);
    assert_int_equal(n->in_flight, 0);
    assert_int_equal(graph_node_count(), 1);
    assert_int_equal(n->parents->len, 1);
    aio_run_coroutine((void (*)(void *))node_detach_user, t.user);
    assert_null(remove_node("slow"));
}

static void rw_entry(void *opaque)
{
    IoTest *t = opaque;
    uint8_t buf[512] = { 1 };

    t->result = node_co_pwrite(t->user, 1024 * 1024 - 256, sizeof(buf), buf, 0);
}

static void test_request_past_end_and_without_write_perm(void **state)
{
    BlockNode *n = add(null_spec("n", "1M"), NULL);
    IoTest t = { 0 };

    t.user = node_attach_user(n, BLOCK_USER_INTERNAL, "t", "t", BLOCK_PERM_ALL, BLOCK_PERM_ALL, NULL);
    aio_run_coroutine(rw_entry, &t);
    assert_int_equal(t.result, -EINVAL);
    aio_run_coroutine((void (*)(void *))node_detach_user, t.user);

    t.user = node_attach_user(n, BLOCK_USER_INTERNAL, "t", "t", BLOCK_PERM_CONSISTENT_READ,
                              BLOCK_PERM_ALL, NULL);
    aio_run_coroutine(rw_entry, &t);
    assert_int_equal(t.result, -EPERM);
    aio_run_coroutine((void (*)(void *))node_detach_user, t.user);
    assert_null(remove_node("n"));
}

static void test_permission_conflict_names_both_users(void **state)
{
    BlockNode *n = add(null_spec("shared", "1M"), NULL);
    g_autoptr(GError) err = NULL;
    BlockChild *a = node_attach_user(n, BLOCK_USER_EXPORT, "e0", "export",
                                     BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE,
                                     BLOCK_PERM_CONSISTENT_READ, NULL);
    BlockChild *b = node_attach_user(n, BLOCK_USER_EXPORT, "e1", "export",
                                     BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE,
                                     BLOCK_PERM_ALL, &err);

    assert_non_null(a);
    assert_null(b);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_PERMISSION_CONFLICT));
    assert_string_equal(err->message,
                        "Permission conflict on node 'shared': permissions 'write' are both "
                        "required by export 'e1' (uses node 'shared') and unshared by export "
                        "'e0' (uses node 'shared').");
    assert_int_equal(n->parents->len, 1);
    aio_run_coroutine((void (*)(void *))node_detach_user, a);
    assert_null(remove_node("shared"));
}

typedef struct ActiveCall {
    BlockNode *node;
    bool active;
    GError *err;
} ActiveCall;

static void set_active_entry(void *opaque)
{
    ActiveCall *c = opaque;

    node_co_set_active(c->node, c->active, &c->err);
}

static GError *set_active(BlockNode *node, bool active)
{
    ActiveCall c = { node, active, NULL };

    aio_run_coroutine(set_active_entry, &c);
    return c.err;
}

static void test_inactive_node_refuses_writers(void **state)
{
    BlockNode *n = add(null_spec("handover", "1M"), NULL);
    const uint64_t rw = BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE;
    g_autoptr(GError) busy = NULL, refused = NULL;
    BlockChild *writer = node_attach_user(n, BLOCK_USER_EXPORT, "e0", "export", rw,
                                          BLOCK_PERM_ALL, NULL);

    busy = set_active(n, false);
    assert_true(g_error_matches(busy, BG_ERROR, BG_ERROR_BUSY));
    assert_non_null(strstr(busy->message, "export 'e0' (uses node 'handover') still writes"));
    assert_true(n->active);
    aio_run_coroutine((void (*)(void *))node_detach_user, writer);

    assert_null(set_active(n, false));
    assert_false(n->active);
    assert_null(node_attach_user(n, BLOCK_USER_EXPORT, "e1", "export", rw, BLOCK_PERM_ALL,
                                 &refused));
    assert_true(g_error_matches(refused, BG_ERROR, BG_ERROR_INACTIVE));
    /* Readers are still welcome. */
    BlockChild *reader = node_attach_user(n, BLOCK_USER_EXPORT, "e2", "export",
                                          BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, NULL);
    assert_non_null(reader);
    aio_run_coroutine((void (*)(void *))node_detach_user, reader);

    assert_null(set_active(n, true));
    writer = node_attach_user(n, BLOCK_USER_EXPORT, "e1", "export", rw, BLOCK_PERM_ALL, NULL);
    assert_non_null(writer);
    aio_run_coroutine((void (*)(void *))node_detach_user, writer);
    assert_null(remove_node("handover"));
}

typedef struct InactivateTest {
    IoTest io;
    ActiveCall call;
    bool done;
    int reads_done_then;
} InactivateTest;

static void inactivate_entry(void *opaque)
{
    InactivateTest *t = opaque;

    node_co_set_active(t->call.node, false, &t->call.err);
    t->reads_done_then = t->io.requests_done;
    t->done = true;
}

static void test_inactivation_waits_for_requests_in_flight(void **state)
{
    BlockdevSpec *s = null_spec("busy", "1M");
    InactivateTest t = { 0 };

    blockdev_spec_set(s, "latency-ns", "5000000");
    blockdev_spec_set(s, "read-zeroes", "on");
    blockdev_spec_set(s, "read-only", "on");       /* nothing to flush: only the drain waits */
    t.call.node = add(s, NULL);
    t.io.user = node_attach_user(t.call.node, BLOCK_USER_INTERNAL, "test", "test",
                                 BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, NULL);
    for (int i = 0; i < 4; i++)
        coroutine_start(io_entry, &t.io);
    coroutine_start(inactivate_entry, &t);
    while (!t.done || t.io.requests_done < 4)
        sd_event_run(aio_loop(), UINT64_MAX);
    assert_null(t.call.err);
    assert_int_equal(t.reads_done_then, 4);
    assert_false(t.call.node->active);
    aio_run_coroutine((void (*)(void *))node_detach_user, t.io.user);
    assert_null(remove_node("busy"));
}

static void lock_entry(void *opaque)
{
    graph_co_lock();
}

static void test_set_active_waits_for_the_graph_lock(void **state)
{
    InactivateTest t = { 0 };

    t.call.node = add(null_spec("locked", "1M"), NULL);
    aio_run_coroutine(lock_entry, NULL);       /* as a reopen or removal in progress would */
    coroutine_start(inactivate_entry, &t);
    assert_false(t.done);
    assert_true(t.call.node->active);
    graph_unlock();
    while (!t.done)
        sd_event_run(aio_loop(), UINT64_MAX);
    assert_null(t.call.err);
    assert_false(t.call.node->active);
    assert_null(remove_node("locked"));
}

/* A driver that takes a resource and then fails to open. */
typedef struct HalfOpen {
    bool taken;
    int closes;
} HalfOpen;

static int coroutine_fn half_open(BlockNode *node, const OptionSet *opts, GError **errp)
{
    ((HalfOpen *)node->opaque)->taken = true;
    g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED, "lock probe failed");
    return -ENOTSUP;
}

static void coroutine_fn half_close(BlockNode *node)
{
    HalfOpen *h = node->opaque;

    h->taken = false;
    h->closes++;
}

static const BlockDriver half_open_driver = {
    .name = "half-open", .co_open = half_open, .close = half_close,
};

static void open_entry(void *opaque)
{
    BlockNode *node = opaque;
    g_autoptr(GError) err = NULL;

    assert_int_equal(drv_co_open(node, NULL, &err), -ENOTSUP);
    assert_non_null(err);
}

static void test_failed_open_is_closed(void **state)
{
    HalfOpen h = { 0 };
    BlockNode node = { .name = "half", .drv = &half_open_driver, .opaque = &h };

    aio_run_coroutine(open_entry, &node);
    assert_false(h.taken);
    assert_int_equal(h.closes, 1);
    assert_false(node.opened);
    aio_run_coroutine((void (*)(void *))drv_co_close, &node);
    assert_int_equal(h.closes, 1);      /* never opened: no second close */
}

static void read_entry(void *opaque)
{
    IoTest *t = opaque;
    uint8_t buf[512];

    t->result = node_co_pread(t->user, 0, sizeof(buf), buf, 0);
}

static void test_failed_node_answers_eio_and_switches_to_error_driver(void **state)
{
    BlockNode *n = add(null_spec("broken", "1M"), NULL);
    IoTest t = { 0 };

    t.user = node_attach_user(n, BLOCK_USER_INTERNAL, "t", "t", BLOCK_PERM_CONSISTENT_READ,
                              BLOCK_PERM_ALL, NULL);
    aio_run_coroutine(read_entry, &t);
    assert_int_equal(t.result, 0);
    node_fail(n, "L1 table offset past the end of the image");
    aio_run_coroutine(read_entry, &t);
    assert_int_equal(t.result, -EIO);
    while (n->drv == &block_driver_null_co)
        sd_event_run(aio_loop(), UINT64_MAX);
    assert_string_equal(n->drv->name, "error");
    assert_int_equal(n->size, 1024 * 1024);
    aio_run_coroutine(read_entry, &t);
    assert_int_equal(t.result, -EIO);
    aio_run_coroutine((void (*)(void *))node_detach_user, t.user);
    assert_null(remove_node("broken"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_remove_null),
        cmocka_unit_test(test_inline_child_gets_generated_name_and_goes_with_parent),
        cmocka_unit_test(test_remove_refuses_used_node_naming_user),
        cmocka_unit_test(test_failed_grandchild_leaves_nothing),
        cmocka_unit_test(test_bad_input_errors),
        cmocka_unit_test(test_raw_window_bounds),
        cmocka_unit_test(test_drain_waits_for_in_flight_requests),
        cmocka_unit_test(test_request_past_end_and_without_write_perm),
        cmocka_unit_test(test_permission_conflict_names_both_users),
        cmocka_unit_test(test_inactive_node_refuses_writers),
        cmocka_unit_test(test_inactivation_waits_for_requests_in_flight),
        cmocka_unit_test(test_set_active_waits_for_the_graph_lock),
        cmocka_unit_test(test_failed_open_is_closed),
        cmocka_unit_test(test_failed_node_answers_eio_and_switches_to_error_driver),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
