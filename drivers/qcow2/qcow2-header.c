/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 header: parsing and validation of the first cluster (pure, also
 * used by the fuzzer), and the few in-place header updates the driver makes
 * (feature bits, L1 / refcount table location, size).
 */

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "graph/error.h"
#include "drivers/qcow2/qcow2.h"

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64_at(const uint8_t *p)
{
    return (uint64_t)be32_at(p) << 32 | be32_at(p + 4);
}

void qcow2_header_clear(Qcow2Header *h)
{
    g_free(h->backing_file);
    g_free(h->backing_format);
    g_free(h->unknown_features);
    memset(h, 0, sizeof(*h));
}

uint64_t qcow2_l1_entries_for(uint32_t cluster_bits, uint64_t size)
{
    uint32_t shift = cluster_bits + (cluster_bits - 3);
    return (size >> shift) + ((size & ((1ull << shift) - 1)) != 0);
}

static void parse_fixed(const uint8_t *buf, size_t len, Qcow2Header *h)
{
    h->version = be32_at(buf + 4);
    h->backing_file_offset = be64_at(buf + 8);
    h->backing_file_size = be32_at(buf + 16);
    h->cluster_bits = be32_at(buf + 20);
    h->size = be64_at(buf + 24);
    h->crypt_method = be32_at(buf + 32);
    h->l1_size = be32_at(buf + 36);
    h->l1_table_offset = be64_at(buf + 40);
    h->refcount_table_offset = be64_at(buf + 48);
    h->refcount_table_clusters = be32_at(buf + 56);
    h->nb_snapshots = be32_at(buf + 60);
    h->snapshots_offset = be64_at(buf + 64);
    h->header_length = QCOW2_V2_HEADER_LEN;
    h->refcount_order = 4;
    if (h->version >= 3 && len >= QCOW2_V3_HEADER_LEN) {
        h->incompatible_features = be64_at(buf + 72);
        h->compatible_features = be64_at(buf + 80);
        h->autoclear_features = be64_at(buf + 88);
        h->refcount_order = be32_at(buf + 96);
        h->header_length = be32_at(buf + 100);
    }
}

static bool invalid(GError **errp, const char *what, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool invalid(GError **errp, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s: %s", what, msg);
    return false;
}

static bool unsupported(GError **errp, const char *what, const char *feature)
{
    g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                "%s: unsupported qcow2 feature: %s", what, feature);
    return false;
}

/* A table of n bytes at off must be cluster aligned and inside the file. */
static bool check_table(const Qcow2Header *h, uint64_t off, uint64_t n, uint64_t file_size,
                        const char *table, const char *what, GError **errp)
{
    if (off & ((1ull << h->cluster_bits) - 1))
        return invalid(errp, what, "%s offset 0x%" PRIx64 " is not cluster aligned",
                       table, off);
    if (off == 0 && n > 0)
        return invalid(errp, what, "%s overlaps the header", table);
    if (off > file_size || n > file_size - off)
        return invalid(errp, what, "%s at 0x%" PRIx64 " (%" PRIu64
                       " bytes) reaches past the end of the file (%" PRIu64 " bytes)",
                       table, off, n, file_size);
    return true;
}

static bool check_geometry(const Qcow2Header *h, uint64_t file_size, const char *what,
                           GError **errp)
{
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return invalid(errp, what, "cluster_bits %u is outside 9..21", h->cluster_bits);
    uint64_t cs = 1ull << h->cluster_bits;
    if (h->version >= 3 && (h->header_length < QCOW2_V3_HEADER_LEN ||
                            h->header_length % 8 || h->header_length > cs))
        return invalid(errp, what, "header_length %u is invalid", h->header_length);
    if (h->refcount_order > 6)
        return invalid(errp, what, "refcount_order %u is larger than 6", h->refcount_order);
    if (h->size > INT64_MAX)
        return invalid(errp, what, "virtual size %" PRIu64 " is too large", h->size);
    uint64_t need = qcow2_l1_entries_for(h->cluster_bits, h->size);
    if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES || need * 8 > QCOW2_MAX_L1_BYTES)
        return invalid(errp, what, "L1 table is too large (virtual size %" PRIu64 ")", h->size);
    if (h->l1_size < need)
        return invalid(errp, what, "L1 table has %u entries, virtual size %" PRIu64
                       " needs %" PRIu64, h->l1_size, h->size, need);
    if (!check_table(h, h->l1_table_offset, (uint64_t)h->l1_size * 8, file_size,
                     "L1 table", what, errp))
        return false;
    uint64_t rt = (uint64_t)h->refcount_table_clusters << h->cluster_bits;
    if (h->refcount_table_clusters == 0 || rt > QCOW2_MAX_REFTABLE_BYTES)
        return invalid(errp, what, "refcount table size %u clusters is invalid",
                       h->refcount_table_clusters);
    if (!check_table(h, h->refcount_table_offset, rt, file_size, "refcount table", what, errp))
        return false;
    if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return invalid(errp, what, "%u snapshots is too many", h->nb_snapshots);
    if (h->nb_snapshots &&
        !check_table(h, h->snapshots_offset, 40ull * h->nb_snapshots, file_size,
                     "snapshot table", what, errp))
        return false;
    return true;
}

static const char *incompat_name(unsigned bit)
{
    static const char *const names[] = { "dirty bit", "corrupt bit", "external data file",
                                         "compression type", "extended L2 entries" };
    return bit < G_N_ELEMENTS(names) ? names[bit] : NULL;
}

/* Names of unknown incompatible bits, from the feature name table if present. */
static char *describe_unknown(uint64_t bits, const uint8_t *tbl, size_t tbl_len)
{
    GString *out = g_string_new(NULL);
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(bits & (1ull << bit)))
            continue;
        g_autofree char *name = NULL;
        for (size_t i = 0; tbl && i + 48 <= tbl_len; i += 48) {
            if (tbl[i] == 0 && tbl[i + 1] == bit)
                name = g_strndup((const char *)tbl + i + 2, 46);
        }
        g_string_append_printf(out, "%s%s", out->len ? ", " : "",
                               name ? name : "unknown incompatible feature");
        if (!name)
            g_string_append_printf(out, " bit %u", bit);
    }
    return g_string_free(out, FALSE);
}

static bool check_features(Qcow2Header *h, const uint8_t *ftbl, size_t ftbl_len,
                           const char *what, GError **errp)
{
    uint64_t unknown = h->incompatible_features & ~(uint64_t)QCOW2_INCOMPAT_MASK;
    if (unknown) {
        h->unknown_features = describe_unknown(unknown, ftbl, ftbl_len);
        return unsupported(errp, what, h->unknown_features);
    }
    if (h->crypt_method == 1)
        return unsupported(errp, what, "AES encryption");
    if (h->crypt_method)
        return unsupported(errp, what, "LUKS encryption");
    for (unsigned bit = 2; bit <= 4; bit += 2) {
        if (h->incompatible_features & (1ull << bit))
            return unsupported(errp, what, incompat_name(bit));
    }
    bool has_type = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
    if (has_type != (h->compression_type != 0))
        return invalid(errp, what, "compression type %u does not match the feature bit",
                       h->compression_type);
    if (h->compression_type > QCOW2_COMPRESSION_ZSTD)
        return unsupported(errp, what, "unknown compression type");
    return true;
}

/* Walks the extensions between the header and end; remembers the feature table. */
static bool parse_extensions(const uint8_t *buf, size_t end, Qcow2Header *h,
                             const uint8_t **ftbl, size_t *ftbl_len,
                             const char *what, GError **errp)
{
    size_t off = h->header_length;
    while (off + 8 <= end) {
        uint32_t type = be32_at(buf + off);
        uint32_t len = be32_at(buf + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END)
            return true;
        if (len > end - off)
            return invalid(errp, what, "header extension 0x%08x of %u bytes is truncated",
                           type, len);
        if (type == QCOW2_EXT_BACKING_FMT) {
            if (len > 63)
                return invalid(errp, what, "backing format name is too long");
            g_free(h->backing_format);
            h->backing_format = g_strndup((const char *)buf + off, len);
        } else if (type == QCOW2_EXT_BITMAPS) {
            if (len != 24)
                return invalid(errp, what, "bitmaps extension has %u bytes, not 24", len);
            h->has_bitmaps = true;
            h->nb_bitmaps = be32_at(buf + off);
            h->bitmap_dir_size = be64_at(buf + off + 8);
            h->bitmap_dir_offset = be64_at(buf + off + 16);
        } else if (type == QCOW2_EXT_FEATURE_TBL) {
            *ftbl = buf + off;
            *ftbl_len = len;
        }
        uint64_t padded = ((uint64_t)len + 7) & ~7ull;
        if (padded > end - off)
            return true;
        off += padded;
    }
    return true;
}

static bool parse_backing(const uint8_t *buf, size_t len, Qcow2Header *h,
                          const char *what, GError **errp)
{
    if (!h->backing_file_offset)
        return true;
    if (h->backing_file_size > QCOW2_MAX_BACKING_NAME || h->backing_file_size == 0)
        return invalid(errp, what, "backing file name length %u is invalid",
                       h->backing_file_size);
    if (h->backing_file_offset > len || h->backing_file_size > len - h->backing_file_offset)
        return invalid(errp, what, "backing file name at 0x%" PRIx64
                       " lies outside the first cluster", h->backing_file_offset);
    h->backing_file = g_strndup((const char *)buf + h->backing_file_offset,
                                h->backing_file_size);
    if (strlen(h->backing_file) != h->backing_file_size)
        return invalid(errp, what, "backing file name contains a NUL byte");
    return true;
}

bool qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
                        const char *what, Qcow2Header *h, GError **errp)
{
    memset(h, 0, sizeof(*h));
    if (len < QCOW2_V2_HEADER_LEN || be32_at(buf) != QCOW2_MAGIC)
        return invalid(errp, what, "not a qcow2 image (bad magic)");
    parse_fixed(buf, len, h);
    if (h->version != 2 && h->version != 3) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_SUPPORTED,
                    "%s: unsupported qcow2 version %u", what, h->version);
        return false;
    }
    if (h->version == 3 && len < QCOW2_V3_HEADER_LEN)
        return invalid(errp, what, "header is truncated");
    if (!check_geometry(h, file_size, what, errp))
        return false;
    if (h->header_length > len)
        return invalid(errp, what, "header is truncated");
    if (h->header_length > QCOW2_V3_HEADER_LEN)
        h->compression_type = buf[104];

    size_t ext_end = MIN(len, (size_t)1 << h->cluster_bits);
    if (h->backing_file_offset && h->backing_file_offset < ext_end)
        ext_end = h->backing_file_offset;
    const uint8_t *ftbl = NULL;
    size_t ftbl_len = 0;
    if (!parse_extensions(buf, ext_end, h, &ftbl, &ftbl_len, what, errp))
        return false;
    if (!check_features(h, ftbl, ftbl_len, what, errp))
        return false;
    return parse_backing(buf, MIN(len, (size_t)1 << h->cluster_bits), h, what, errp);
}

size_t qcow2_header_bytes_needed(const uint8_t *buf, size_t len)
{
    if (len < QCOW2_V3_HEADER_LEN)
        return len;
    uint32_t bits = be32_at(buf + 20);
    if (bits < QCOW2_MIN_CLUSTER_BITS || bits > QCOW2_MAX_CLUSTER_BITS)
        return len;     /* the parser will refuse it */
    uint64_t cs = 1ull << bits;
    uint64_t need = be32_at(buf + 4) >= 3 ? be32_at(buf + 100) : QCOW2_V2_HEADER_LEN;
    if (need > cs)
        return len;
    uint64_t boff = be64_at(buf + 8);
    if (boff && boff < cs)
        need = MAX(need, MIN(cs, boff + be32_at(buf + 16)));
    for (uint64_t off = need; off + 8 <= cs;) {
        if (off + 8 > len)
            return cs;
        uint32_t type = be32_at(buf + off), elen = be32_at(buf + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END) {
            need = MAX(need, off);
            break;
        }
        off += ((uint64_t)elen + 7) & ~7ull;
        if (off > len)
            return cs;
    }
    return MIN(need, cs);
}

/* ---- in-place updates ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

/* Rewrites header bytes as one aligned read-modify-write of the first sector. */
int coroutine_fn qcow2_header_write(Qcow2State *s, uint64_t field_offset,
                                    const void *bytes, size_t len)
{
    uint64_t sector = qcow2_sector_size(s);
    g_assert(field_offset + len <= sector);
    g_autofree uint8_t *buf = g_malloc(sector);
    int ret = qcow2_file_pread(s, 0, sector, buf);
    if (ret < 0)
        return ret;
    memcpy(buf + field_offset, bytes, len);
    return qcow2_file_pwrite(s, 0, sector, buf);
}

int coroutine_fn qcow2_header_write_features(Qcow2State *s)
{
    if (s->hdr.version < 3)
        return 0;
    uint8_t buf[24];
    put_be64(buf, s->hdr.incompatible_features);
    put_be64(buf + 8, s->hdr.compatible_features);
    put_be64(buf + 16, s->hdr.autoclear_features);
    return qcow2_header_write(s, 72, buf, sizeof(buf));
}

int coroutine_fn qcow2_mark_dirty(Qcow2State *s)
{
    if (s->dirty_on_disk || s->hdr.version < 3)
        return 0;
    /* Everything before the bit is set must be consistent on disk. */
    int ret = qcow2_file_flush(s);
    if (ret < 0)
        return ret;
    s->hdr.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    ret = qcow2_header_write_features(s);
    if (ret < 0)
        return ret;
    ret = qcow2_file_flush(s);
    s->dirty_on_disk = ret == 0;
    return ret;
}

int coroutine_fn qcow2_mark_clean(Qcow2State *s)
{
    if (!s->dirty_on_disk)
        return 0;
    int ret = qcow2_write_caches(s);
    if (ret < 0)
        return ret;
    s->hdr.incompatible_features &= ~(uint64_t)QCOW2_INCOMPAT_DIRTY;
    ret = qcow2_header_write_features(s);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret == 0)
        s->dirty_on_disk = false;
    return ret;
}

/* Marks the image corrupt (v3: in the header too) and stops all writes. */
void coroutine_fn qcow2_signal_corruption(Qcow2State *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_warning("%s: corruption detected: %s%s", s->what, msg,
              s->writable ? "; further writes refused" : "");
    if (s->corrupt || !s->writable)
        return;
    s->corrupt = true;
    if (s->hdr.version >= 3) {
        s->hdr.incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        (void)qcow2_header_write_features(s);
        (void)qcow2_file_flush(s);
    }
    /* Fatal: the node answers EIO from now on (and switches to the error driver). */
    node_fail(s->node, "corrupt qcow2 metadata: %s", msg);
}
