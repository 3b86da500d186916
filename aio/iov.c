/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>
#include <glib.h>

#include "aio/iov.h"

void iov_init(IOVector *v, int alloc_hint)
{
    v->alloc = alloc_hint > 0 ? alloc_hint : 1;
    v->iov = g_new(struct iovec, v->alloc);
    v->niov = 0;
    v->size = 0;
}

void iov_init_buf(IOVector *v, void *buf, size_t len)
{
    v->local.iov_base = buf;
    v->local.iov_len = len;
    v->iov = &v->local;
    v->niov = 1;
    v->alloc = 0;
    v->size = len;
}

void iov_add(IOVector *v, void *base, size_t len)
{
    g_assert(v->alloc > 0);
    if (len == 0)
        return;
    if (v->niov > 0) {
        struct iovec *last = &v->iov[v->niov - 1];
        if ((char *)last->iov_base + last->iov_len == base) {
            last->iov_len += len;
            v->size += len;
            return;
        }
    }
    if (v->niov == v->alloc) {
        v->alloc *= 2;
        v->iov = g_renew(struct iovec, v->iov, v->alloc);
    }
    v->iov[v->niov].iov_base = base;
    v->iov[v->niov].iov_len = len;
    v->niov++;
    v->size += len;
}

void iov_concat_slice(IOVector *dst, const IOVector *src, size_t offset, size_t len)
{
    for (int i = 0; i < src->niov && len > 0; i++) {
        size_t l = src->iov[i].iov_len;
        if (offset >= l) {
            offset -= l;
            continue;
        }
        size_t n = MIN(l - offset, len);
        iov_add(dst, (char *)src->iov[i].iov_base + offset, n);
        len -= n;
        offset = 0;
    }
    g_assert(len == 0);
}

void iov_reset(IOVector *v)
{
    v->niov = 0;
    v->size = 0;
}

void iov_destroy(IOVector *v)
{
    if (v->alloc > 0)
        g_free(v->iov);
    v->iov = NULL;
    v->niov = v->alloc = 0;
    v->size = 0;
}

/* Calls fn on each piece of [offset, offset+len); returns bytes covered. */
#define IOV_FOR_EACH_PIECE(v, offset, len, piece, plen, body)                  \
    do {                                                                       \
        size_t _off = (offset), _left = (len);                                 \
        for (int _i = 0; _i < (v)->niov && _left > 0; _i++) {                  \
            size_t _l = (v)->iov[_i].iov_len;                                  \
            if (_off >= _l) {                                                  \
                _off -= _l;                                                    \
                continue;                                                      \
            }                                                                  \
            char *piece = (char *)(v)->iov[_i].iov_base + _off;                \
            size_t plen = MIN(_l - _off, _left);                               \
            body;                                                              \
            _left -= plen;                                                     \
            _off = 0;                                                          \
        }                                                                      \
    } while (0)

size_t iov_to_buf(const IOVector *v, size_t offset, void *buf, size_t len)
{
    size_t done = 0;

    IOV_FOR_EACH_PIECE(v, offset, len, piece, plen, {
        memcpy((char *)buf + done, piece, plen);
        done += plen;
    });
    return done;
}

size_t iov_from_buf(IOVector *v, size_t offset, const void *buf, size_t len)
{
    size_t done = 0;

    IOV_FOR_EACH_PIECE(v, offset, len, piece, plen, {
        memcpy(piece, (const char *)buf + done, plen);
        done += plen;
    });
    return done;
}

void iov_memset(IOVector *v, size_t offset, int c, size_t len)
{
    IOV_FOR_EACH_PIECE(v, offset, len, piece, plen, memset(piece, c, plen));
}

bool buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;

    /* Check the first 16 bytes, then compare the buffer with itself shifted. */
    for (size_t i = 0; i < len && i < 16; i++)
        if (p[i])
            return false;
    return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

bool iov_is_zero(const IOVector *v, size_t offset, size_t len)
{
    bool zero = true;

    IOV_FOR_EACH_PIECE(v, offset, len, piece, plen, {
        if (zero && !buffer_is_zero(piece, plen))
            zero = false;
    });
    return zero;
}

int iovec_advance(struct iovec **iov, int niov, size_t n)
{
    while (niov > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        niov--;
    }
    if (niov > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
    return niov;
}
