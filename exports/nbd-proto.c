/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NBD option negotiation and request decoding on byte buffers.  Nothing
 * here touches a socket: the connection code feeds it what it read and
 * sends what it appended to neg->out.
 */

#include <errno.h>
#include <string.h>

#include "exports/nbd-proto.h"

uint32_t nbd_errno_to_wire(int err)
{
    switch (err < 0 ? -err : err) {
    case 0:          return 0;
    case EPERM:
    case EROFS:
    case EACCES:     return NBD_EPERM;
    case ENOMEM:     return NBD_ENOMEM;
    case EINVAL:     return NBD_EINVAL;
    case EFBIG:
    case ENOSPC:     return NBD_ENOSPC;
    case EOVERFLOW:  return NBD_EOVERFLOW;
    case ENOTSUP:    return NBD_ENOTSUP;
    case ESHUTDOWN:  return NBD_ESHUTDOWN;
    default:         return NBD_EIO;
    }
}

const char *nbd_cmd_name(uint16_t type)
{
    static const char *const names[] = {
        [NBD_CMD_READ] = "read", [NBD_CMD_WRITE] = "write", [NBD_CMD_DISC] = "disc",
        [NBD_CMD_FLUSH] = "flush", [NBD_CMD_TRIM] = "trim", [NBD_CMD_CACHE] = "cache",
        [NBD_CMD_WRITE_ZEROES] = "write-zeroes", [NBD_CMD_BLOCK_STATUS] = "block-status",
    };
    return type < G_N_ELEMENTS(names) ? names[type] : "unknown";
}

const char *nbd_opt_name(uint32_t opt)
{
    static const char *const names[] = {
        [NBD_OPT_EXPORT_NAME] = "export-name", [NBD_OPT_ABORT] = "abort",
        [NBD_OPT_LIST] = "list", [NBD_OPT_PEEK_EXPORT] = "peek-export",
        [NBD_OPT_STARTTLS] = "starttls", [NBD_OPT_INFO] = "info", [NBD_OPT_GO] = "go",
        [NBD_OPT_STRUCTURED_REPLY] = "structured-reply",
        [NBD_OPT_LIST_META_CONTEXT] = "list-meta-context",
        [NBD_OPT_SET_META_CONTEXT] = "set-meta-context",
    };
    return opt < G_N_ELEMENTS(names) && names[opt] ? names[opt] : "unknown";
}

/* ---- output helpers --------------------------------------------------------- */

static void out_u16(GByteArray *out, uint16_t v)
{
    uint8_t b[2];
    nbd_put16(b, v);
    g_byte_array_append(out, b, sizeof(b));
}

static void out_u32(GByteArray *out, uint32_t v)
{
    uint8_t b[4];
    nbd_put32(b, v);
    g_byte_array_append(out, b, sizeof(b));
}

static void out_u64(GByteArray *out, uint64_t v)
{
    uint8_t b[8];
    nbd_put64(b, v);
    g_byte_array_append(out, b, sizeof(b));
}

static void opt_reply(NbdNegotiation *neg, uint32_t opt, uint32_t type,
                      const void *data, uint32_t len)
{
    out_u64(neg->out, NBD_REP_MAGIC);
    out_u32(neg->out, opt);
    out_u32(neg->out, type);
    out_u32(neg->out, len);
    if (len)
        g_byte_array_append(neg->out, data, len);
}

static NbdNegResult opt_error(NbdNegotiation *neg, uint32_t opt, uint32_t type,
                              const char *msg)
{
    opt_reply(neg, opt, type, msg, (uint32_t)strlen(msg));
    return NBD_NEG_CONTINUE;
}

/* ---- payload reader --------------------------------------------------------- */

typedef struct Cursor {
    const uint8_t *p;
    uint32_t left;
    bool bad;
} Cursor;

static uint32_t cur_u32(Cursor *c)
{
    if (c->left < 4) {
        c->bad = true;
        return 0;
    }
    uint32_t v = nbd_get32(c->p);
    c->p += 4;
    c->left -= 4;
    return v;
}

static uint16_t cur_u16(Cursor *c)
{
    if (c->left < 2) {
        c->bad = true;
        return 0;
    }
    uint16_t v = nbd_get16(c->p);
    c->p += 2;
    c->left -= 2;
    return v;
}

/* A length-prefixed string; NULL (and c->bad) if it does not fit or holds NUL. */
static char *cur_string(Cursor *c, uint32_t len)
{
    if (c->bad || len > c->left || len > NBD_MAX_STRING || memchr(c->p, 0, len)) {
        c->bad = true;
        return NULL;
    }
    char *s = g_strndup((const char *)c->p, len);
    c->p += len;
    c->left -= len;
    return s;
}

/* ---- handshake -------------------------------------------------------------- */

void nbd_negotiation_init(NbdNegotiation *neg, const NbdNegotiationOps *ops, void *opaque)
{
    *neg = (NbdNegotiation){ .ops = ops, .opaque = opaque, .out = g_byte_array_new() };
}

void nbd_negotiation_clear(NbdNegotiation *neg)
{
    g_clear_pointer(&neg->export_name, g_free);
    g_clear_pointer(&neg->meta_export, g_free);
    if (neg->out)
        g_byte_array_unref(neg->out);
    neg->out = NULL;
}

void nbd_negotiation_greeting(NbdNegotiation *neg)
{
    out_u64(neg->out, NBD_MAGIC);
    out_u64(neg->out, NBD_OPTS_MAGIC);
    out_u16(neg->out, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
}

bool nbd_negotiation_client_flags(NbdNegotiation *neg, const uint8_t buf[4])
{
    neg->client_flags = nbd_get32(buf);
    return (neg->client_flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) == 0;
}

bool nbd_option_header_parse(const uint8_t buf[16], uint32_t *ret_opt, uint32_t *ret_len)
{
    if (nbd_get64(buf) != NBD_OPTS_MAGIC)
        return false;
    *ret_opt = nbd_get32(buf + 8);
    *ret_len = nbd_get32(buf + 12);
    return *ret_len <= NBD_MAX_OPTION_LEN;
}

uint16_t nbd_transmission_flags(const NbdNegotiation *neg, bool writable)
{
    /*
     * Multi-conn is safe on every export: all connections share one node,
     * and a flush on any of them flushes that node, so it covers writes
     * completed on every connection.
     */
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_CACHE |
                 NBD_FLAG_CAN_MULTI_CONN;
    if (neg->structured)
        f |= NBD_FLAG_SEND_DF;
    if (writable)
        f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
             NBD_FLAG_SEND_FAST_ZERO;
    else
        f |= NBD_FLAG_READ_ONLY;
    return f;
}

static NbdNegResult opt_export_name(NbdNegotiation *neg, const uint8_t *data, uint32_t len)
{
    Cursor c = { data, len, false };
    g_autofree char *name = cur_string(&c, len);
    if (!name || !neg->ops->lookup(neg->opaque, name, &neg->info) || neg->info.full)
        return NBD_NEG_CLOSE;       /* no way to report an error here */
    out_u64(neg->out, neg->info.size);
    out_u16(neg->out, nbd_transmission_flags(neg, neg->info.writable));
    if (!(neg->client_flags & NBD_FLAG_C_NO_ZEROES)) {
        static const uint8_t zeroes[124];
        g_byte_array_append(neg->out, zeroes, sizeof(zeroes));
    }
    neg->export_name = g_steal_pointer(&name);
    return NBD_NEG_TRANSMIT;
}

typedef struct ListCtx {
    NbdNegotiation *neg;
} ListCtx;

static void list_add(const char *name, const char *description, void *opaque)
{
    ListCtx *ctx = opaque;
    g_autoptr(GByteArray) b = g_byte_array_new();
    size_t nlen = strlen(name);
    out_u32(b, (uint32_t)nlen);
    g_byte_array_append(b, (const uint8_t *)name, (guint)nlen);
    if (description)
        g_byte_array_append(b, (const uint8_t *)description, (guint)strlen(description));
    opt_reply(ctx->neg, NBD_OPT_LIST, NBD_REP_SERVER, b->data, b->len);
}

static NbdNegResult opt_list(NbdNegotiation *neg, uint32_t len)
{
    if (len)
        return opt_error(neg, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
    ListCtx ctx = { neg };
    neg->ops->list(neg->opaque, list_add, &ctx);
    opt_reply(neg, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
    return NBD_NEG_CONTINUE;
}

static void info_reply(NbdNegotiation *neg, uint32_t opt, uint16_t type, const NbdExportInfo *info)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    out_u16(b, type);
    switch (type) {
    case NBD_INFO_EXPORT:
        out_u64(b, info->size);
        out_u16(b, nbd_transmission_flags(neg, info->writable));
        break;
    case NBD_INFO_NAME:
        g_byte_array_append(b, (const uint8_t *)info->name, (guint)strlen(info->name));
        break;
    case NBD_INFO_DESCRIPTION:
        g_byte_array_append(b, (const uint8_t *)info->description,
                            (guint)strlen(info->description));
        break;
    case NBD_INFO_BLOCK_SIZE:
        out_u32(b, NBD_MIN_BLOCK_SIZE);
        out_u32(b, NBD_PREF_BLOCK_SIZE);
        out_u32(b, NBD_MAX_REQUEST_SIZE);
        break;
    }
    opt_reply(neg, opt, NBD_REP_INFO, b->data, b->len);
}

static NbdNegResult opt_info_go(NbdNegotiation *neg, uint32_t opt, const uint8_t *data,
                                uint32_t len)
{
    Cursor c = { data, len, false };
    uint32_t nlen = cur_u32(&c);
    g_autofree char *name = cur_string(&c, nlen);
    uint16_t nreq = cur_u16(&c);
    if (c.bad || c.left != 2u * nreq)
        return opt_error(neg, opt, NBD_REP_ERR_INVALID, "malformed NBD_OPT_INFO/GO payload");

    bool want_name = false, want_desc = false, want_bs = (opt == NBD_OPT_INFO);
    for (uint16_t i = 0; i < nreq; i++) {
        uint16_t t = cur_u16(&c);
        want_name |= t == NBD_INFO_NAME;
        want_desc |= t == NBD_INFO_DESCRIPTION;
        want_bs |= t == NBD_INFO_BLOCK_SIZE;
    }
    NbdExportInfo info;
    if (!neg->ops->lookup(neg->opaque, name, &info)) {
        g_autofree char *msg = g_strdup_printf("export '%s' not present", name);
        return opt_error(neg, opt, NBD_REP_ERR_UNKNOWN, msg);
    }
    if (opt == NBD_OPT_GO && info.full) {
        g_autofree char *msg = g_strdup_printf("export '%s' serves as many clients as it may "
                                               "(max-connections)", name);
        return opt_error(neg, opt, NBD_REP_ERR_POLICY, msg);
    }
    if (want_name)
        info_reply(neg, opt, NBD_INFO_NAME, &info);
    if (want_desc && info.description)
        info_reply(neg, opt, NBD_INFO_DESCRIPTION, &info);
    if (want_bs)
        info_reply(neg, opt, NBD_INFO_BLOCK_SIZE, &info);
    info_reply(neg, opt, NBD_INFO_EXPORT, &info);
    opt_reply(neg, opt, NBD_REP_ACK, NULL, 0);
    if (opt == NBD_OPT_INFO)
        return NBD_NEG_CONTINUE;
    neg->info = info;
    if (g_strcmp0(neg->meta_export, info.name) != 0) {
        /* Contexts were chosen for another export: none apply (as QEMU does). */
        neg->meta_base_allocation = false;
        neg->meta_bitmaps = 0;
    }
    neg->export_name = g_steal_pointer(&name);
    return NBD_NEG_TRANSMIT;
}

static NbdNegResult opt_structured(NbdNegotiation *neg, uint32_t len)
{
    if (len)
        return opt_error(neg, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ERR_INVALID,
                         "NBD_OPT_STRUCTURED_REPLY takes no data");
    neg->structured = true;
    opt_reply(neg, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NULL, 0);
    return NBD_NEG_CONTINUE;
}

/* What a LIST or SET_META_CONTEXT selects: base:allocation and a mask of bitmaps. */
typedef struct MetaSelection {
    bool base_allocation;
    uint32_t bitmaps;
} MetaSelection;

static uint32_t all_bitmaps(const NbdExportInfo *info)
{
    uint32_t mask = 0;
    for (unsigned i = 0; info->bitmaps && info->bitmaps[i] && i < NBD_MAX_EXPORT_BITMAPS; i++)
        mask |= 1u << i;
    return mask & ~info->bitmaps_gone;
}

/*
 * Adds what query q selects (QEMU's rules, docs/interop/nbd.txt): exact
 * names always; in LIST also the bare namespaces "base:", "qemu:" and
 * "qemu:dirty-bitmap:", which stand for every context below them.
 */
static void meta_query_select(const char *q, bool list, const NbdExportInfo *info,
                              MetaSelection *sel)
{
    if (strcmp(q, NBD_META_BASE_ALLOCATION) == 0 || (list && strcmp(q, "base:") == 0))
        sel->base_allocation = true;
    if (list && (strcmp(q, "qemu:") == 0 || strcmp(q, NBD_META_DIRTY_BITMAP_PREFIX) == 0))
        sel->bitmaps |= all_bitmaps(info);
    if (!g_str_has_prefix(q, NBD_META_DIRTY_BITMAP_PREFIX))
        return;
    const char *bm = q + strlen(NBD_META_DIRTY_BITMAP_PREFIX);
    for (unsigned i = 0; *bm && info->bitmaps && info->bitmaps[i] && i < NBD_MAX_EXPORT_BITMAPS;
         i++) {
        if (strcmp(bm, info->bitmaps[i]) == 0 && !(info->bitmaps_gone & (1u << i)))
            sel->bitmaps |= 1u << i;
    }
}

static void meta_reply(NbdNegotiation *neg, uint32_t opt, uint32_t id, const char *prefix,
                       const char *name)
{
    size_t plen = strlen(prefix), nlen = strlen(name);
    g_autofree uint8_t *b = g_malloc(4 + plen + nlen);
    nbd_put32(b, id);
    memcpy(b + 4, prefix, plen);
    memcpy(b + 4 + plen, name, nlen);
    opt_reply(neg, opt, NBD_REP_META_CONTEXT, b, (uint32_t)(4 + plen + nlen));
}

static void meta_replies(NbdNegotiation *neg, uint32_t opt, const NbdExportInfo *info,
                         const MetaSelection *sel)
{
    if (sel->base_allocation)
        meta_reply(neg, opt, NBD_META_ID_BASE_ALLOCATION, NBD_META_BASE_ALLOCATION, "");
    for (unsigned i = 0; i < NBD_MAX_EXPORT_BITMAPS; i++) {
        if (sel->bitmaps & (1u << i))
            meta_reply(neg, opt, NBD_META_ID_DIRTY_BITMAP(i), NBD_META_DIRTY_BITMAP_PREFIX,
                       info->bitmaps[i]);
    }
}

static NbdNegResult opt_meta_context(NbdNegotiation *neg, uint32_t opt, const uint8_t *data,
                                     uint32_t len)
{
    bool list = opt == NBD_OPT_LIST_META_CONTEXT;
    if (!neg->structured)
        return opt_error(neg, opt, NBD_REP_ERR_INVALID,
                         "meta contexts need NBD_OPT_STRUCTURED_REPLY first");
    Cursor c = { data, len, false };
    uint32_t nlen = cur_u32(&c);
    g_autofree char *name = cur_string(&c, nlen);
    uint32_t nq = cur_u32(&c);
    g_autoptr(GPtrArray) queries = g_ptr_array_new_with_free_func(g_free);
    for (uint32_t i = 0; i < nq && !c.bad; i++) {
        uint32_t qlen = cur_u32(&c);
        char *q = cur_string(&c, qlen);
        if (q)
            g_ptr_array_add(queries, q);
    }
    if (c.bad || c.left)
        return opt_error(neg, opt, NBD_REP_ERR_INVALID, "malformed meta context payload");
    NbdExportInfo info;
    if (!neg->ops->lookup(neg->opaque, name, &info)) {
        g_autofree char *msg = g_strdup_printf("export '%s' not present", name);
        return opt_error(neg, opt, NBD_REP_ERR_UNKNOWN, msg);
    }
    MetaSelection sel = { false, 0 };
    if (list && nq == 0)
        sel = (MetaSelection){ true, all_bitmaps(&info) };
    for (guint i = 0; i < queries->len; i++)
        meta_query_select(queries->pdata[i], list, &info, &sel);
    if (!list) {
        neg->meta_base_allocation = sel.base_allocation;
        neg->meta_bitmaps = sel.bitmaps;
        g_free(neg->meta_export);
        neg->meta_export = g_strdup(info.name);
    }
    meta_replies(neg, opt, &info, &sel);
    opt_reply(neg, opt, NBD_REP_ACK, NULL, 0);
    return NBD_NEG_CONTINUE;
}

static NbdNegResult opt_starttls(NbdNegotiation *neg, uint32_t len)
{
    if (!neg->tls_required)
        return opt_error(neg, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY,
                         "TLS is not configured on this address");
    if (neg->tls_active)
        return opt_error(neg, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS is already active");
    if (len)
        return opt_error(neg, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                         "NBD_OPT_STARTTLS takes no data");
    opt_reply(neg, NBD_OPT_STARTTLS, NBD_REP_ACK, NULL, 0);
    return NBD_NEG_STARTTLS;
}

/* An option other than STARTTLS before TLS, on an address that requires it. */
static NbdNegResult opt_before_tls(NbdNegotiation *neg, uint32_t opt)
{
    if (opt == NBD_OPT_EXPORT_NAME)
        return NBD_NEG_CLOSE;       /* no way to report an error here */
    if (opt == NBD_OPT_ABORT) {
        opt_reply(neg, opt, NBD_REP_ACK, NULL, 0);
        return NBD_NEG_CLOSE;
    }
    return opt_error(neg, opt, NBD_REP_ERR_TLS_REQD,
                     "TLS is required on this address: send NBD_OPT_STARTTLS first");
}

NbdNegResult nbd_negotiation_option(NbdNegotiation *neg, uint32_t opt,
                                    const uint8_t *data, uint32_t len)
{
    if (opt == NBD_OPT_STARTTLS)
        return opt_starttls(neg, len);
    if (neg->tls_required && !neg->tls_active)
        return opt_before_tls(neg, opt);
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        return opt_export_name(neg, data, len);
    case NBD_OPT_ABORT:
        opt_reply(neg, opt, NBD_REP_ACK, NULL, 0);
        return NBD_NEG_CLOSE;
    case NBD_OPT_LIST:
        return opt_list(neg, len);
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
        return opt_info_go(neg, opt, data, len);
    case NBD_OPT_STRUCTURED_REPLY:
        return opt_structured(neg, len);
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
        return opt_meta_context(neg, opt, data, len);
    default: {
        g_autofree char *msg = g_strdup_printf("option %u not supported", opt);
        return opt_error(neg, opt, NBD_REP_ERR_UNSUP, msg);
    }
    }
}

/* ---- requests ----------------------------------------------------------------- */

bool nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE], NbdRequest *req)
{
    if (nbd_get32(buf) != NBD_REQUEST_MAGIC)
        return false;
    req->flags = nbd_get16(buf + 4);
    req->type = nbd_get16(buf + 6);
    req->cookie = nbd_get64(buf + 8);
    req->offset = nbd_get64(buf + 16);
    req->length = nbd_get32(buf + 24);
    return true;
}

static bool cmd_writes(uint16_t type)
{
    return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

static uint16_t cmd_allowed_flags(uint16_t type)
{
    switch (type) {
    case NBD_CMD_READ:         return NBD_CMD_FLAG_DF | NBD_CMD_FLAG_FUA;
    case NBD_CMD_WRITE:        return NBD_CMD_FLAG_FUA;
    case NBD_CMD_TRIM:         return NBD_CMD_FLAG_FUA;
    case NBD_CMD_WRITE_ZEROES: return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE |
                                      NBD_CMD_FLAG_FAST_ZERO;
    case NBD_CMD_BLOCK_STATUS: return NBD_CMD_FLAG_REQ_ONE;
    default:                   return 0;
    }
}

uint32_t nbd_request_check(const NbdRequest *req, const NbdRequestLimits *lim,
                           uint32_t *ret_payload)
{
    *ret_payload = req->type == NBD_CMD_WRITE ? req->length : 0;

    switch (req->type) {
    case NBD_CMD_DISC:
    case NBD_CMD_FLUSH:
        return 0;
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
    case NBD_CMD_TRIM:
    case NBD_CMD_CACHE:
    case NBD_CMD_WRITE_ZEROES:
    case NBD_CMD_BLOCK_STATUS:
        break;
    default:
        return NBD_EINVAL;
    }
    if (req->flags & ~cmd_allowed_flags(req->type))
        return NBD_EINVAL;
    if ((req->flags & NBD_CMD_FLAG_DF) && !lim->structured)
        return NBD_EINVAL;
    if (cmd_writes(req->type) && !lim->writable)
        return NBD_EPERM;
    if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE) &&
        req->length > NBD_MAX_REQUEST_SIZE)
        return NBD_EOVERFLOW;
    if (req->offset > lim->size || req->length > lim->size - req->offset)
        return req->type == NBD_CMD_WRITE || req->type == NBD_CMD_WRITE_ZEROES
               ? NBD_ENOSPC : NBD_EINVAL;
    if (req->type == NBD_CMD_BLOCK_STATUS &&
        (!lim->structured || !(lim->meta_base_allocation || lim->meta_bitmaps) ||
         req->length == 0))
        return NBD_EINVAL;
    return 0;
}

void nbd_encode_simple_reply(uint8_t buf[NBD_SIMPLE_REPLY_SIZE], uint32_t error,
                             uint64_t cookie)
{
    nbd_put32(buf, NBD_SIMPLE_REPLY_MAGIC);
    nbd_put32(buf + 4, error);
    nbd_put64(buf + 8, cookie);
}

void nbd_encode_chunk_header(uint8_t buf[NBD_STRUCTURED_REPLY_SIZE], uint16_t flags,
                             uint16_t type, uint64_t cookie, uint32_t length)
{
    nbd_put32(buf, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_put16(buf + 4, flags);
    nbd_put16(buf + 6, type);
    nbd_put64(buf + 8, cookie);
    nbd_put32(buf + 16, length);
}

void nbd_encode_offset_data(uint8_t buf[NBD_OFFSET_DATA_HDR_SIZE], uint16_t flags,
                            uint64_t cookie, uint64_t offset, uint32_t length)
{
    nbd_encode_chunk_header(buf, flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + length);
    nbd_put64(buf + NBD_STRUCTURED_REPLY_SIZE, offset);
}

void nbd_encode_offset_hole(uint8_t buf[NBD_OFFSET_HOLE_SIZE], uint16_t flags,
                            uint64_t cookie, uint64_t offset, uint32_t length)
{
    nbd_encode_chunk_header(buf, flags, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);
    nbd_put64(buf + NBD_STRUCTURED_REPLY_SIZE, offset);
    nbd_put32(buf + NBD_STRUCTURED_REPLY_SIZE + 8, length);
}

bool nbd_read_is_sparse(bool structured, uint16_t flags, uint32_t length)
{
    /* DF: the client wants the data in one chunk */
    return structured && !(flags & NBD_CMD_FLAG_DF) && length >= NBD_SPARSE_READ_MIN;
}

uint64_t nbd_data_cache_lookup(const NbdDataCache *c, uint64_t offset)
{
    return offset >= c->start && offset < c->end ? c->end - offset : 0;
}

void nbd_data_cache_set(NbdDataCache *c, uint64_t offset, uint64_t length)
{
    uint64_t end = offset + length;
    if (c->end > c->start && offset <= c->end && end >= c->start) {
        /* overlapping or touching (concurrent misses of one extent): grow */
        c->start = MIN(c->start, offset);
        c->end = MAX(c->end, end);
    } else {
        c->start = offset;
        c->end = end;
    }
}

void nbd_data_cache_forget(NbdDataCache *c, uint64_t offset, uint64_t length)
{
    if (offset < c->end && offset + length > c->start)
        c->start = c->end = 0;
}
