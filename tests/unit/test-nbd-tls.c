/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * NBD over TLS without sockets: the FORCEDTLS option rules of the
 * negotiation (exports/nbd-proto.c) and the errors of loading credentials
 * (exports/nbd-tls.c).  Real clients over real TLS: tests/interop/test-nbd-tls*.py.
 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "exports/nbd-proto.h"
#include "exports/nbd-tls.h"
#include "graph/error.h"
#include "policy/allow-path.h"

static bool fake_lookup(void *opaque, const char *name, NbdExportInfo *ret)
{
    *ret = (NbdExportInfo){ .name = "disk0", .size = 1 << 20 };
    return true;
}

static void fake_list(void *opaque, void (*add)(const char *, const char *, void *), void *ctx)
{
    add("disk0", NULL, ctx);
}

static const NbdNegotiationOps ops = { fake_lookup, fake_list };

/* The reply type of the single option reply in neg->out (then cleared). */
static uint32_t reply_type(NbdNegotiation *neg, uint32_t opt)
{
    assert_true(neg->out->len >= 20);
    assert_int_equal(nbd_get32(neg->out->data + 8), opt);
    uint32_t type = nbd_get32(neg->out->data + 12);
    assert_int_equal(neg->out->len, 20 + nbd_get32(neg->out->data + 16));
    g_byte_array_set_size(neg->out, 0);
    return type;
}

static void tls_neg_init(NbdNegotiation *neg)
{
    nbd_negotiation_init(neg, &ops, NULL);
    neg->tls_required = true;
}

static void test_options_before_starttls(void **state)
{
    NbdNegotiation neg;
    tls_neg_init(&neg);
    static const uint32_t opts[] = { NBD_OPT_LIST, NBD_OPT_INFO, NBD_OPT_GO,
                                     NBD_OPT_STRUCTURED_REPLY, NBD_OPT_LIST_META_CONTEXT,
                                     4242 };
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        assert_int_equal(nbd_negotiation_option(&neg, opts[i], NULL, 0), NBD_NEG_CONTINUE);
        assert_int_equal(reply_type(&neg, opts[i]), NBD_REP_ERR_TLS_REQD);
    }
    assert_false(neg.structured);
    /* EXPORT_NAME cannot answer an error: the connection ends, nothing is served */
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_EXPORT_NAME,
                                            (const uint8_t *)"disk0", 5), NBD_NEG_CLOSE);
    assert_int_equal(neg.out->len, 0);
    assert_null(neg.export_name);
    nbd_negotiation_clear(&neg);

    tls_neg_init(&neg);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_ABORT, NULL, 0), NBD_NEG_CLOSE);
    assert_int_equal(reply_type(&neg, NBD_OPT_ABORT), NBD_REP_ACK);
    nbd_negotiation_clear(&neg);
}

static void test_starttls(void **state)
{
    NbdNegotiation neg;
    tls_neg_init(&neg);
    uint8_t junk = 1;
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_STARTTLS, &junk, 1), NBD_NEG_CONTINUE);
    assert_int_equal(reply_type(&neg, NBD_OPT_STARTTLS), NBD_REP_ERR_INVALID);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_STARTTLS, NULL, 0), NBD_NEG_STARTTLS);
    assert_int_equal(reply_type(&neg, NBD_OPT_STARTTLS), NBD_REP_ACK);
    neg.tls_active = true;      /* what the server sets after the handshake */
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_STARTTLS, NULL, 0), NBD_NEG_CONTINUE);
    assert_int_equal(reply_type(&neg, NBD_OPT_STARTTLS), NBD_REP_ERR_INVALID);
    /* under TLS the options work as usual */
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_STRUCTURED_REPLY, NULL, 0),
                     NBD_NEG_CONTINUE);
    assert_int_equal(reply_type(&neg, NBD_OPT_STRUCTURED_REPLY), NBD_REP_ACK);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_EXPORT_NAME,
                                            (const uint8_t *)"disk0", 5), NBD_NEG_TRANSMIT);
    nbd_negotiation_clear(&neg);
}

static void test_starttls_without_tls(void **state)
{
    NbdNegotiation neg;
    nbd_negotiation_init(&neg, &ops, NULL);
    assert_int_equal(nbd_negotiation_option(&neg, NBD_OPT_STARTTLS, NULL, 0), NBD_NEG_CONTINUE);
    assert_int_equal(reply_type(&neg, NBD_OPT_STARTTLS), NBD_REP_ERR_POLICY);
    nbd_negotiation_clear(&neg);
}

/* ---- credentials ---------------------------------------------------------------- */

static GError *load_error(const char *dir)
{
    GError *err = NULL;
    NbdTlsConfig cfg = { .dir = dir, .verify_peer = true };
    assert_null(nbd_tls_creds_load(&cfg, &err));
    assert_non_null(err);
    return err;
}

static void test_creds_missing(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("bg-tls-XXXXXX", NULL);
    g_autoptr(GError) err = load_error(dir);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_NOT_FOUND));
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    assert_non_null(strstr(err->message, ca));
    g_clear_error(&err);

    err = load_error("relative/dir");
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, "not an absolute path"));
    rmdir(dir);
}

/* A FIFO where a file should be: an error, not a read that never returns. */
static void test_creds_fifo(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("bg-tls-XXXXXX", NULL);
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    assert_int_equal(mkfifo(ca, 0600), 0);
    g_autoptr(GError) err = load_error(dir);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, "is not a regular file"));
    assert_non_null(strstr(err->message, ca));
    unlink(ca);
    rmdir(dir);
}

static void test_creds_garbage(void **state)
{
    g_autofree char *dir = g_dir_make_tmp("bg-tls-XXXXXX", NULL);
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    assert_true(g_file_set_contents(ca, "not a certificate\n", -1, NULL));
    g_autoptr(GError) err = load_error(dir);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, ca));
    unlink(ca);
    rmdir(dir);
}

static void test_creds_bad_priority(void **state)
{
    GError *err = NULL;
    NbdTlsConfig cfg = { .dir = "/nonexistent", .priority = "NORMAL:+NO-SUCH-THING" };
    assert_null(nbd_tls_creds_load(&cfg, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_ARGUMENT));
    assert_non_null(strstr(err->message, "NO-SUCH-THING"));
    g_error_free(err);
}

/* Confined: the credentials, symlinks resolved, must lie under an allowed folder. */
static void test_creds_confined(void **state)
{
    g_autofree char *allowed = g_dir_make_tmp("bg-tls-allowed-XXXXXX", NULL);
    g_autofree char *outside = g_dir_make_tmp("bg-tls-outside-XXXXXX", NULL);
    g_autofree char *secret = g_build_filename(outside, "server-key.pem", NULL);
    g_autofree char *link = g_build_filename(allowed, "ca-cert.pem", NULL);
    g_autofree char *ca = g_build_filename(outside, "ca-cert.pem", NULL);
    assert_true(g_file_set_contents(secret, "secret\n", -1, NULL));
    assert_true(g_file_set_contents(ca, "not read\n", -1, NULL));
    assert_int_equal(symlink(secret, link), 0);
    assert_true(allow_path_add(allowed, NULL));

    g_autoptr(GError) err = load_error(outside);
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_ACCESS_DENIED));
    assert_non_null(strstr(err->message, ca));
    g_clear_error(&err);
    err = load_error(allowed);      /* its ca-cert.pem leads outside */
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_ACCESS_DENIED));
    assert_non_null(strstr(err->message, link));

    allow_path_reset();
    unlink(link);
    unlink(secret);
    unlink(ca);
    rmdir(allowed);
    rmdir(outside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_before_starttls),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_starttls_without_tls),
        cmocka_unit_test(test_creds_missing),
        cmocka_unit_test(test_creds_fifo),
        cmocka_unit_test(test_creds_garbage),
        cmocka_unit_test(test_creds_bad_priority),
        cmocka_unit_test(test_creds_confined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
