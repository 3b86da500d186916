/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A scatter-gather list with its total size, as the request path passes it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct IOVector {
    struct iovec *iov;
    int niov;
    int alloc;          /* 0: iov is borrowed (iov_init_buf, iov_init_external) */
    size_t size;
    struct iovec local; /* storage for iov_init_buf */
} IOVector;

void iov_init(IOVector *v, int alloc_hint);
/* A one-element vector over buf; no allocation. */
void iov_init_buf(IOVector *v, void *buf, size_t len);
void iov_add(IOVector *v, void *base, size_t len);
/* Appends the part [offset, offset+len) of src to dst. */
void iov_concat_slice(IOVector *dst, const IOVector *src, size_t offset, size_t len);
void iov_reset(IOVector *v);
void iov_destroy(IOVector *v);

size_t iov_to_buf(const IOVector *v, size_t offset, void *buf, size_t len);
size_t iov_from_buf(IOVector *v, size_t offset, const void *buf, size_t len);
void iov_memset(IOVector *v, size_t offset, int c, size_t len);
bool iov_is_zero(const IOVector *v, size_t offset, size_t len);
bool buffer_is_zero(const void *buf, size_t len);

/* Moves *iov past n bytes done (a short read or write); returns the segments left. */
int iovec_advance(struct iovec **iov, int niov, size_t n);
