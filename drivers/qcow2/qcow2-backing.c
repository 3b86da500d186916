/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rewriting the backing file name and format in the image header (stream
 * and commit change a node's backing file).  The header, its extensions and
 * the name live in the first cluster: it is rebuilt in memory and written
 * in one piece, so a crash leaves either the old or the new header.
 */

#include <errno.h>
#include <string.h>

#include "drivers/qcow2/qcow2.h"
#include "graph/error.h"

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void set_be64(uint8_t *p, uint64_t v)
{
    set_be32(p, v >> 32);
    set_be32(p + 4, (uint32_t)v);
}

/* Appends one extension at *off; false if it does not fit before end. */
static bool put_ext(uint8_t *out, size_t *off, size_t end, uint32_t type, const void *data,
                    uint32_t len)
{
    size_t padded = ((size_t)len + 7) & ~(size_t)7;

    if (*off + 8 + padded > end)
        return false;
    set_be32(out + *off, type);
    set_be32(out + *off + 4, len);
    memset(out + *off + 8, 0, padded);
    if (len)
        memcpy(out + *off + 8, data, len);
    *off += 8 + padded;
    return true;
}

bool qcow2_header_rebuild(const Qcow2State *s, const uint8_t *in, uint8_t *out,
                          uint32_t ext_type, const void *ext_data, uint32_t ext_len,
                          const char *filename)
{
    size_t cs = s->cluster_size, hl = s->hdr.header_length, off = hl, in_off = hl;

    memcpy(out, in, hl);
    memset(out + hl, 0, cs - hl);
    while (in_off + 8 <= cs) {
        uint32_t type = get_be32(in + in_off), len = get_be32(in + in_off + 4);

        in_off += 8;
        if (type == QCOW2_EXT_END || len > cs - in_off)
            break;
        if (type != ext_type && !put_ext(out, &off, cs, type, in + in_off, len))
            return false;
        in_off += ((size_t)len + 7) & ~(size_t)7;
    }
    if (ext_data && !put_ext(out, &off, cs, ext_type, ext_data, ext_len))
        return false;
    if (!put_ext(out, &off, cs, QCOW2_EXT_END, NULL, 0))
        return false;
    size_t name_len = filename ? strlen(filename) : 0;
    if (off + name_len > cs)
        return false;
    memcpy(out + off, filename ? filename : "", name_len);
    set_be64(out + 8, name_len ? off : 0);
    set_be32(out + 16, (uint32_t)name_len);
    return true;
}

int coroutine_fn qcow2_co_change_backing_file(BlockNode *node, const char *filename,
                                              const char *format, GError **errp)
{
    Qcow2State *s = node->opaque;
    g_autofree uint8_t *in = g_malloc(s->cluster_size);
    g_autofree uint8_t *out = g_malloc(s->cluster_size);
    int ret;

    if (filename && (strlen(filename) > QCOW2_MAX_BACKING_NAME || (format && strlen(format) > 63))) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "%s: backing file name '%s' is too long", s->what, filename);
        return -EINVAL;
    }
    co_mutex_lock(&s->lock);
    ret = qcow2_file_pread(s, 0, s->cluster_size, in);
    if (ret == 0 && !qcow2_header_rebuild(s, in, out, QCOW2_EXT_BACKING_FMT,
                                          filename ? format : NULL,
                                          format ? (uint32_t)strlen(format) : 0, filename))
        ret = -ENOSPC;
    if (ret == 0)
        ret = qcow2_file_pwrite(s, 0, s->cluster_size, out);
    if (ret == 0)
        ret = qcow2_file_flush(s);
    if (ret == 0) {
        g_free(s->hdr.backing_file);
        g_free(s->hdr.backing_format);
        s->hdr.backing_file = g_strdup(filename);
        s->hdr.backing_format = filename ? g_strdup(format) : NULL;
        g_free(node->backing_filename);
        g_free(node->backing_format);
        node->backing_filename = g_strdup(s->hdr.backing_file);
        node->backing_format = g_strdup(s->hdr.backing_format);
    }
    co_mutex_unlock(&s->lock);
    if (ret < 0)
        bg_set_error_errno(errp, ret, "%s: cannot write the backing file name into the header",
                           s->what);
    return ret;
}
