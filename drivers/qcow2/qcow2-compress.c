/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compressed clusters: descriptor parsing and decompression (raw deflate
 * through zlib, zstd through libzstd, as the header's compression type says).
 */

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

#include "drivers/qcow2/qcow2.h"

void qcow2_parse_compressed(const Qcow2State *s, uint64_t e, uint64_t *ret_offset,
                            uint64_t *ret_len)
{
    uint64_t off = e & s->cluster_offset_mask;
    uint64_t sectors = ((e >> s->csize_shift) & s->csize_mask) + 1;
    *ret_offset = off;
    *ret_len = sectors * 512 - (off & 511);
}

static int inflate_raw(const void *src, size_t src_len, void *dst, size_t dst_len)
{
    z_stream z = { 0 };
    if (inflateInit2(&z, -12) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)src;
    z.avail_in = src_len;
    z.next_out = dst;
    z.avail_out = dst_len;
    int r = inflate(&z, Z_FINISH);
    size_t produced = dst_len - z.avail_out;
    inflateEnd(&z);
    /* The data may end in the middle of the last sector: a full cluster is what counts. */
    if ((r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && produced == dst_len)
        return 0;
    return -EIO;
}

static int unzstd(const void *src, size_t src_len, void *dst, size_t dst_len)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx)
        return -ENOMEM;
    ZSTD_inBuffer in = { src, src_len, 0 };
    ZSTD_outBuffer out = { dst, dst_len, 0 };
    int ret = 0;
    while (out.pos < out.size) {
        size_t last_in = in.pos, last_out = out.pos;
        size_t r = ZSTD_decompressStream(dctx, &out, &in);
        if (ZSTD_isError(r)) {
            ret = -EIO;
            break;
        }
        if (r == 0 && out.pos < out.size && in.pos == in.size) {
            ret = -EIO;     /* frame ended before a full cluster */
            break;
        }
        if (in.pos == last_in && out.pos == last_out) {
            ret = -EIO;     /* no progress: truncated input */
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return ret;
}

int qcow2_decompress(Qcow2CompressionType type, const void *src, size_t src_len,
                     void *dst, size_t dst_len)
{
    switch (type) {
    case QCOW2_COMPRESSION_ZLIB:
        return inflate_raw(src, src_len, dst, dst_len);
    case QCOW2_COMPRESSION_ZSTD:
        return unzstd(src, src_len, dst, dst_len);
    }
    return -ENOTSUP;
}
