/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qcow2 reads and block status: each request is split where the mapping
 * changes (at most one L2 slice at a time); the lookups run under s->lock,
 * the data I/O outside it.
 */

#include <errno.h>
#include <string.h>

#include "graph/io.h"
#include "drivers/qcow2/qcow2.h"

bool coroutine_fn qcow2_wait_alloc(Qcow2State *s, uint64_t guest_cluster)
{
    Qcow2Alloc *a = g_hash_table_lookup(s->allocs, &guest_cluster);
    if (!a)
        return false;
    co_mutex_unlock(&s->lock);
    co_queue_wait(&a->waiters);
    co_mutex_lock(&s->lock);
    return true;
}

/* Looks up the mapping at offset once no allocation is in flight there. */
static int coroutine_fn lookup(Qcow2State *s, uint64_t offset, uint64_t bytes,
                               uint64_t *ret_entry, uint64_t *ret_count)
{
    co_mutex_lock(&s->lock);
    while (qcow2_wait_alloc(s, offset >> s->cluster_bits)) {
    }
    int ret = qcow2_get_mapping(s, offset, bytes, ret_entry, ret_count);
    if (ret == 0) {
        /* Stop before the next cluster with an allocation in flight. */
        uint64_t first = offset >> s->cluster_bits;
        uint64_t last = (offset + *ret_count - 1) >> s->cluster_bits;
        for (uint64_t c = first + 1; c <= last && g_hash_table_size(s->allocs); c++) {
            if (g_hash_table_contains(s->allocs, &c)) {
                *ret_count = (c << s->cluster_bits) - offset;
                break;
            }
        }
    }
    co_mutex_unlock(&s->lock);
    return ret;
}

int coroutine_fn qcow2_read_backing(Qcow2State *s, uint64_t offset, uint64_t bytes,
                                    IOVector *qiov, size_t qiov_off)
{
    BlockChild *b = s->node->backing;
    uint64_t n = 0;
    if (b && offset < b->node->size)
        n = MIN(bytes, b->node->size - offset);
    if (n) {
        IOVector part;
        iov_init(&part, qiov->niov);
        iov_concat_slice(&part, qiov, qiov_off, n);
        int ret = node_co_preadv(b, offset, n, &part, 0);
        iov_destroy(&part);
        if (ret < 0)
            return ret;
    }
    if (n < bytes)
        iov_memset(qiov, qiov_off + n, 0, bytes - n);
    return 0;
}

/* Reads and decompresses the cluster of a compressed L2 entry into buf. */
int coroutine_fn qcow2_read_compressed(Qcow2State *s, uint64_t entry, void *buf)
{
    uint64_t off, len;
    qcow2_parse_compressed(s, entry, &off, &len);
    if (off >= s->file_size) {
        g_warning("%s: compressed cluster at 0x%" PRIx64 " lies past the end of the file",
                  s->what, off);
        return -EIO;
    }
    len = MIN(len, s->file_size - off);
    g_autofree void *cbuf = g_malloc(len);
    int ret = qcow2_file_pread(s, off, len, cbuf);
    if (ret < 0)
        return ret;
    ret = qcow2_decompress(s->hdr.compression_type, cbuf, len, buf, s->cluster_size);
    if (ret < 0)
        g_warning("%s: compressed cluster at 0x%" PRIx64 " does not decompress", s->what, off);
    return ret;
}

static int coroutine_fn read_chunk(Qcow2State *s, uint64_t offset, uint64_t n,
                                   uint64_t e, IOVector *qiov, size_t qoff)
{
    uint64_t in_cluster = qcow2_offset_into_cluster(s, offset);
    switch (qcow2_l2_entry_type(s, e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return qcow2_read_backing(s, offset, n, qiov, qoff);
    case QCOW2_CLUSTER_ZERO_PLAIN:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        iov_memset(qiov, qoff, 0, n);
        return 0;
    case QCOW2_CLUSTER_COMPRESSED: {
        g_autofree uint8_t *buf = g_malloc(s->cluster_size);
        int ret = qcow2_read_compressed(s, e, buf);
        if (ret == 0)
            iov_from_buf(qiov, qoff, buf + in_cluster, n);
        return ret;
    }
    case QCOW2_CLUSTER_NORMAL:
        break;
    }
    uint64_t host = (e & QCOW2_L2E_OFFSET_MASK) + in_cluster;
    uint64_t file_size = s->node->file->node->size;
    if (host > file_size || n > file_size - host) {
        g_warning("%s: data for guest offset 0x%" PRIx64 " at host offset 0x%" PRIx64
                  " lies past the end of the file", s->what, offset, host);
        return -EIO;
    }
    IOVector part;
    iov_init(&part, qiov->niov);
    iov_concat_slice(&part, qiov, qoff, n);
    int ret = qcow2_file_preadv(s, host, n, &part);
    iov_destroy(&part);
    return ret;
}

int coroutine_fn qcow2_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                                 IOVector *qiov, BlockReqFlags flags)
{
    Qcow2State *s = node->opaque;
    size_t qoff = 0;
    while (bytes) {
        uint64_t e, n;
        int ret = lookup(s, offset, bytes, &e, &n);
        if (ret == 0)
            ret = read_chunk(s, offset, n, e, qiov, qoff);
        if (ret < 0)
            return ret;
        offset += n;
        qoff += n;
        bytes -= n;
    }
    return 0;
}

/* One mapping run of a copy offload: to the node that holds the data, or -ENOTSUP. */
static int coroutine_fn copy_chunk_from(Qcow2State *s, uint64_t offset, uint64_t n, uint64_t e,
                                        BlockChild *dst, uint64_t dst_offset)
{
    BlockChild *b = s->node->backing;
    switch (qcow2_l2_entry_type(s, e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        if (!b || offset > b->node->size || n > b->node->size - offset)
            return -ENOTSUP;        /* zeroes past the backing node's end */
        return node_co_copy_range(b, offset, dst, dst_offset, n);
    case QCOW2_CLUSTER_NORMAL:
        break;
    default:
        return -ENOTSUP;
    }
    uint64_t host = (e & QCOW2_L2E_OFFSET_MASK) + qcow2_offset_into_cluster(s, offset);
    uint64_t file_size = s->node->file->node->size;
    if (host > file_size || n > file_size - host)
        return -ENOTSUP;            /* the read through a buffer says what is wrong */
    return node_co_copy_range(s->node->file, host, dst, dst_offset, n);
}

int coroutine_fn qcow2_co_copy_range_from(BlockNode *node, uint64_t offset, BlockChild *dst,
                                          uint64_t dst_offset, uint64_t bytes)
{
    Qcow2State *s = node->opaque;
    while (bytes) {
        uint64_t e, n;
        int ret = lookup(s, offset, bytes, &e, &n);
        if (ret == 0)
            ret = copy_chunk_from(s, offset, n, e, dst, dst_offset);
        if (ret < 0)
            return ret;
        offset += n;
        dst_offset += n;
        bytes -= n;
    }
    return 0;
}

int coroutine_fn qcow2_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                       uint64_t *pnum, uint64_t *map, BlockNode **file)
{
    Qcow2State *s = node->opaque;
    uint64_t e, n;
    int ret = lookup(s, offset, bytes, &e, &n);
    if (ret < 0)
        return ret;
    *pnum = n;
    switch (qcow2_l2_entry_type(s, e)) {
    case QCOW2_CLUSTER_UNALLOCATED:
        return 0;
    case QCOW2_CLUSTER_ZERO_PLAIN:
        return BLOCK_STATUS_ZERO | BLOCK_STATUS_ALLOCATED;
    case QCOW2_CLUSTER_ZERO_ALLOC:
        /* Preallocated: the host cluster exists, but reads return zeroes. */
        *map = (e & QCOW2_L2E_OFFSET_MASK) + qcow2_offset_into_cluster(s, offset);
        *file = node->file->node;
        return BLOCK_STATUS_ZERO | BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
    case QCOW2_CLUSTER_COMPRESSED:
        return BLOCK_STATUS_DATA | BLOCK_STATUS_ALLOCATED;
    case QCOW2_CLUSTER_NORMAL:
        break;
    }
    *map = (e & QCOW2_L2E_OFFSET_MASK) + qcow2_offset_into_cluster(s, offset);
    *file = node->file->node;
    return BLOCK_STATUS_DATA | BLOCK_STATUS_ALLOCATED | BLOCK_STATUS_OFFSET_VALID;
}
