/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The `nbd` client protocol driver, shared between its parts:
 *   nbd.c          options, open/close, the driver table
 *   nbd-connect.c  one connection: socket connect and handshake (libnbd), off the loop's back
 *   nbd-link.c     the live connection on the loop, loss and background reconnect
 *   nbd-io.c       requests: submit, wait, resend after a reconnect
 *
 * The protocol itself (handshake, structured replies, base:allocation,
 * cookies) is libnbd's; see docs/nbd-client.md for why.
 */

#include <stdbool.h>
#include <stdint.h>
#include <libnbd.h>
#include <systemd/sd-event.h>

#include "aio/coroutine.h"
#include "graph/node.h"

typedef enum NbdLinkState {
    NBD_LINK_CONNECTED,     /* requests go out */
    NBD_LINK_WAIT,          /* lost, within reconnect-delay: requests wait */
    NBD_LINK_DOWN,          /* lost for longer (or no delay): requests fail with EIO */
} NbdLinkState;

/* Where the server is (the `server.*` options). */
typedef struct NbdAddress {
    bool is_unix;
    char *path;             /* unix */
    char *host;             /* inet */
    char *port;             /* inet, decimal */
} NbdAddress;

/* What the server said about the export; a reconnect must find the same. */
typedef struct NbdExportCaps {
    uint64_t size;
    bool read_only;
    bool can_flush, can_fua, can_trim, can_zero, can_fast_zero;
    bool can_block_status;  /* base:allocation negotiated */
    uint32_t min_block;     /* 1 if the server did not say */
    uint32_t max_request;   /* largest read/write we send */
} NbdExportCaps;

/* A cancellable wait of the reconnecting coroutine (nbd_co_wait_fd). */
typedef struct NbdWait NbdWait;

typedef struct NbdState {
    BlockNode *node;
    NbdAddress addr;
    char *export_name;
    uint64_t reconnect_delay_us;
    uint64_t open_timeout_us;
    NbdExportCaps caps;

    /* The live connection (nbd-link.c). */
    struct nbd_handle *h;
    sd_event_source *io;
    uint32_t io_events;
    unsigned gen;               /* changes with every new connection */
    NbdLinkState state;
    GQueue in_flight;           /* NbdReq, submitted and not answered */
    CoQueue link_waiters;       /* requests waiting for a reconnect */
    uint64_t writes_done;       /* writes, zeroes and trims the server answered */
    uint64_t writes_flushed;    /* how many of them a flush has covered */

    /* Reconnecting. */
    sd_event_source *delay_timer;   /* ends NBD_LINK_WAIT */
    Coroutine *reconnect_co;
    NbdWait *wait;              /* what reconnect_co waits for now */
    CoQueue reconnect_done;     /* close waits here for reconnect_co to end */
    bool closing;
} NbdState;

/* ---- nbd-connect.c ---- */

/*
 * Connects to the server and completes the handshake, yielding while the
 * socket is busy; gives up at deadline_us (CLOCK_MONOTONIC) or when close
 * cancels it.  On success *ret_h is ready for requests and *ret_caps says
 * what the export offers.
 */
int coroutine_fn nbd_co_connect(NbdState *s, uint64_t deadline_us, struct nbd_handle **ret_h,
                                NbdExportCaps *ret_caps, GError **errp);

/*
 * Waits until fd has one of events (returns the events it has), the
 * deadline passes (0) or close cancels the wait (-ECANCELED).  fd < 0:
 * only the deadline.
 */
int coroutine_fn nbd_co_wait_fd(NbdState *s, int fd, uint32_t events, uint64_t deadline_us);
/* Ends the reconnecting coroutine's wait at once (close). */
void nbd_wait_cancel(NbdState *s);

uint64_t nbd_now_us(void);

/* ---- nbd-link.c ---- */

/* Makes h the live connection (after nbd_co_connect). */
void nbd_link_start(NbdState *s, struct nbd_handle *h);
/* After any call into the handle: notices a dead connection, or updates the poll events. */
void nbd_link_check(NbdState *s);
/* Until the link is up again or given up: 0 when requests may go out, else -EIO. */
int coroutine_fn nbd_link_co_wait(NbdState *s);
/* Stops reconnecting, says goodbye to the server and drops the connection. */
void coroutine_fn nbd_link_co_close(NbdState *s);

/* ---- nbd-io.c ---- */

typedef enum NbdReqType {
    NBD_REQ_READ,
    NBD_REQ_WRITE,
    NBD_REQ_FLUSH,
    NBD_REQ_TRIM,
    NBD_REQ_ZERO,
    NBD_REQ_BLOCK_STATUS,
} NbdReqType;

typedef struct NbdReq {
    NbdState *s;
    NbdReqType type;
    void *buf;
    uint64_t offset;
    uint64_t count;
    uint32_t flags;             /* LIBNBD_CMD_FLAG_* */

    Coroutine *co;
    GList link;                 /* in s->in_flight */
    bool waiting;               /* co yielded for the answer */
    bool done;
    int error;                  /* positive errno */
    unsigned gen;               /* connection it went out on */

    uint64_t extent_len;        /* block status answer */
    uint32_t extent_flags;
    bool extent_seen;
} NbdReq;

/* The driver's request operations (BlockDriver). */
int coroutine_fn nbd_co_preadv(BlockNode *node, uint64_t offset, uint64_t bytes,
                               IOVector *qiov, BlockReqFlags flags);
int coroutine_fn nbd_co_pwritev(BlockNode *node, uint64_t offset, uint64_t bytes,
                                IOVector *qiov, BlockReqFlags flags);
int coroutine_fn nbd_co_pwrite_zeroes(BlockNode *node, uint64_t offset, uint64_t bytes,
                                      BlockReqFlags flags);
int coroutine_fn nbd_co_pdiscard(BlockNode *node, uint64_t offset, uint64_t bytes);
int coroutine_fn nbd_co_flush(BlockNode *node);
int coroutine_fn nbd_co_block_status(BlockNode *node, uint64_t offset, uint64_t bytes,
                                     uint64_t *pnum, uint64_t *map, BlockNode **file);

/* Ends a request with err (positive errno, 0); wakes its coroutine. */
void nbd_req_finish(NbdReq *req, int err);
