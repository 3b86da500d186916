/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <unistd.h>

#include "tests/unit/test-util.h"
#include "xml/blockdev-parse.h"
#include "xml/node-write.h"

typedef struct Call {
    BlockdevSpec *spec;
    GPtrArray *specs;
    const char *name;
    BlockNode *node;
    BlockChild *child;
    void *buf;
    uint64_t offset, len;
    int result;
    GError *err;
} Call;

static void add_co(void *opaque)
{
    Call *c = opaque;

    c->node = graph_co_add_node(c->spec, &c->err);
}

BlockNode *tu_add_xml(const char *xml, GError **ret_err)
{
    Call c = { 0 };
    g_autoptr(BlockdevSpec) spec = NULL;

    spec = blockdev_parse_xml(xml, -1, NULL, &c.err);
    if (spec) {
        c.spec = spec;
        aio_run_coroutine(add_co, &c);
    }
    if (ret_err)
        *ret_err = c.err;
    else if (c.err)
        fail_msg("AddNode failed: %s", c.err->message);
    return c.node;
}

static void remove_co(void *opaque)
{
    Call *c = opaque;

    graph_co_remove_node(c->name, &c->err);
}

GError *tu_remove(const char *name)
{
    Call c = { .name = name };

    aio_run_coroutine(remove_co, &c);
    return c.err;
}

static BlockChild *find_non_node_user(void)
{
    for (GList *l = graph_nodes(); l; l = l->next) {
        BlockNode *n = l->data;
        for (guint i = 0; i < n->parents->len; i++) {
            BlockChild *c = g_ptr_array_index(n->parents, i);
            if (c->user_kind != BLOCK_USER_NODE)
                return c;
        }
    }
    return NULL;
}

void tu_remove_all(void)
{
    for (BlockChild *c; (c = find_non_node_user());)
        tu_detach(c);
    while (graph_nodes()) {
        BlockNode *n = graph_nodes()->data;
        while (n->parents->len)
            n = ((BlockChild *)g_ptr_array_index(n->parents, 0))->parent;
        GError *err = tu_remove(n->name);
        if (err)
            fail_msg("teardown: %s", err->message);
    }
}

static void reopen_co(void *opaque)
{
    Call *c = opaque;

    graph_co_reopen(c->specs, &c->err);
}

GError *tu_reopen(const char *first_xml, ...)
{
    Call c = { .specs = g_ptr_array_new_with_free_func((GDestroyNotify)blockdev_spec_free) };
    va_list ap;

    va_start(ap, first_xml);
    for (const char *xml = first_xml; xml && !c.err; xml = va_arg(ap, const char *)) {
        BlockdevSpec *spec = blockdev_parse_xml(xml, -1, NULL, &c.err);
        if (spec)
            g_ptr_array_add(c.specs, spec);
    }
    va_end(ap);
    if (!c.err)
        aio_run_coroutine(reopen_co, &c);
    g_ptr_array_unref(c.specs);
    return c.err;
}

BlockChild *tu_attach(BlockNode *node, const char *user, uint64_t perm, GError **ret_err)
{
    GError *err = NULL;
    BlockChild *c = node_attach_user(node, BLOCK_USER_EXPORT, user, "export", perm,
                                     BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED |
                                     BLOCK_PERM_WRITE,
                                     &err);

    if (ret_err)
        *ret_err = err;
    else if (err)
        fail_msg("attach failed: %s", err->message);
    return c;
}

static void detach_co(void *opaque)
{
    node_detach_user(opaque);
}

void tu_detach(BlockChild *c)
{
    aio_run_coroutine(detach_co, c);
}

static void pread_co(void *opaque)
{
    Call *c = opaque;

    c->result = node_co_pread(c->child, c->offset, c->len, c->buf, 0);
}

static void pwrite_co(void *opaque)
{
    Call *c = opaque;

    c->result = node_co_pwrite(c->child, c->offset, c->len, c->buf, 0);
}

static void drain_co(void *opaque)
{
    TuDrain *d = opaque;

    node_co_drain_begin(d->node);
    d->done = true;
}

void tu_drain_start(TuDrain *d)
{
    d->done = false;
    coroutine_start(drain_co, d);
}

int tu_pread(BlockChild *child, uint64_t offset, void *buf, uint64_t len)
{
    Call c = { .child = child, .offset = offset, .buf = buf, .len = len };

    aio_run_coroutine(pread_co, &c);
    return c.result;
}

int tu_pwrite(BlockChild *child, uint64_t offset, const void *buf, uint64_t len)
{
    Call c = { .child = child, .offset = offset, .buf = (void *)buf, .len = len };

    aio_run_coroutine(pwrite_co, &c);
    return c.result;
}

char *tu_graph_snapshot(void)
{
    GString *s = g_string_new(NULL);

    for (GList *l = graph_nodes(); l; l = l->next) {
        g_autofree char *xml = node_to_xml(l->data);
        g_string_append_printf(s, "%s\n", xml);
    }
    return g_string_free(s, FALSE);
}

char *tu_pattern_file(uint64_t size, int seed)
{
    char *path = g_strdup("/tmp/bg-unit-XXXXXX");
    g_autofree uint8_t *data = g_malloc(size);
    int fd = g_mkstemp(path);

    for (uint64_t i = 0; i < size; i++)
        data[i] = (uint8_t)(i / 512 + seed);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    close(fd);
    return path;
}

void tu_unlink(char *path)
{
    unlink(path);
    g_free(path);
}
