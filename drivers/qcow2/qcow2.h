/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * qcow2 driver internals, shared by drivers/qcow2/qcow2-*.c.
 *
 * Concurrency scheme: one CoMutex per image (s->lock) guards all metadata
 * (L1 table, L2 and refcount caches, refcount table, header).  Guest data
 * I/O runs outside it.  A write that allocates a guest cluster registers a
 * Qcow2Alloc under the lock, drops the lock to write the data (and the
 * copy-on-write head/tail) into the new host cluster, then retakes the lock
 * to link the cluster into the L2 table.  Any request touching a guest
 * cluster with an allocation in flight waits for it to finish, so
 * allocation of one cluster is serialized while writes to different
 * clusters proceed in parallel.
 *
 * Write-back ordering (crash safety): a new cluster's refcount reaches the
 * file before any L2 / L1 / refcount-table entry that points at it (the L2
 * cache depends on the refcount cache); a cluster is unlinked on disk
 * before its refcount drops (frees write the L2 cache through first).
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "aio/coroutine.h"
#include "aio/iov.h"
#include "drivers/create.h"
#include "graph/driver.h"
#include "graph/node.h"

#define QCOW2_MAGIC 0x514649fbu  /* "QFI\xfb" */

#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (8u * 1024 * 1024)
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104

/* Feature bits. */
enum {
    QCOW2_INCOMPAT_DIRTY       = 1u << 0,
    QCOW2_INCOMPAT_CORRUPT     = 1u << 1,
    QCOW2_INCOMPAT_DATA_FILE   = 1u << 2,
    QCOW2_INCOMPAT_COMPRESSION = 1u << 3,
    QCOW2_INCOMPAT_EXTL2       = 1u << 4,
    QCOW2_INCOMPAT_MASK        = (1u << 5) - 1,
    QCOW2_COMPAT_LAZY_REFCOUNTS = 1u << 0,
    QCOW2_AUTOCLEAR_BITMAPS    = 1u << 0,   /* the bitmaps extension is consistent */
};

/* Header extension types. */
enum {
    QCOW2_EXT_END          = 0x00000000u,
    QCOW2_EXT_BACKING_FMT  = 0xe2792acau,
    QCOW2_EXT_FEATURE_TBL  = 0x6803f857u,
    QCOW2_EXT_BITMAPS      = 0x23852875u,
    QCOW2_EXT_CRYPTO       = 0x0537be77u,
    QCOW2_EXT_DATA_FILE    = 0x44415441u,
};

typedef enum Qcow2CompressionType {
    QCOW2_COMPRESSION_ZLIB = 0,
    QCOW2_COMPRESSION_ZSTD = 1,
} Qcow2CompressionType;

/* L1 / L2 entry bits. */
#define QCOW2_OFLAG_COPIED     (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO       (1ull << 0)
#define QCOW2_L1E_OFFSET_MASK  0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK  0x00fffffffffffe00ull
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ull

typedef enum Qcow2OverlapCheck {
    QCOW2_OVERLAP_NONE,
    QCOW2_OVERLAP_CONSTANT,
    QCOW2_OVERLAP_CACHED,
    QCOW2_OVERLAP_ALL,
} Qcow2OverlapCheck;

/* The parsed header and first-cluster extensions (pure data, no I/O). */
typedef struct Qcow2Header {
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;

    /* The bitmaps extension (only meaningful with QCOW2_AUTOCLEAR_BITMAPS). */
    bool has_bitmaps;
    uint32_t nb_bitmaps;
    uint64_t bitmap_dir_size;
    uint64_t bitmap_dir_offset;

    char *backing_file;         /* NULL: none */
    char *backing_format;       /* from the extension, or NULL */
    char *unknown_features;     /* names of unknown incompatible bits, or NULL */
} Qcow2Header;

void qcow2_header_clear(Qcow2Header *h);

/*
 * Parses the first cluster of an image (buf, len = bytes available, at most
 * one cluster) into h, checking everything that can be checked without the
 * file: magic, version, sizes, feature bits, extensions, backing name.
 * what names the image in messages.  file_size bounds the table offsets.
 */
bool qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
                        const char *what, Qcow2Header *h, GError **errp);

/*
 * How many bytes from the start of the file qcow2_header_parse needs, given
 * the first len bytes (at most a cluster; len itself if the header is bad).
 */
size_t qcow2_header_bytes_needed(const uint8_t *buf, size_t len);

typedef struct Qcow2Cache Qcow2Cache;
typedef struct Qcow2State Qcow2State;

/* A guest cluster being allocated: other requests on it wait. */
typedef struct Qcow2Alloc {
    uint64_t guest_cluster;     /* guest offset >> cluster_bits */
    CoQueue waiters;
} Qcow2Alloc;

struct Qcow2State {
    BlockNode *node;
    char *what;                 /* "qcow2 image 'path'" for messages */
    Qcow2Header hdr;

    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint32_t l2_bits;           /* log2(entries per L2 table) */
    uint64_t l2_entries;
    uint32_t refcount_order;
    uint32_t refcount_bits;
    uint64_t refblock_entries;
    uint32_t refblock_bits;     /* log2(refblock_entries) */
    uint32_t csize_shift;
    uint64_t csize_mask;
    uint64_t cluster_offset_mask;

    uint64_t *l1_table;         /* host order; allocation rounded to clusters */
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t *refcount_table;   /* host order */
    uint64_t refcount_table_size; /* entries */
    uint64_t refcount_table_used; /* 1 + last non-zero entry (overlap check bound) */
    uint64_t refcount_table_offset;

    Qcow2Cache *l2_cache;
    Qcow2Cache *refcount_cache;
    uint64_t l2_slice_size;     /* l2-cache-entry-size in bytes */

    CoMutex lock;               /* all metadata */
    CoMutex grow_lock;          /* growing the image file */
    GHashTable *allocs;         /* guest cluster -> Qcow2Alloc* in flight */
    uint64_t free_cluster_index;
    uint64_t file_size;         /* file length at open or end of our furthest write:
                                   everything past it reads as zeroes */

    bool writable;
    bool autoclear_pending;     /* became writable by reopen: clear autoclear bits first */
    bool corrupt;
    bool lazy_refcounts;
    bool dirty_on_disk;         /* dirty bit set in the file by us */
    bool pass_discard_request;
    bool pass_discard_other;
    bool discard_no_unref;
    Qcow2OverlapCheck overlap_check;
    uint64_t cache_clean_interval;

    /* Persistent bitmaps (qcow2-bitmap.c): the bitmap directory as it is in the file. */
    GPtrArray *disk_bitmaps;    /* Qcow2BitmapEntry*; NULL or empty: no extension */
    bool bitmaps_in_use;        /* the file marks every loaded bitmap in use */
    void *clean_timer;          /* sd_event_source* */
};

static inline uint64_t qcow2_offset_into_cluster(const Qcow2State *s, uint64_t off)
{
    return off & (s->cluster_size - 1);
}

static inline uint64_t qcow2_start_of_cluster(const Qcow2State *s, uint64_t off)
{
    return off & ~(s->cluster_size - 1);
}

static inline uint64_t qcow2_size_to_clusters(const Qcow2State *s, uint64_t size)
{
    return (size + s->cluster_size - 1) >> s->cluster_bits;
}

/* Unit of in-place metadata updates: 512 or the file's alignment (<= a cluster). */
static inline uint64_t qcow2_sector_size(const Qcow2State *s)
{
    uint64_t a = s->node->file->node->request_alignment;
    return MIN(MAX(a, 512u), s->cluster_size);
}

/* Entries of L1 needed for a virtual size. */
uint64_t qcow2_l1_entries_for(uint32_t cluster_bits, uint64_t size);

/* Header updates (qcow2-header.c); all under s->lock. */
int coroutine_fn qcow2_header_write_features(Qcow2State *s);
/* Rewrites len bytes of the header at field_offset (one aligned sector write). */
int coroutine_fn qcow2_header_write(Qcow2State *s, uint64_t field_offset,
                                    const void *bytes, size_t len);
int coroutine_fn qcow2_mark_dirty(Qcow2State *s);
int coroutine_fn qcow2_mark_clean(Qcow2State *s);
void coroutine_fn qcow2_signal_corruption(Qcow2State *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/* File I/O helpers (qcow2.c). */
int coroutine_fn qcow2_file_pread(Qcow2State *s, uint64_t off, uint64_t len, void *buf);
int coroutine_fn qcow2_file_pwrite(Qcow2State *s, uint64_t off, uint64_t len, const void *buf);
int coroutine_fn qcow2_file_preadv(Qcow2State *s, uint64_t off, uint64_t len, IOVector *qiov);
int coroutine_fn qcow2_file_pwritev(Qcow2State *s, uint64_t off, uint64_t len, IOVector *qiov);
/* As qcow2_file_pwritev, the data copied from [src_off, +len) of src (node_co_copy_range_to). */
int coroutine_fn qcow2_file_copy_range_to(Qcow2State *s, uint64_t off, uint64_t len,
                                          BlockNode *src, uint64_t src_off);
int coroutine_fn qcow2_file_flush(Qcow2State *s);
/*
 * Builds a new first cluster into out from the current one (in): the
 * header, the extensions but those of ext_type, then (ext_type, ext_data)
 * unless ext_data is NULL, the end marker and the backing file name.
 * False if it does not fit in a cluster (qcow2-backing.c).
 */
bool qcow2_header_rebuild(const Qcow2State *s, const uint8_t *in, uint8_t *out,
                          uint32_t ext_type, const void *ext_data, uint32_t ext_len,
                          const char *filename);
/* The driver's co_change_backing_file (qcow2-backing.c). */
int coroutine_fn qcow2_co_change_backing_file(BlockNode *node, const char *filename,
                                              const char *format, GError **errp);
/*
 * Writes entry idx of an in-memory table of 64-bit offsets (L1, refcount
 * table) through to the file at table_offset: the sector holding it, in big
 * endian, after the overlap check (ol_kind: what the write may touch).
 */
int coroutine_fn qcow2_write_table_entry(Qcow2State *s, const uint64_t *table, uint64_t n_entries,
                                         uint64_t table_offset, uint64_t idx, unsigned ol_kind);
/* Makes the file at least end bytes long (in 1 MiB steps; never shrinks). */
int coroutine_fn qcow2_file_grow(Qcow2State *s, uint64_t end);
/* Refuses a write to [off, off+len) that would hit metadata; -EIO. */
int coroutine_fn qcow2_check_overlap(Qcow2State *s, uint64_t off, uint64_t len, unsigned ignore);
enum {
    QCOW2_OL_L2 = 1u << 0,          /* the write is an L2 table */
    QCOW2_OL_REFBLOCK = 1u << 1,    /* the write is a refcount block */
    QCOW2_OL_L1 = 1u << 2,          /* the write is (part of) the L1 table */
    QCOW2_OL_REFTABLE = 1u << 3,    /* the write is (part of) the refcount table */
    QCOW2_OL_HEADER = 1u << 4,
};

/* Caches (qcow2-cache.c). */
Qcow2Cache *qcow2_cache_new(Qcow2State *s, unsigned entries, uint64_t entry_size,
                            unsigned overlap_kind);
void qcow2_cache_free(Qcow2Cache *c);
int coroutine_fn qcow2_cache_get(Qcow2Cache *c, uint64_t offset, void **ret_table);
int coroutine_fn qcow2_cache_get_empty(Qcow2Cache *c, uint64_t offset, void **ret_table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table);
bool qcow2_cache_has_dirty(const Qcow2Cache *c);
/* Before writing any entry of c, flush dep (and the file) first. */
void qcow2_cache_depends_on(Qcow2Cache *c, Qcow2Cache *dep);
int coroutine_fn qcow2_cache_write(Qcow2Cache *c);
/* Drops an entry covering host range [offset, offset+len) without writing it. */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset, uint64_t len);
/* Drops clean, unpinned entries not used since the last call. */
void qcow2_cache_clean_unused(Qcow2Cache *c);
uint64_t qcow2_cache_entry_size(const Qcow2Cache *c);

/* Refcounts (qcow2-refcount.c); all under s->lock. */
int coroutine_fn qcow2_get_refcount(Qcow2State *s, uint64_t cluster_index, uint64_t *ret);
int coroutine_fn qcow2_update_refcount(Qcow2State *s, uint64_t offset, uint64_t len,
                                       int64_t delta);
/* Allocates n contiguous clusters; returns the host offset or negative errno. */
int64_t coroutine_fn qcow2_alloc_clusters(Qcow2State *s, uint64_t n);
/* Drops the refcount of [offset, offset+len) clusters; unlinks must be on disk first. */
int coroutine_fn qcow2_free_clusters(Qcow2State *s, uint64_t offset, uint64_t len);
/* Loads and validates the refcount table from the header. */
int coroutine_fn qcow2_refcount_init(Qcow2State *s, GError **errp);
bool qcow2_refblock_exists(const Qcow2State *s, uint64_t cluster_index);
/* Recomputes all refcounts of a dirty image from its tables (qcow2-repair.c). */
int coroutine_fn qcow2_repair_refcounts(Qcow2State *s, GError **errp);
/* Writes everything dirty in the right order and flushes the file. */
int coroutine_fn qcow2_write_caches(Qcow2State *s);

/* Cluster mapping (qcow2-cluster.c); all under s->lock. */
typedef enum Qcow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,   /* zero flag, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC,   /* zero flag, preallocated host cluster */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} Qcow2ClusterType;

Qcow2ClusterType qcow2_l2_entry_type(const Qcow2State *s, uint64_t l2_entry);
int coroutine_fn qcow2_l1_init(Qcow2State *s, GError **errp);
/*
 * Looks up the mapping of guest offset: *ret_entry is the raw L2 entry,
 * *ret_count how many bytes from offset (<= bytes) share the type and map
 * contiguously.
 */
int coroutine_fn qcow2_get_mapping(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                   uint64_t *ret_entry, uint64_t *ret_count);
/* Sets the L2 entry of the guest cluster containing offset (allocating the L2 table). */
int coroutine_fn qcow2_set_l2_entry(Qcow2State *s, uint64_t offset, uint64_t entry,
                                    uint64_t *ret_old);
int coroutine_fn qcow2_grow_l1(Qcow2State *s, uint64_t min_size);
/* Releases what an old L2 entry referenced (after the new entry is on disk). */
int coroutine_fn qcow2_free_l2_entry_target(Qcow2State *s, uint64_t old_entry);
/* Zero / discard of whole clusters in [offset, offset+bytes). */
int coroutine_fn qcow2_zero_clusters(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                     bool unmap);
int coroutine_fn qcow2_discard_clusters(Qcow2State *s, uint64_t offset, uint64_t bytes);

/*
 * Persistent dirty bitmaps (qcow2-bitmap.c), QEMU's bitmaps extension;
 * all under s->lock.  load: at open, the directory's bitmaps become the
 * node's (a bitmap of the same name already there takes the bits: after
 * activation); in-use ones load inconsistent.  mark_in_use: when the image
 * becomes writable, so that a crash leaves them inconsistent.  store: at
 * close, inactivation or a reopen read-only, writes every persistent
 * bitmap of the node and a new directory, then frees the old clusters.
 */
typedef struct Qcow2BitmapEntry Qcow2BitmapEntry;
int coroutine_fn qcow2_bitmaps_load(Qcow2State *s, GError **errp);
int coroutine_fn qcow2_bitmaps_mark_in_use(Qcow2State *s);
int coroutine_fn qcow2_bitmaps_store(Qcow2State *s);
void qcow2_bitmaps_free(Qcow2State *s);
bool qcow2_can_store_bitmap(BlockNode *node, const char *name, uint32_t granularity,
                            GError **errp);

/* Compressed clusters (qcow2-compress.c). */
void qcow2_parse_compressed(const Qcow2State *s, uint64_t l2_entry,
                            uint64_t *ret_offset, uint64_t *ret_len);
int qcow2_decompress(Qcow2CompressionType type, const void *src, size_t src_len,
                     void *dst, size_t dst_len);

/* Request paths (qcow2-read.c, qcow2-write.c). */
int coroutine_fn qcow2_read_compressed(Qcow2State *s, uint64_t entry, void *buf);
int coroutine_fn qcow2_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags);
int coroutine_fn qcow2_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                  IOVector *qiov, BlockReqFlags flags);
int coroutine_fn qcow2_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                        BlockReqFlags flags);
/*
 * Copy offload: data clusters (and what the backing node holds under
 * unallocated ones) pass on to the node that stores them; the target
 * allocates whole clusters as a write does.  Zero and compressed clusters,
 * and a write that needs copy-on-write, are -ENOTSUP (through a buffer).
 */
int coroutine_fn qcow2_co_copy_range_from(BlockNode *node, uint64_t offset, BlockChild *dst,
                                          uint64_t dst_offset, uint64_t bytes);
int coroutine_fn qcow2_co_copy_range_to(BlockNode *src, uint64_t src_offset, BlockNode *node,
                                        uint64_t offset, uint64_t bytes);
int coroutine_fn qcow2_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes);
int coroutine_fn qcow2_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       uint64_t *pnum, uint64_t *map, BlockNode **file);
/* Before the first write after a read-only -> read-write reopen. */
int coroutine_fn qcow2_prepare_write(Qcow2State *s);
/* Waits for an allocation in flight on guest cluster; true if it waited. */
bool coroutine_fn qcow2_wait_alloc(Qcow2State *s, uint64_t guest_cluster);
/* Reads guest range from the backing node or zeroes past its end. */
int coroutine_fn qcow2_read_backing(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                    IOVector *qiov, size_t qiov_off);

/* Image creation (qcow2-create.c): the options of <create driver="qcow2">, decoded. */
typedef struct Qcow2CreateParams {
    uint64_t size;
    uint64_t cluster_size;
    uint64_t refcount_bits;
    uint32_t version;           /* 2 or 3 */
    bool lazy_refcounts;
    Qcow2CompressionType compression;
    CreatePrealloc prealloc;
    const char *backing_file;   /* NULL: none */
    const char *backing_fmt;
} Qcow2CreateParams;

/* Where everything of a new image goes (byte offsets; counts in clusters). */
typedef struct Qcow2CreateLayout {
    uint64_t l1_entries;
    uint64_t reftable_offset, reftable_clusters;
    uint64_t refblock_offset, refblocks;
    uint64_t l1_offset;
    uint64_t l2_offset, l2_tables;      /* preallocation: one L2 table per L1 entry used */
    uint64_t data_offset, data_clusters;
    uint64_t clusters;                  /* every cluster that gets a refcount of 1 */
    uint64_t file_length;
} Qcow2CreateLayout;

extern const OptionSpec qcow2_create_options[];
void qcow2_create_params(const ImageCreate *c, Qcow2CreateParams *p);
void qcow2_create_layout(const Qcow2CreateParams *p, Qcow2CreateLayout *l);
/* The first cluster (p->cluster_size bytes at buf): header, extensions, backing name. */
void qcow2_create_header(const Qcow2CreateParams *p, const Qcow2CreateLayout *l, uint8_t *buf);
bool qcow2_create_check(ImageCreate *c, GError **errp);
int coroutine_fn qcow2_co_create(ImageCreate *c, GError **errp);
