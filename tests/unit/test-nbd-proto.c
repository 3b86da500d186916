/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NBD option negotiation and request checks on byte buffers (exports/nbd-proto.c). */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "exports/nbd-proto.h"

static bool fake_lookup(void *opaque, const char *name, NbdExportInfo *ret)
{
    if (strcmp(name, "disk0") != 0 && name[0] != '\0')
        return false;
    *ret = (NbdExportInfo){ .name = "disk0", .size = 1 << 20, .writable = opaque != NULL };
    return true;
}

static void fake_list(void *opaque, void (*add)(const char *, const char *, void *), void *ctx)
{
    add("disk0", NULL, ctx);
}

static const NbdNegotiationOps ops = { fake_lookup, fake_list };

typedef struct Reply {
    uint32_t opt, type, len;
    const uint8_t *data;
} Reply;

/* Splits neg->out into option replies; returns how many. */
static int split_replies(const GByteArray *out, Reply *r, int max)
{
    size_t pos = 0;
    int n = 0;
    while (pos + 20 <= out->len && n < max) {
        assert_int_equal(nbd_get64(out->data + pos), NBD_REP_MAGIC);
        r[n] = (Reply){ nbd_get32(out->data + pos + 8), nbd_get32(out->data + pos + 12),
                        nbd_get32(out->data + pos + 16), out->data + pos + 20 };
        pos += 20 + r[n].len;
        n++;
    }
    assert_int_equal(pos, out->len);
    return n;
}

static GByteArray *go_payload(const char *name, uint16_t nreq, const uint16_t *reqs)
{
    GByteArray *b = g_byte_array_new();
    uint8_t tmp[4];
    nbd_put32(tmp, (uint32_t)strlen(name));
    g_byte_array_append(b, tmp, 4);
    g_byte_array_append(b, (const uint8_t *)name, (guint)strlen(name));
    nbd_put16(tmp, nreq);
    g_byte_array_append(b, tmp, 2);
    for (uint16_t i = 0; i < nreq; i++) {
        nbd_put16(tmp, reqs[i]);
        g_byte_array_append(b, tmp, 2);
    }
    return b;
}

static void test_greeting_and_flags(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    nbd_negotiation_greeting(&neg);
    assert_int_equal(neg.out->len, 18);
    assert_true(nbd_get64(neg.out->data) == NBD_MAGIC);
    assert_true(nbd_get64(neg.out->data + 8) == NBD_OPTS_MAGIC);
    uint8_t f[4];
    nbd_put32(f, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    assert_true(nbd_negotiation_client_flags(&neg, f));
    nbd_put32(f, 1u << 7);
    assert_false(nbd_negotiation_client_flags(&neg, f));
    nbd_negotiation_clear(&neg);
}

static void test_option_header(void **state)
{
    uint8_t h[16];
    uint32_t opt, len;
    nbd_put64(h, NBD_OPTS_MAGIC);
    nbd_put32(h + 8, NBD_OPT_GO);
    nbd_put32(h + 12, 10);
    assert_true(nbd_option_header_parse(h, &opt, &len));
    assert_int_equal(opt, NBD_OPT_GO);
    assert_int_equal(len, 10);
    nbd_put32(h + 12, NBD_MAX_OPTION_LEN + 1);
    assert_false(nbd_option_header_parse(h, &opt, &len));
    nbd_put64(h, NBD_MAGIC);
    nbd_put32(h + 12, 0);
    assert_false(nbd_option_header_parse(h, &opt, &len));
}

static void test_go_known(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    uint16_t reqs[] = { NBD_INFO_BLOCK_SIZE };
    g_autoptr(GByteArray) p = go_payload("disk0", 1, reqs);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_GO, p->data, p->len), NBD_NEG_TRANSMIT);
    assert_string_equal(neg.export_name, "disk0");
    Reply r[8];
    int n = split_replies(neg.out, r, 8);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].type, NBD_REP_INFO);
    assert_int_equal(nbd_get16(r[0].data), NBD_INFO_BLOCK_SIZE);
    assert_int_equal(nbd_get32(r[0].data + 10), NBD_MAX_REQUEST_SIZE);
    assert_int_equal(r[1].type, NBD_REP_INFO);
    assert_int_equal(nbd_get16(r[1].data), NBD_INFO_EXPORT);
    assert_true(nbd_get64(r[1].data + 2) == 1 << 20);
    uint16_t flags = nbd_get16(r[1].data + 10);
    assert_true(flags & NBD_FLAG_READ_ONLY);
    assert_false(flags & NBD_FLAG_SEND_WRITE_ZEROES);
    assert_int_equal(r[2].type, NBD_REP_ACK);
    nbd_negotiation_clear(&neg);
}

static void test_go_unknown_and_malformed(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    g_autoptr(GByteArray) p = go_payload("nope", 0, NULL);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_GO, p->data, p->len), NBD_NEG_CONTINUE);
    Reply r[4];
    assert_int_equal(split_replies(neg.out, r, 4), 1);
    assert_int_equal(r[0].type, NBD_REP_ERR_UNKNOWN);
    g_byte_array_set_size(neg.out, 0);
    /* name length pointing past the payload */
    uint8_t bad[6] = { 0, 0, 0, 200, 0, 0 };
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_INFO, bad, 6), NBD_NEG_CONTINUE);
    assert_int_equal(split_replies(neg.out, r, 4), 1);
    assert_int_equal(r[0].type, NBD_REP_ERR_INVALID);
    nbd_negotiation_clear(&neg);
}

static void test_export_name(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, (void *)1);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_EXPORT_NAME,
                                            (const uint8_t *)"zz", 2), NBD_NEG_CLOSE);
    assert_int_equal(neg.out->len, 0);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_EXPORT_NAME,
                                            (const uint8_t *)"disk0", 5), NBD_NEG_TRANSMIT);
    assert_int_equal(neg.out->len, 8 + 2 + 124);
    uint16_t flags = nbd_get16(neg.out->data + 8);
    assert_false(flags & NBD_FLAG_READ_ONLY);
    assert_true(flags & NBD_FLAG_SEND_FUA);
    nbd_negotiation_clear(&neg);
}

static void test_list_abort_unknown(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_LIST, NULL, 0), NBD_NEG_CONTINUE);
    Reply r[4];
    assert_int_equal(split_replies(neg.out, r, 4), 2);
    assert_int_equal(r[0].type, NBD_REP_SERVER);
    assert_int_equal(nbd_get32(r[0].data), 5);
    assert_memory_equal(r[0].data + 4, "disk0", 5);
    assert_int_equal(r[1].type, NBD_REP_ACK);
    g_byte_array_set_size(neg.out, 0);
    assert_int_equal(nbd_negotiation_option(&neg, 4242, NULL, 0), NBD_NEG_CONTINUE);
    assert_int_equal(split_replies(neg.out, r, 4), 1);
    assert_int_equal(r[0].type, NBD_REP_ERR_UNSUP);
    g_byte_array_set_size(neg.out, 0);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_ABORT, NULL, 0), NBD_NEG_CLOSE);
    nbd_negotiation_clear(&neg);
}

static GByteArray *meta_payload(const char *name, const char *query)
{
    GByteArray *b = g_byte_array_new();
    uint8_t tmp[4];
    nbd_put32(tmp, (uint32_t)strlen(name));
    g_byte_array_append(b, tmp, 4);
    g_byte_array_append(b, (const uint8_t *)name, (guint)strlen(name));
    nbd_put32(tmp, query ? 1 : 0);
    g_byte_array_append(b, tmp, 4);
    if (query) {
        nbd_put32(tmp, (uint32_t)strlen(query));
        g_byte_array_append(b, tmp, 4);
        g_byte_array_append(b, (const uint8_t *)query, (guint)strlen(query));
    }
    return b;
}

static void test_meta_context(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    g_autoptr(GByteArray) p = meta_payload("disk0", "base:allocation");
    Reply r[4];
    nbd_negotiation_option(&neg, NBD_OPT_SET_META_CONTEXT, p->data, p->len);
    assert_int_equal(split_replies(neg.out, r, 4), 1);
    assert_int_equal(r[0].type, NBD_REP_ERR_INVALID);
    g_byte_array_set_size(neg.out, 0);

    nbd_negotiation_option(&neg, NBD_OPT_STRUCTURED_REPLY, NULL, 0);
    g_byte_array_set_size(neg.out, 0);
    nbd_negotiation_option(&neg, NBD_OPT_SET_META_CONTEXT, p->data, p->len);
    assert_int_equal(split_replies(neg.out, r, 4), 2);
    assert_int_equal(r[0].type, NBD_REP_META_CONTEXT);
    assert_int_equal(nbd_get32(r[0].data), NBD_META_ID_BASE_ALLOCATION);
    assert_memory_equal(r[0].data + 4, "base:allocation", 15);
    assert_int_equal(r[1].type, NBD_REP_ACK);
    assert_true(neg.meta_base_allocation);
    g_byte_array_set_size(neg.out, 0);

    g_autoptr(GByteArray) q = meta_payload("disk0", "qemu:dirty-bitmap:x");
    nbd_negotiation_option(&neg, NBD_OPT_SET_META_CONTEXT, q->data, q->len);
    assert_int_equal(split_replies(neg.out, r, 4), 1);
    assert_int_equal(r[0].type, NBD_REP_ACK);
    assert_false(neg.meta_base_allocation);
    g_byte_array_set_size(neg.out, 0);

    g_autoptr(GByteArray) l = meta_payload("disk0", NULL);
    nbd_negotiation_option(&neg, NBD_OPT_LIST_META_CONTEXT, l->data, l->len);
    assert_int_equal(split_replies(neg.out, r, 4), 2);
    assert_int_equal(r[0].type, NBD_REP_META_CONTEXT);
    nbd_negotiation_clear(&neg);
}

static uint32_t check(uint16_t type, uint16_t flags, uint64_t off, uint32_t len, bool writable,
                      uint32_t *payload)
{
    uint8_t b[NBD_REQUEST_SIZE];
    nbd_put32(b, NBD_REQUEST_MAGIC);
    nbd_put16(b + 4, flags);
    nbd_put16(b + 6, type);
    nbd_put64(b + 8, 7);
    nbd_put64(b + 16, off);
    nbd_put32(b + 24, len);
    NbdRequest req;
    assert_true(nbd_request_decode(b, &req));
    assert_true(req.cookie == 7);
    NbdRequestLimits lim = { .size = 1 << 20, .writable = writable, .structured = true };
    uint32_t dummy;
    return nbd_request_check(&req, &lim, payload ? payload : &dummy);
}

static void test_request_check(void **state)
{
    uint32_t payload;
    assert_int_equal(check(NBD_CMD_READ, 0, 0, 4096, false, NULL), 0);
    assert_int_equal(check(NBD_CMD_READ, 0, (1 << 20) - 1, 2, false, NULL), NBD_EINVAL);
    assert_int_equal(check(NBD_CMD_READ, 0, UINT64_MAX, 1, false, NULL), NBD_EINVAL);
    assert_int_equal(check(NBD_CMD_WRITE, 0, 1 << 20, 512, true, &payload), NBD_ENOSPC);
    assert_int_equal(payload, 512);
    assert_int_equal(check(NBD_CMD_WRITE, 0, 0, 512, false, &payload), NBD_EPERM);
    assert_int_equal(payload, 512);
    assert_int_equal(check(NBD_CMD_WRITE, 0, 0, 64 << 20, true, &payload), NBD_EOVERFLOW);
    assert_int_equal(payload, 64 << 20);
    assert_int_equal(check(NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, true, NULL), 0);
    assert_int_equal(check(NBD_CMD_WRITE, 1 << 9, 0, 512, true, NULL), NBD_EINVAL);
    assert_int_equal(check(NBD_CMD_TRIM, 0, 0, 512, false, NULL), NBD_EPERM);
    assert_int_equal(check(NBD_CMD_BLOCK_STATUS, 0, 0, 512, false, NULL), NBD_EINVAL);
    assert_int_equal(check(99, 0, 0, 0, true, NULL), NBD_EINVAL);
    assert_int_equal(check(NBD_CMD_FLUSH, 0, 0, 0, false, NULL), 0);

    uint8_t b[NBD_REQUEST_SIZE] = { 0 };
    NbdRequest req;
    assert_false(nbd_request_decode(b, &req));
}

static void test_errno_mapping(void **state)
{
    assert_int_equal(nbd_errno_to_wire(-EROFS), NBD_EPERM);
    assert_int_equal(nbd_errno_to_wire(-ENOSPC), NBD_ENOSPC);
    assert_int_equal(nbd_errno_to_wire(-EXDEV), NBD_EIO);
    assert_int_equal(nbd_errno_to_wire(0), 0);
}

static void test_read_chunks(void **state)
{
    static const uint8_t hole[NBD_OFFSET_HOLE_SIZE] = {
        0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x02,     /* magic, DONE, OFFSET_HOLE */
        0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 12,                /* cookie, length */
        0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0,                 /* offset 4 GiB, 64 KiB */
    };
    static const uint8_t data[NBD_OFFSET_DATA_HDR_SIZE] = {
        0x66, 0x8e, 0x33, 0xef, 0x00, 0x00, 0x00, 0x01,     /* magic, no flags, OFFSET_DATA */
        0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0x10, 0x08,           /* cookie, 8 + 4096 */
        0, 0, 0, 0, 0, 0, 0x20, 0,                          /* offset 8192 */
    };
    uint8_t buf[NBD_OFFSET_HOLE_SIZE];
    nbd_encode_offset_hole(buf, NBD_REPLY_FLAG_DONE, 9, 1ull << 32, 64 * 1024);
    assert_memory_equal(buf, hole, sizeof(hole));
    nbd_encode_offset_data(buf, 0, 9, 8192, 4096);
    assert_memory_equal(buf, data, sizeof(data));
}

static void test_read_is_sparse(void **state)
{
    assert_true(nbd_read_is_sparse(true, 0, NBD_SPARSE_READ_MIN));
    assert_true(nbd_read_is_sparse(true, NBD_CMD_FLAG_FUA, 32 << 20));
    assert_false(nbd_read_is_sparse(true, 0, NBD_SPARSE_READ_MIN - 1));
    assert_false(nbd_read_is_sparse(true, 0, 4096));
    assert_false(nbd_read_is_sparse(true, NBD_CMD_FLAG_DF, 1 << 20));    /* one chunk */
    assert_false(nbd_read_is_sparse(false, 0, 1 << 20));                 /* simple replies */
}

static void test_data_cache(void **state)
{
    NbdDataCache c = { 0 };
    assert_true(nbd_data_cache_lookup(&c, 0) == 0);
    nbd_data_cache_set(&c, 1 << 20, 1 << 20);
    assert_true(nbd_data_cache_lookup(&c, (1 << 20) - 1) == 0);
    assert_true(nbd_data_cache_lookup(&c, 1 << 20) == 1 << 20);
    assert_true(nbd_data_cache_lookup(&c, (1 << 20) + 4096) == (1 << 20) - 4096);
    assert_true(nbd_data_cache_lookup(&c, 2 << 20) == 0);
    nbd_data_cache_forget(&c, 0, 1 << 20);                  /* touches, does not overlap */
    nbd_data_cache_forget(&c, 2 << 20, 4096);
    assert_true(nbd_data_cache_lookup(&c, 1 << 20) == 1 << 20);
    nbd_data_cache_forget(&c, (2 << 20) - 1, 4096);         /* overlaps the last byte */
    assert_true(nbd_data_cache_lookup(&c, 1 << 20) == 0);
    assert_true(nbd_data_cache_lookup(&c, 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_and_flags),
        cmocka_unit_test(test_option_header),
        cmocka_unit_test(test_go_known),
        cmocka_unit_test(test_go_unknown_and_malformed),
        cmocka_unit_test(test_export_name),
        cmocka_unit_test(test_list_abort_unknown),
        cmocka_unit_test(test_meta_context),
        cmocka_unit_test(test_request_check),
        cmocka_unit_test(test_errno_mapping),
        cmocka_unit_test(test_read_chunks),
        cmocka_unit_test(test_read_is_sparse),
        cmocka_unit_test(test_data_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
