/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The NBD wire protocol (newstyle fixed handshake, simple and structured
 * replies, base:allocation): constants and the pure parts of the server —
 * option negotiation and request decoding — that work on byte buffers
 * without sockets, so that unit tests and the fuzzer can drive them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

/* Handshake. */
#define NBD_MAGIC                0x4e42444d41474943ULL   /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC           0x49484156454F5054ULL   /* "IHAVEOPT" */
#define NBD_REP_MAGIC            0x0003e889045565a9ULL

#define NBD_FLAG_FIXED_NEWSTYLE  (1u << 0)
#define NBD_FLAG_NO_ZEROES       (1u << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE NBD_FLAG_FIXED_NEWSTYLE
#define NBD_FLAG_C_NO_ZEROES     NBD_FLAG_NO_ZEROES

/* Transmission flags. */
enum {
    NBD_FLAG_HAS_FLAGS         = 1 << 0,
    NBD_FLAG_READ_ONLY         = 1 << 1,
    NBD_FLAG_SEND_FLUSH        = 1 << 2,
    NBD_FLAG_SEND_FUA          = 1 << 3,
    NBD_FLAG_ROTATIONAL        = 1 << 4,
    NBD_FLAG_SEND_TRIM         = 1 << 5,
    NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6,
    NBD_FLAG_SEND_DF           = 1 << 7,
    NBD_FLAG_CAN_MULTI_CONN    = 1 << 8,
    NBD_FLAG_SEND_RESIZE       = 1 << 9,
    NBD_FLAG_SEND_CACHE        = 1 << 10,
    NBD_FLAG_SEND_FAST_ZERO    = 1 << 11,
};

typedef enum NbdOpt {
    NBD_OPT_EXPORT_NAME       = 1,
    NBD_OPT_ABORT             = 2,
    NBD_OPT_LIST              = 3,
    NBD_OPT_PEEK_EXPORT       = 4,
    NBD_OPT_STARTTLS          = 5,
    NBD_OPT_INFO              = 6,
    NBD_OPT_GO                = 7,
    NBD_OPT_STRUCTURED_REPLY  = 8,
    NBD_OPT_LIST_META_CONTEXT = 9,
    NBD_OPT_SET_META_CONTEXT  = 10,
} NbdOpt;

#define NBD_REP_ERR(v)           ((1u << 31) | (v))
enum {
    NBD_REP_ACK              = 1,
    NBD_REP_SERVER           = 2,
    NBD_REP_INFO             = 3,
    NBD_REP_META_CONTEXT     = 4,
    NBD_REP_ERR_UNSUP        = NBD_REP_ERR(1),
    NBD_REP_ERR_POLICY       = NBD_REP_ERR(2),
    NBD_REP_ERR_INVALID      = NBD_REP_ERR(3),
    NBD_REP_ERR_PLATFORM     = NBD_REP_ERR(4),
    NBD_REP_ERR_TLS_REQD     = NBD_REP_ERR(5),
    NBD_REP_ERR_UNKNOWN      = NBD_REP_ERR(6),
    NBD_REP_ERR_SHUTDOWN     = NBD_REP_ERR(7),
    NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_ERR(8),
    NBD_REP_ERR_TOO_BIG      = NBD_REP_ERR(9),
};

enum {
    NBD_INFO_EXPORT      = 0,
    NBD_INFO_NAME        = 1,
    NBD_INFO_DESCRIPTION = 2,
    NBD_INFO_BLOCK_SIZE  = 3,
};

/* Transmission. */
#define NBD_REQUEST_MAGIC            0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC       0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC   0x668e33efu
#define NBD_REQUEST_SIZE             28
#define NBD_SIMPLE_REPLY_SIZE        16
#define NBD_STRUCTURED_REPLY_SIZE    20

typedef enum NbdCmd {
    NBD_CMD_READ         = 0,
    NBD_CMD_WRITE        = 1,
    NBD_CMD_DISC         = 2,
    NBD_CMD_FLUSH        = 3,
    NBD_CMD_TRIM         = 4,
    NBD_CMD_CACHE        = 5,
    NBD_CMD_WRITE_ZEROES = 6,
    NBD_CMD_BLOCK_STATUS = 7,
} NbdCmd;

enum {
    NBD_CMD_FLAG_FUA       = 1 << 0,
    NBD_CMD_FLAG_NO_HOLE   = 1 << 1,
    NBD_CMD_FLAG_DF        = 1 << 2,
    NBD_CMD_FLAG_REQ_ONE   = 1 << 3,
    NBD_CMD_FLAG_FAST_ZERO = 1 << 4,
};

enum {
    NBD_REPLY_FLAG_DONE = 1 << 0,
};

enum {
    NBD_REPLY_TYPE_NONE         = 0,
    NBD_REPLY_TYPE_OFFSET_DATA  = 1,
    NBD_REPLY_TYPE_OFFSET_HOLE  = 2,
    NBD_REPLY_TYPE_BLOCK_STATUS = 5,
    NBD_REPLY_TYPE_ERROR        = (1 << 15) + 1,
    NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2,
};

/* Error values on the wire (not the host's errno numbering). */
enum {
    NBD_EPERM     = 1,
    NBD_EIO       = 5,
    NBD_ENOMEM    = 12,
    NBD_EINVAL    = 22,
    NBD_ENOSPC    = 28,
    NBD_EOVERFLOW = 75,
    NBD_ENOTSUP   = 95,
    NBD_ESHUTDOWN = 108,
};

/* base:allocation flags. */
#define NBD_STATE_HOLE  (1u << 0)
#define NBD_STATE_ZERO  (1u << 1)

#define NBD_META_BASE_ALLOCATION   "base:allocation"
#define NBD_META_ID_BASE_ALLOCATION 1
/* qemu:dirty-bitmap:<name> (QEMU docs/interop/nbd.txt): bit 0 of the flags says dirty. */
#define NBD_META_DIRTY_BITMAP_PREFIX "qemu:dirty-bitmap:"
#define NBD_META_ID_DIRTY_BITMAP(i) (2u + (i))  /* i: index of the export's bitmap */
#define NBD_STATE_DIRTY 1u
#define NBD_MAX_EXPORT_BITMAPS 32               /* bits of a selection mask */

/* Limits. */
#define NBD_MAX_STRING        4096
#define NBD_MAX_OPTION_LEN    (64 * 1024)      /* larger option payloads: disconnect */
#define NBD_MAX_REQUEST_SIZE  (32 * 1024 * 1024)
#define NBD_MIN_BLOCK_SIZE    1
#define NBD_PREF_BLOCK_SIZE   4096

/* ---- byte order helpers -------------------------------------------------- */

static inline uint16_t nbd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t nbd_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t nbd_get64(const uint8_t *p)
{
    return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4);
}
static inline void nbd_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = (uint8_t)v; }
static inline void nbd_put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void nbd_put64(uint8_t *p, uint64_t v)
{
    nbd_put32(p, (uint32_t)(v >> 32));
    nbd_put32(p + 4, (uint32_t)v);
}

/* Host errno (positive or negative) -> NBD wire error. */
uint32_t nbd_errno_to_wire(int err);
const char *nbd_cmd_name(uint16_t type);
const char *nbd_opt_name(uint32_t opt);

/* ---- option negotiation -------------------------------------------------- */

/* What the negotiation knows about one export, from the server's lookup. */
typedef struct NbdExportInfo {
    const char *name;
    const char *description;    /* may be NULL */
    uint64_t size;
    bool writable;
    bool full;                  /* serves as many clients as it may: GO is refused */
    const char *const *bitmaps; /* names offered as qemu:dirty-bitmap:<name>; may be NULL */
    uint32_t bitmaps_gone;      /* bit i: bitmaps[i] is offered no more (after a pivot) */
} NbdExportInfo;

typedef struct NbdNegotiationOps {
    /* Fills *ret for export `name` ("" is the default export); false if unknown. */
    bool (*lookup)(void *opaque, const char *name, NbdExportInfo *ret);
    /* Calls add(name, description, ctx) for each export, for NBD_OPT_LIST. */
    void (*list)(void *opaque,
                 void (*add)(const char *name, const char *description, void *ctx),
                 void *ctx);
} NbdNegotiationOps;

typedef enum NbdNegResult {
    NBD_NEG_CONTINUE,       /* send `out`, read the next option */
    NBD_NEG_TRANSMIT,       /* send `out`, enter transmission with `export_name` */
    NBD_NEG_CLOSE,          /* send `out` (may be empty), close the connection */
    NBD_NEG_STARTTLS,       /* send `out` (the ACK), run the TLS handshake, set tls_active */
} NbdNegResult;

typedef struct NbdNegotiation {
    const NbdNegotiationOps *ops;
    void *opaque;
    uint32_t client_flags;
    /*
     * The address serves TLS only (FORCEDTLS): until the TLS handshake,
     * every option but STARTTLS and ABORT gets NBD_REP_ERR_TLS_REQD.  Set
     * by the server after nbd_negotiation_init.
     */
    bool tls_required;
    bool tls_active;            /* the server completed the TLS handshake */
    bool structured;            /* NBD_OPT_STRUCTURED_REPLY accepted */
    bool meta_base_allocation;  /* base:allocation selected */
    uint32_t meta_bitmaps;      /* bit i: the export's bitmap i selected */
    char *meta_export;          /* the export SET_META_CONTEXT was for */
    char *export_name;          /* set when the result is NBD_NEG_TRANSMIT */
    NbdExportInfo info;         /* of export_name */
    GByteArray *out;            /* bytes to send to the client */
} NbdNegotiation;

void nbd_negotiation_init(NbdNegotiation *neg, const NbdNegotiationOps *ops, void *opaque);
void nbd_negotiation_clear(NbdNegotiation *neg);

/* The server's greeting (18 bytes) into neg->out. */
void nbd_negotiation_greeting(NbdNegotiation *neg);
/* The client's 4 flag bytes; false (close) if it sent flags we do not know. */
bool nbd_negotiation_client_flags(NbdNegotiation *neg, const uint8_t buf[4]);

/*
 * An option header (16 bytes): checks the magic and the length.  Returns
 * false when the client must be disconnected (wrong magic, oversize).
 */
bool nbd_option_header_parse(const uint8_t buf[16], uint32_t *ret_opt, uint32_t *ret_len);

/* Handles one option with its payload; appends the replies to neg->out. */
NbdNegResult nbd_negotiation_option(NbdNegotiation *neg, uint32_t opt,
                                    const uint8_t *data, uint32_t len);

/* Transmission flags for an export given what was negotiated. */
uint16_t nbd_transmission_flags(const NbdNegotiation *neg, bool writable);

/* ---- requests ------------------------------------------------------------- */

typedef struct NbdRequest {
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
} NbdRequest;

/* Decodes a 28-byte request header; false if the magic is wrong. */
bool nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], NbdRequest *req);

typedef struct NbdRequestLimits {
    uint64_t size;
    bool writable;
    bool structured;
    bool meta_base_allocation;
    uint32_t meta_bitmaps;
} NbdRequestLimits;

/*
 * Checks a decoded request against the export.  Returns 0 when it may run,
 * or a positive NBD wire error to reply with.  *ret_payload is the number of
 * payload bytes that follow the header and must be read (or skipped) even
 * when the request is refused (WRITE only).
 */
uint32_t nbd_request_check(const NbdRequest *req, const NbdRequestLimits *lim,
                           uint32_t *ret_payload);

/* ---- reply encoding -------------------------------------------------------- */

void nbd_encode_simple_reply(uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t error,
                             uint64_t cookie);
void nbd_encode_chunk_header(uint8_t buf[NBD_STRUCTURED_REPLY_SIZE], uint16_t flags,
                             uint16_t type, uint64_t cookie, uint32_t length);

#define NBD_OFFSET_DATA_HDR_SIZE (NBD_STRUCTURED_REPLY_SIZE + 8)
#define NBD_OFFSET_HOLE_SIZE     (NBD_STRUCTURED_REPLY_SIZE + 12)

/* Header of an OFFSET_DATA chunk carrying length bytes read at offset. */
void nbd_encode_offset_data(uint8_t buf[NBD_OFFSET_DATA_HDR_SIZE], uint16_t flags,
                            uint64_t cookie, uint64_t offset, uint32_t length);
/* A whole OFFSET_HOLE chunk: length bytes at offset read as zeroes. */
void nbd_encode_offset_hole(uint8_t buf[NBD_OFFSET_HOLE_SIZE], uint16_t flags,
                            uint64_t cookie, uint64_t offset, uint32_t length);

/*
 * Reads at least this long are answered sparsely (OFFSET_HOLE chunks where
 * the node reads as zeroes) when structured replies are on; shorter ones are
 * one OFFSET_DATA chunk, without asking the node for block status.
 */
#define NBD_SPARSE_READ_MIN (64 * 1024)

/* Whether a READ of length bytes with these command flags is answered sparsely. */
bool nbd_read_is_sparse(bool structured, uint16_t flags, uint32_t length);

/*
 * The last range block status called data, so that sparse reads inside it
 * need not ask again (on tmpfs, SEEK_HOLE in a fully allocated file walks
 * every page up to the end of the file).  Remembering data is always safe:
 * it is read from the node and sent as it is; a range that has become
 * zeroes since then is merely sent as data.
 */
typedef struct NbdDataCache {
    uint64_t start, end;
} NbdDataCache;

/* How many bytes from offset are known to be data (0: ask the node). */
uint64_t nbd_data_cache_lookup(const NbdDataCache *c, uint64_t offset);
/* Remembers a data range: joined to the one known if they overlap or touch. */
void nbd_data_cache_set(NbdDataCache *c, uint64_t offset, uint64_t length);
/* Forgets the range if it overlaps [offset, offset + length) (trim, write zeroes). */
void nbd_data_cache_forget(NbdDataCache *c, uint64_t offset, uint64_t length);
