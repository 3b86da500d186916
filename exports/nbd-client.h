/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One NBD connection: socket I/O in coroutines, handshake, requests. */

#include "exports/nbd-server.h"

#define NBD_RBUF_SIZE     (64 * 1024)  /* request headers are read in batches */
#define NBD_MAX_IN_FLIGHT 128
#define NBD_CACHE_CHUNK   (1024 * 1024) /* CACHE reads this much at a time */

typedef struct NbdReq NbdReq;

struct NbdClient {
    NbdListener *listener;      /* NULL once the listener closed, or on an iothread */
    char *where;                /* the listener's address, for messages */
    Export *export;             /* set when transmission starts */
    int fd;
    NbdTlsSession *tls;         /* after NBD_OPT_STARTTLS: all I/O goes through it */
    uint8_t *tls_stage;         /* small pieces of a send gathered into one record */
    sd_event_source *source;    /* edge-triggered; EPOLLOUT only while a writer waits */
    sd_event_source *handshake_timer;
    sd_event_source *send_timer;    /* armed while a writer waits for the socket */
    Coroutine *read_waiter;
    Coroutine *write_waiter;
    bool hold_watch;            /* a large payload is coming: the socket stays in the epoll set */
    bool read_ready;            /* readable since the last recv(), and no reader waited */
    bool quit;                  /* stop reading requests */
    bool dead;                  /* socket failed: stop sending too */
    bool structured;
    bool meta_base_allocation;
    uint32_t meta_bitmaps;      /* bit i: the export's bitmap i (qemu:dirty-bitmap) */
    uint64_t size;              /* the export's size as negotiated: a pivot does not change it */
    bool in_transmission;

    CoMutex send_lock;
    unsigned in_flight;
    uint64_t in_flight_bytes;   /* request data held (payloads, read buffers) */
    CoQueue slot_waiters;       /* the receive loop waits for a free slot / for idle */
    NbdReq *free_reqs;

    uint8_t *rbuf;
    size_t rstart, rend;
    int64_t poll_ns;            /* how long the reader spins before it sleeps */
    int64_t poll_max_ns;        /* the cap poll_ns adapts under now */
    unsigned reqs_since_idle;   /* requests read since the reader last ran out of input */

    /* Reply batching (nbd-send.c). */
    uint8_t *obuf;              /* replies waiting for the flush */
    size_t obuf_len;
    unsigned obuf_replies;      /* replies in obuf */
    uint8_t *sbuf;              /* being sent, under send_lock */
    sd_event_source *flush_source;
    unsigned flushers;          /* flush coroutines running */
    bool closing;
};

struct NbdReq {
    NbdClient *client;
    NbdRequest req;
    uint32_t error;             /* from nbd_request_check */
    void *buf;                  /* payload (WRITE) or data (READ) */
    size_t buf_size;
    uint64_t cost;              /* counted in client->in_flight_bytes */
    bool written;               /* WRITE: received straight into the image, result in write_ret */
    int write_ret;
    NbdReq *next_free;
};

int coroutine_fn nbd_client_co_read(NbdClient *c, void *buf, size_t len);
int coroutine_fn nbd_client_co_sendv(NbdClient *c, struct iovec *iov, int niov, bool more);
/*
 * With send_lock held: sendfile(2) of up to len bytes of fd at offset to
 * the client, until done, the end of the file (*eof) or a full socket; it
 * never waits.  Returns the bytes sent, or a negative errno, after which
 * the connection is dead.
 */
ssize_t nbd_client_sendfile(NbdClient *c, int fd, uint64_t offset, size_t len, bool *eof);
/* The reply flush source, on loop (the connection's). */
int nbd_client_send_init(NbdClient *c, sd_event *loop);
void nbd_client_send_destroy(NbdClient *c);
/* Queues or sends one reply (never interleaved with another). */
int coroutine_fn nbd_client_reply(NbdClient *c, const struct iovec *iov, int niov);
int coroutine_fn nbd_client_co_flush_locked(NbdClient *c, const struct iovec *iov, int niov,
                                            bool more);
/* Sends what is queued unless a sender is busy (the receive loop, before it sleeps). */
void coroutine_fn nbd_client_co_flush_idle(NbdClient *c);
/* Sends everything queued; no flush runs afterwards. */
void coroutine_fn nbd_client_co_drain_replies(NbdClient *c);

/* Runs one request (a coroutine per request); replies and frees it. */
void nbd_request_run(void *opaque);
