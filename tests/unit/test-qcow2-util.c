/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for the qcow2 tests: see test-qcow2-util.h. */

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "aio/loop.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "graph/spec.h"
#include "test-qcow2-util.h"

static GPtrArray *open_images;   /* TestImage*: closed by qt_close_all after a failure */

typedef struct OpenReq {
    BlockdevSpec *spec;
    BlockNode *node;
    GError *err;
} OpenReq;

static void open_entry(void *opaque)
{
    OpenReq *r = opaque;
    r->node = graph_co_add_node(r->spec, &r->err);
}

static BlockdevSpec *make_spec(const char *path, const char *name, bool read_only,
                               const char *const *opts)
{
    BlockdevSpec *spec = blockdev_spec_new();
    blockdev_spec_set(spec, "driver", "qcow2");
    blockdev_spec_set(spec, "node-name", name);
    if (read_only)
        blockdev_spec_set(spec, "read-only", "on");
    ChildSpec *file = blockdev_spec_add_child(spec, "file", CHILD_SPEC_INLINE);
    if (!file->inline_spec)
        file->inline_spec = blockdev_spec_new();
    blockdev_spec_set(file->inline_spec, "driver", "file");
    blockdev_spec_set(file->inline_spec, "filename", path);
    if (read_only)
        blockdev_spec_set(file->inline_spec, "read-only", "on");
    for (size_t i = 0; opts && opts[i]; i += 2) {
        if (!strcmp(opts[i], "backing") && !*opts[i + 1]) {
            blockdev_spec_add_child(spec, "backing", CHILD_SPEC_NONE);
        } else if (g_str_has_prefix(opts[i], "file.")) {
            blockdev_spec_set(file->inline_spec, opts[i] + 5, opts[i + 1]);
        } else if (!strcmp(opts[i], "backing-ref")) {
            ChildSpec *b = blockdev_spec_add_child(spec, "backing", CHILD_SPEC_REF);
            b->ref = g_strdup(opts[i + 1]);
        } else {
            blockdev_spec_set(spec, opts[i], opts[i + 1]);
        }
    }
    return spec;
}

TestImage *qt_open(const char *path, const char *name, bool read_only,
                   const char *const *opts, GError **errp)
{
    OpenReq r = { .spec = make_spec(path, name, read_only, opts) };
    aio_run_coroutine(open_entry, &r);
    blockdev_spec_free(r.spec);
    if (!r.node) {
        g_propagate_error(errp, r.err);
        return NULL;
    }
    uint64_t perm = BLOCK_PERM_CONSISTENT_READ;
    if (!read_only)
        perm |= BLOCK_PERM_WRITE | BLOCK_PERM_RESIZE;
    GError *err = NULL;
    BlockChild *c = node_attach_user(r.node, BLOCK_USER_INTERNAL, "test", "test", perm,
                                     BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE_UNCHANGED,
                                     &err);
    if (!c) {
        g_propagate_error(errp, err);
        TestImage tmp = { .node_name = g_strdup(name) };
        qt_close(g_memdup2(&tmp, sizeof(tmp)));
        return NULL;
    }
    TestImage *img = g_new0(TestImage, 1);
    img->node_name = g_strdup(name);
    img->node = r.node;
    img->child = c;
    if (!open_images)
        open_images = g_ptr_array_new();
    g_ptr_array_add(open_images, img);
    return img;
}

static void close_entry(void *opaque)
{
    TestImage *img = opaque;
    if (img->child)
        node_detach_user(img->child);
    GError *err = NULL;
    if (graph_co_remove_node(img->node_name, &err) < 0) {
        g_printerr("remove %s: %s\n", img->node_name, err->message);
        g_error_free(err);
    }
}

void qt_close(TestImage *img)
{
    if (!img)
        return;
    if (open_images)
        g_ptr_array_remove(open_images, img);
    aio_run_coroutine(close_entry, img);
    g_free(img->node_name);
    g_free(img);
}

typedef struct IoReq {
    TestImage *img;
    int op;
    uint64_t off, len;
    void *buf;
    int flags;
    int ret;
    uint64_t pnum, map;
    GError **errp;
} IoReq;

enum { OP_READ, OP_WRITE, OP_ZERO, OP_DISCARD, OP_FLUSH, OP_TRUNCATE, OP_STATUS };

static void io_entry(void *opaque)
{
    IoReq *r = opaque;
    BlockChild *c = r->img->child;
    BlockNode *file = NULL;
    switch (r->op) {
    case OP_READ: r->ret = node_co_pread(c, r->off, r->len, r->buf, 0); break;
    case OP_WRITE: r->ret = node_co_pwrite(c, r->off, r->len, r->buf, 0); break;
    case OP_ZERO: r->ret = node_co_pwrite_zeroes(c, r->off, r->len, r->flags); break;
    case OP_DISCARD: r->ret = node_co_pdiscard(c, r->off, r->len); break;
    case OP_FLUSH: r->ret = node_co_flush(c); break;
    case OP_TRUNCATE: r->ret = node_co_truncate(c, r->off, r->errp); break;
    case OP_STATUS:
        r->ret = node_co_block_status(c, r->off, r->len, &r->pnum, &r->map, &file);
        break;
    }
}

static int run_io(IoReq *r)
{
    aio_run_coroutine(io_entry, r);
    return r->ret;
}

int qt_read(TestImage *img, uint64_t off, uint64_t len, void *buf)
{
    return run_io(&(IoReq){ .img = img, .op = OP_READ, .off = off, .len = len, .buf = buf });
}

int qt_write(TestImage *img, uint64_t off, uint64_t len, const void *buf)
{
    return run_io(&(IoReq){ .img = img, .op = OP_WRITE, .off = off, .len = len,
                            .buf = (void *)buf });
}

int qt_write_zeroes(TestImage *img, uint64_t off, uint64_t len, int flags)
{
    return run_io(&(IoReq){ .img = img, .op = OP_ZERO, .off = off, .len = len, .flags = flags });
}

int qt_discard(TestImage *img, uint64_t off, uint64_t len)
{
    return run_io(&(IoReq){ .img = img, .op = OP_DISCARD, .off = off, .len = len });
}

int qt_flush(TestImage *img)
{
    return run_io(&(IoReq){ .img = img, .op = OP_FLUSH });
}

int qt_truncate(TestImage *img, uint64_t size, GError **errp)
{
    return run_io(&(IoReq){ .img = img, .op = OP_TRUNCATE, .off = size, .errp = errp });
}

int qt_block_status(TestImage *img, uint64_t off, uint64_t len, uint64_t *pnum, uint64_t *map)
{
    IoReq r = { .img = img, .op = OP_STATUS, .off = off, .len = len };
    int ret = run_io(&r);
    *pnum = r.pnum;
    *map = r.map;
    return ret;
}

int qt_run(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_auto(GStrv) argv = NULL;
    GError *err = NULL;
    if (!g_shell_parse_argv(cmd, NULL, &argv, &err)) {
        g_printerr("%s: %s\n", cmd, err->message);
        g_error_free(err);
        return -1;
    }
    g_autofree char *sout = NULL, *serr = NULL;
    int status = 0;
    if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &sout, &serr,
                      &status, &err)) {
        g_printerr("%s: %s\n", cmd, err->message);
        g_error_free(err);
        return -1;
    }
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (out)
        *out = g_strconcat(sout, serr, NULL);
    if (rc && !out)
        g_printerr("'%s' exited with %d:\n%s%s", cmd, rc, sout, serr);
    return rc;
}

bool qt_have_qemu_tools(void)
{
    g_autofree char *a = g_find_program_in_path("qemu-img");
    g_autofree char *b = g_find_program_in_path("qemu-io");
    return a && b;
}

void qt_close_all(void)
{
    while (open_images && open_images->len)
        qt_close(g_ptr_array_index(open_images, open_images->len - 1));
    g_clear_pointer(&open_images, g_ptr_array_unref);
}

int qt_tmpdir_create(const char *prefix, char **ret_dir)
{
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);

    *ret_dir = g_dir_make_tmp(tmpl, NULL);
    return *ret_dir ? 0 : -1;
}

void qt_tmpdir_remove(char **dir)
{
    g_autofree char *out = NULL;

    if (!*dir)
        return;
    qt_run(&out, "rm -rf '%s'", *dir);
    g_clear_pointer(dir, g_free);
}
