/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The graph sandbox of the XML harnesses: see fuzz-graph.h. */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aio/loop.h"
#include "fuzz/fuzz-graph.h"
#include "fuzz/fuzz-quiet.h"
#include "graph/graph.h"
#include "xml/blockdev-parse.h"

#define RAW_SIZE (64 * 1024)
#define QCOW2_CLUSTER 512
#define QCOW2_SIZE (1024 * 1024)

/* Scratch files; an input's filename picks one by its hash. */
enum { SCRATCH_RAW0, SCRATCH_RAW1, SCRATCH_Q0, SCRATCH_Q1, SCRATCH_COUNT };
static const char *const scratch_names[SCRATCH_COUNT] = { "raw0", "raw1", "q0.qcow2", "q1.qcow2" };
static char *scratch_dir;
static char *scratch_paths[SCRATCH_COUNT];
static bool scratch_used[SCRATCH_COUNT];   /* named by an input since the last restore */
static uint8_t raw_image[RAW_SIZE];
static uint8_t qcow2_image[4 * QCOW2_CLUSTER];

static const char *const baseline_xml[] = {
    "<blockdev driver='null-co' node-name='null0' size='1M'/>",
    "<blockdev driver='file' node-name='file0' filename='raw0'/>",
    "<blockdev driver='raw' node-name='raw0' offset='4096' size='8192'><file ref='file0'/></blockdev>",
    "<blockdev driver='file' node-name='qf0' filename='q0.qcow2'/>",
    "<blockdev driver='qcow2' node-name='q0'><file ref='qf0'/><backing ref='raw0'/></blockdev>",
    NULL,
};

static void put_be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, v >> 16); put_be16(p + 2, v); }
static void put_be64(uint8_t *p, uint64_t v) { put_be32(p, v >> 32); put_be32(p + 4, v); }

/*
 * An empty qcow2 v3 image of 1 MiB with 512-byte clusters: header, refcount
 * table, one refcount block and the L1 table, one cluster each.
 */
static void make_qcow2(uint8_t *img)
{
    memset(img, 0, 4 * QCOW2_CLUSTER);
    memcpy(img, "QFI\xfb", 4);
    put_be32(img + 4, 3);                       /* version */
    put_be32(img + 20, 9);                      /* cluster_bits */
    put_be64(img + 24, QCOW2_SIZE);
    put_be32(img + 36, QCOW2_SIZE / (QCOW2_CLUSTER * (QCOW2_CLUSTER / 8)));  /* l1_size */
    put_be64(img + 40, 3 * QCOW2_CLUSTER);      /* l1_table_offset */
    put_be64(img + 48, 1 * QCOW2_CLUSTER);      /* refcount_table_offset */
    put_be32(img + 56, 1);                      /* refcount_table_clusters */
    put_be32(img + 96, 4);                      /* refcount_order: 16 bits */
    put_be32(img + 100, 104);                   /* header_length */
    put_be64(img + QCOW2_CLUSTER, 2 * QCOW2_CLUSTER);
    for (int i = 0; i < 4; i++)
        put_be16(img + 2 * QCOW2_CLUSTER + 2 * i, 1);
}

static void write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        perror(path);
        abort();
    }
    close(fd);
}

/*
 * The files inputs named since the last restore, all of them when the graph
 * is empty; the baseline's files stay as they are while its nodes have them
 * open.
 */
static void restore_files(void)
{
    bool all = graph_node_count() == 0;

    for (int i = 0; i < SCRATCH_COUNT; i++) {
        bool baseline = i == SCRATCH_RAW0 || i == SCRATCH_Q0;
        if (!all && (baseline || !scratch_used[i]))
            continue;
        scratch_used[i] = false;
        bool raw = i == SCRATCH_RAW0 || i == SCRATCH_RAW1;
        write_file(scratch_paths[i], raw ? raw_image : qcow2_image,
                   raw ? sizeof(raw_image) : sizeof(qcow2_image));
    }
}

/* At exit: nothing stays open, nothing stays on disk. */
static void remove_scratch(void)
{
    fuzz_graph_clear(true);
    aio_loop_shutdown();
    for (int i = 0; i < SCRATCH_COUNT; i++)
        unlink(scratch_paths[i]);
    rmdir(scratch_dir);
}

/* Once: the scratch folder, the images' contents, the log and the worker pool (fuzz-quiet.h). */
static void scratch_init(void)
{
    if (!scratch_dir) {
        /* tmpfs if there is one: closing a node syncs its file. */
        bool shm = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR);
        scratch_dir = g_build_filename(shm ? "/dev/shm" : g_get_tmp_dir(), "bg-fuzz-XXXXXX", NULL);
        if (!g_mkdtemp(scratch_dir))
            abort();
        for (int i = 0; i < SCRATCH_COUNT; i++)
            scratch_paths[i] = g_build_filename(scratch_dir, scratch_names[i], NULL);
        for (size_t i = 0; i < sizeof(raw_image); i++)
            raw_image[i] = (uint8_t)(i / 512);
        make_qcow2(qcow2_image);
        fuzz_quiet_init();
        atexit(remove_scratch);
    }
}

void fuzz_graph_begin(void)
{
    scratch_init();
    restore_files();
}

void fuzz_spec_sandbox(BlockdevSpec *spec)
{
    const char *filename = blockdev_spec_get(spec, "filename");

    scratch_init();
    if (filename) {
        guint i = g_str_hash(filename) % SCRATCH_COUNT;
        for (int j = 0; j < SCRATCH_COUNT; j++)
            if (g_str_has_suffix(filename, scratch_names[j]))
                i = j;
        blockdev_spec_set(spec, "filename", scratch_paths[i]);
        scratch_used[i] = true;
    }
    for (guint i = 0; i < spec->children->len; i++) {
        ChildSpec *c = g_ptr_array_index(spec->children, i);
        if (c->kind == CHILD_SPEC_INLINE && c->inline_spec)
            fuzz_spec_sandbox(c->inline_spec);
    }
}

typedef struct Call {
    const BlockdevSpec *spec;
    GPtrArray *specs;
    bool ok;
} Call;

static void add_co(void *opaque)
{
    Call *c = opaque;
    g_autoptr(GError) err = NULL;

    c->ok = graph_co_add_node(c->spec, &err) != NULL;
}

bool fuzz_graph_add(const BlockdevSpec *spec)
{
    Call c = { .spec = spec };

    aio_run_coroutine(add_co, &c);
    return c.ok;
}

static void reopen_co(void *opaque)
{
    Call *c = opaque;
    g_autoptr(GError) err = NULL;

    c->ok = graph_co_reopen(c->specs, &err) == 0;
}

bool fuzz_graph_reopen(GPtrArray *specs)
{
    Call c = { .specs = specs };

    aio_run_coroutine(reopen_co, &c);
    return c.ok;
}

void fuzz_graph_baseline(void)
{
    if (graph_node_count())
        return;
    for (int i = 0; baseline_xml[i]; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(BlockdevSpec) spec = blockdev_parse_xml(baseline_xml[i], -1, NULL, &err);
        if (spec)
            fuzz_spec_sandbox(spec);
        if (!spec || !fuzz_graph_add(spec)) {
            fprintf(stderr, "fuzz baseline: cannot add %s\n", baseline_xml[i]);
            abort();
        }
    }
}

static bool in_baseline(const char *name)
{
    static const char *const names[] = { "null0", "file0", "raw0", "qf0", "q0", NULL };

    return g_strv_contains(names, name);
}

static void clear_co(void *opaque)
{
    bool every = *(bool *)opaque;
    bool progress = true;

    /* Roots first: removing one may release inline children with it. */
    while (progress) {
        progress = false;
        for (GList *l = graph_nodes(); l; l = l->next) {
            BlockNode *node = l->data;
            if (node->parents->len || (!every && in_baseline(node->name)))
                continue;
            g_autoptr(GError) err = NULL;
            if (graph_co_remove_node(node->name, &err) < 0) {
                fprintf(stderr, "fuzz: cannot remove '%s': %s\n", node->name, err->message);
                abort();
            }
            progress = true;
            break;
        }
    }
}

void fuzz_graph_clear(bool every)
{
    aio_run_coroutine(clear_co, &every);
    for (GList *l = graph_nodes(); l; l = l->next) {
        BlockNode *node = l->data;
        if (every || !in_baseline(node->name)) {
            fprintf(stderr, "fuzz: node '%s' stays after the input\n", node->name);
            abort();
        }
    }
}

char **fuzz_split(const uint8_t *data, size_t size)
{
    GPtrArray *parts = g_ptr_array_new();
    const uint8_t *end = data + size;

    while (data < end) {
        const uint8_t *nul = memchr(data, 0, end - data);
        const uint8_t *stop = nul ? nul : end;
        g_ptr_array_add(parts, g_strndup((const char *)data, stop - data));
        data = stop + (nul != NULL);
    }
    g_ptr_array_add(parts, NULL);
    return (char **)g_ptr_array_free(parts, FALSE);
}
