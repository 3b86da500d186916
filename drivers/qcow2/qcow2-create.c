/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Creating a qcow2 image (Manager.CreateImage, drivers/create.h) with
 * QEMU's creation options and their rules (block/qcow2.c's create checks).
 * The whole image is laid out at once, then written front to back:
 *
 *   header | refcount table | refcount blocks | L1 | [L2 tables | data]
 *
 * with a refcount of 1 for every cluster up to the end.  With
 * preallocation (metadata, falloc, full) every guest cluster is mapped to
 * a data cluster; falloc and full then allocate or zero the data range.
 */

#include <errno.h>
#include <string.h>

#include "drivers/create.h"
#include "drivers/qcow2/qcow2.h"
#include "graph/error.h"

#define QCOW2_HEADER_V3_WRITTEN 112    /* 104 + compression type + padding to 8 */

static const char *const version_names[] = { "v2", "v3", NULL };
static const char *const compression_names[] = { "zlib", "zstd", NULL };

const OptionSpec qcow2_create_options[] = {
    { .name = "cluster-size", .type = OPTION_SIZE, .default_value = "65536",
      .description = "Cluster size: a power of two from 512 to 2M" },
    { .name = "preallocation", .type = OPTION_ENUM, .default_value = "off",
      .enum_values = create_prealloc_names,
      .description = "off, metadata (every cluster mapped), falloc, full" },
    { .name = "backing-file", .type = OPTION_STRING,
      .description = "The backing file name written into the header" },
    { .name = "backing-fmt", .type = OPTION_STRING,
      .description = "The backing file's format, written into the header" },
    { .name = "lazy-refcounts", .type = OPTION_BOOL, .default_value = "off",
      .description = "Refcounts may be written lazily (version v3)" },
    { .name = "refcount-bits", .type = OPTION_UINT, .default_value = "16",
      .description = "Width of a refcount: a power of two from 1 to 64 (v2: 16)" },
    { .name = "compression-type", .type = OPTION_ENUM, .default_value = "zlib",
      .enum_values = compression_names,
      .description = "Compression of compressed clusters (zstd: version v3)" },
    { .name = "version", .type = OPTION_ENUM, .default_value = "v3",
      .enum_values = version_names, .description = "Image version: v2 (compat 0.10) or v3 (1.1)" },
    OPTION_TABLE_END,
};

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static uint32_t log2_of(uint64_t v)
{
    return (uint32_t)__builtin_ctzll(v);
}

void qcow2_create_params(const ImageCreate *c, Qcow2CreateParams *p)
{
    const OptionSet *o = c->opts;

    memset(p, 0, sizeof(*p));
    p->size = c->size;
    p->cluster_size = option_set_get_uint(o, "cluster-size");
    p->refcount_bits = option_set_get_uint(o, "refcount-bits");
    p->version = strcmp(option_set_get_string(o, "version"), "v2") == 0 ? 2 : 3;
    p->lazy_refcounts = option_set_get_bool(o, "lazy-refcounts");
    p->compression = strcmp(option_set_get_string(o, "compression-type"), "zstd") == 0 ?
                     QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_ZLIB;
    p->prealloc = create_prealloc_parse(option_set_get_string(o, "preallocation"));
    p->backing_file = option_set_get_string(o, "backing-file");
    p->backing_fmt = option_set_get_string(o, "backing-fmt");
}

/* The first problem of p, as QEMU states its rules, or NULL. */
static char *params_problem(const Qcow2CreateParams *p)
{
    if (p->size % 512)
        return g_strdup_printf("size %" PRIu64 " is not a multiple of 512 bytes", p->size);
    if (!is_pow2(p->cluster_size) || p->cluster_size < 512 || p->cluster_size > 2 * 1024 * 1024)
        return g_strdup_printf("cluster-size %" PRIu64 " is not a power of two between 512 "
                               "and 2M", p->cluster_size);
    if (!is_pow2(p->refcount_bits) || p->refcount_bits > 64)
        return g_strdup_printf("refcount-bits %" PRIu64 " is not a power of two up to 64",
                               p->refcount_bits);
    if (p->version == 2 && p->refcount_bits != 16)
        return g_strdup("refcount-bits other than 16 need version v3");
    if (p->version == 2 && p->lazy_refcounts)
        return g_strdup("lazy-refcounts needs version v3");
    if (p->version == 2 && p->compression != QCOW2_COMPRESSION_ZLIB)
        return g_strdup("compression-type other than zlib needs version v3");
    if (p->backing_fmt && !p->backing_file)
        return g_strdup("backing-fmt needs backing-file");
    if (p->backing_file && p->prealloc != CREATE_PREALLOC_OFF)
        return g_strdup("backing-file and preallocation cannot be used together");
    if (p->backing_file && (!*p->backing_file || strlen(p->backing_file) > QCOW2_MAX_BACKING_NAME))
        return g_strdup_printf("backing-file must be 1 to %d bytes long", QCOW2_MAX_BACKING_NAME);
    if (p->backing_fmt && (!*p->backing_fmt || strlen(p->backing_fmt) > 255))
        return g_strdup("backing-fmt must be 1 to 255 bytes long");
    if (qcow2_l1_entries_for(log2_of(p->cluster_size), p->size) * 8 > QCOW2_MAX_L1_BYTES)
        return g_strdup_printf("size %" PRIu64 " is too large for cluster-size %" PRIu64,
                               p->size, p->cluster_size);
    return NULL;
}

static size_t header_extensions_end(const Qcow2CreateParams *p)
{
    size_t len = p->version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_HEADER_V3_WRITTEN;

    if (p->backing_fmt)
        len += 8 + ((strlen(p->backing_fmt) + 7) & ~(size_t)7);
    return len + 8;     /* the end marker */
}

bool qcow2_create_check(ImageCreate *c, GError **errp)
{
    Qcow2CreateParams p;
    g_autofree char *problem = NULL;

    qcow2_create_params(c, &p);
    problem = params_problem(&p);
    if (!problem && p.backing_file &&
        header_extensions_end(&p) + strlen(p.backing_file) > p.cluster_size)
        problem = g_strdup_printf("backing-file and backing-fmt do not fit in the first "
                                  "cluster of %" PRIu64 " bytes", p.cluster_size);
    if (problem)
        create_invalid(c, errp, "%s", problem);
    return !problem;
}

/* ---- layout ------------------------------------------------------------------------ */

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

void qcow2_create_layout(const Qcow2CreateParams *p, Qcow2CreateLayout *l)
{
    uint64_t cs = p->cluster_size, l2_entries = cs / 8;
    uint64_t refblock_entries = cs * 8 / p->refcount_bits;
    bool mapped = p->prealloc != CREATE_PREALLOC_OFF;

    memset(l, 0, sizeof(*l));
    l->l1_entries = qcow2_l1_entries_for(log2_of(cs), p->size);
    uint64_t l1_clusters = div_round_up(l->l1_entries * 8, cs);
    l->data_clusters = mapped ? div_round_up(p->size, cs) : 0;
    l->l2_tables = mapped ? div_round_up(l->data_clusters, l2_entries) : 0;
    /* Refcount blocks and the table cover themselves too: grow until they fit. */
    l->refblocks = 1;
    l->reftable_clusters = 1;
    for (;;) {
        l->clusters = 1 + l->reftable_clusters + l->refblocks + l1_clusters + l->l2_tables +
                      l->data_clusters;
        uint64_t blocks = div_round_up(l->clusters, refblock_entries);
        uint64_t table = div_round_up(blocks * 8, cs);

        if (blocks <= l->refblocks && table <= l->reftable_clusters)
            break;
        l->refblocks = MAX(blocks, l->refblocks);
        l->reftable_clusters = MAX(table, l->reftable_clusters);
    }
    l->reftable_offset = cs;
    l->refblock_offset = l->reftable_offset + l->reftable_clusters * cs;
    l->l1_offset = l->refblock_offset + l->refblocks * cs;
    l->l2_offset = l->l1_offset + l1_clusters * cs;
    l->data_offset = l->l2_offset + l->l2_tables * cs;
    /* As QEMU: without data the file ends with the L1 table. */
    l->file_length = mapped ? l->clusters * cs : l->l1_offset + l->l1_entries * 8;
}

/* ---- the header -------------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8; p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, v >> 16);
    put_be16(p + 2, v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

void qcow2_create_header(const Qcow2CreateParams *p, const Qcow2CreateLayout *l, uint8_t *buf)
{
    size_t off = p->version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_HEADER_V3_WRITTEN;

    memset(buf, 0, p->cluster_size);
    put_be32(buf, QCOW2_MAGIC);
    put_be32(buf + 4, p->version);
    put_be32(buf + 20, log2_of(p->cluster_size));
    put_be64(buf + 24, p->size);
    put_be32(buf + 36, l->l1_entries);
    put_be64(buf + 40, l->l1_offset);
    put_be64(buf + 48, l->reftable_offset);
    put_be32(buf + 56, l->reftable_clusters);
    if (p->version == 3) {
        put_be64(buf + 72, p->compression == QCOW2_COMPRESSION_ZSTD ?
                 QCOW2_INCOMPAT_COMPRESSION : 0);
        put_be64(buf + 80, p->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        put_be32(buf + 96, log2_of(p->refcount_bits));
        put_be32(buf + 100, QCOW2_HEADER_V3_WRITTEN);
        buf[104] = p->compression;
    }
    if (p->backing_fmt) {
        size_t n = strlen(p->backing_fmt);

        put_be32(buf + off, QCOW2_EXT_BACKING_FMT);
        put_be32(buf + off + 4, n);
        memcpy(buf + off + 8, p->backing_fmt, n);
        off += 8 + ((n + 7) & ~(size_t)7);
    }
    off += 8;           /* QCOW2_EXT_END */
    if (p->backing_file) {
        put_be64(buf + 8, off);
        put_be32(buf + 16, strlen(p->backing_file));
        memcpy(buf + off, p->backing_file, strlen(p->backing_file));
    }
}

/* Entry i of a refcount block set to 1 (QEMU's packing: below a byte, low bits first). */
static void refblock_set_one(uint8_t *block, uint64_t i, uint32_t bits)
{
    if (bits < 8)
        block[i * bits / 8] |= 1u << (i * bits % 8);
    else
        block[(i + 1) * (bits / 8) - 1] = 1;    /* big endian: the last byte */
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct Qcow2Writer {
    ImageCreate *c;
    const Qcow2CreateParams *p;
    const Qcow2CreateLayout *l;
    uint8_t *buf;               /* one cluster */
} Qcow2Writer;

static int coroutine_fn write_cluster(Qcow2Writer *w, uint64_t offset)
{
    int r = create_target_pwrite(w->c, offset, w->buf, w->p->cluster_size);

    if (r == 0 && !w->c->progress(w->c, w->p->cluster_size))
        r = -ECANCELED;
    return r;
}

static int coroutine_fn write_refcounts(Qcow2Writer *w)
{
    uint64_t cs = w->p->cluster_size, per_block = cs * 8 / w->p->refcount_bits;
    int r = 0;

    for (uint64_t t = 0; t < w->l->reftable_clusters && r == 0; t++) {
        memset(w->buf, 0, cs);
        for (uint64_t i = 0; i < cs / 8 && t * (cs / 8) + i < w->l->refblocks; i++)
            put_be64(w->buf + i * 8, w->l->refblock_offset + (t * (cs / 8) + i) * cs);
        r = write_cluster(w, w->l->reftable_offset + t * cs);
    }
    for (uint64_t b = 0; b < w->l->refblocks && r == 0; b++) {
        memset(w->buf, 0, cs);
        for (uint64_t i = 0; i < per_block && b * per_block + i < w->l->clusters; i++)
            refblock_set_one(w->buf, i, w->p->refcount_bits);
        r = write_cluster(w, w->l->refblock_offset + b * cs);
    }
    return r;
}

/* Table entries first..first+n of a run of entries that point at consecutive clusters. */
static void fill_entries(uint8_t *buf, uint64_t n, uint64_t target, uint64_t cs)
{
    for (uint64_t i = 0; i < n; i++)
        put_be64(buf + i * 8, (target + i * cs) | QCOW2_OFLAG_COPIED);
}

static int coroutine_fn write_tables(Qcow2Writer *w)
{
    uint64_t cs = w->p->cluster_size, per = cs / 8;
    uint64_t l1_bytes = w->l->l1_entries * 8;
    int r = 0;

    /* The L1 table: zeroes, or every L2 table (a whole cluster at a time). */
    for (uint64_t i = 0; i < w->l->l1_entries && r == 0; i += per) {
        uint64_t n = MIN(per, w->l->l1_entries - i);

        memset(w->buf, 0, cs);
        if (w->l->l2_tables)
            fill_entries(w->buf, n, w->l->l2_offset + i * cs, cs);
        r = create_target_pwrite(w->c, w->l->l1_offset + i * 8, w->buf,
                                 w->l->l2_tables ? n * 8 : MIN(cs, l1_bytes - i * 8));
    }
    for (uint64_t t = 0; t < w->l->l2_tables && r == 0; t++) {
        uint64_t first = t * per, n = MIN(per, w->l->data_clusters - first);

        memset(w->buf, 0, cs);
        fill_entries(w->buf, n, w->l->data_offset + first * cs, cs);
        r = write_cluster(w, w->l->l2_offset + t * cs);
    }
    return r;
}

static int coroutine_fn write_image(Qcow2Writer *w)
{
    int r = create_target_truncate(w->c, 0, CREATE_PREALLOC_OFF);

    if (r < 0)
        return r;
    qcow2_create_header(w->p, w->l, w->buf);
    r = write_cluster(w, 0);
    if (r == 0)
        r = write_refcounts(w);
    if (r == 0)
        r = write_tables(w);
    /* The data range: sparse (metadata), allocated (falloc) or zeroes (full). */
    if (r == 0 && create_target_length(w->c) < w->l->file_length)
        r = create_target_truncate(w->c, w->l->file_length,
                                   w->p->prealloc == CREATE_PREALLOC_METADATA ?
                                   CREATE_PREALLOC_OFF : w->p->prealloc);
    if (r == 0)
        r = create_target_flush(w->c);
    return r;
}

int coroutine_fn qcow2_co_create(ImageCreate *c, GError **errp)
{
    Qcow2CreateParams p;
    Qcow2CreateLayout l;
    g_autofree uint8_t *buf = NULL;
    uint64_t meta;
    int r;

    qcow2_create_params(c, &p);
    qcow2_create_layout(&p, &l);
    meta = (1 + l.reftable_clusters + l.refblocks + l.l2_tables) * p.cluster_size;
    c->progress_total(c, meta + (p.prealloc == CREATE_PREALLOC_FALLOC ||
                                 p.prealloc == CREATE_PREALLOC_FULL ?
                                 l.data_clusters * p.cluster_size : 0));
    buf = g_malloc(p.cluster_size);
    Qcow2Writer w = { .c = c, .p = &p, .l = &l, .buf = buf };
    r = write_image(&w);
    return r < 0 ? create_io_error(c, errp, r, "writing the image") : 0;
}
