/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * TLS for NBD exports with GnuTLS: x509 credentials read from a directory
 * (as QEMU's tls-creds-x509), and server sessions on non-blocking sockets.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "graph/error.h"
#include "policy/allow-path.h"
#include "exports/nbd-tls.h"

/* Credential files are small; anything larger is a mistake (or /dev/zero). */
#define NBD_TLS_FILE_MAX (1024 * 1024)

struct NbdTlsCreds {
    int refs;
    NbdTlsConfig cfg;           /* strings below */
    char *dir;
    char *priority;
    gnutls_certificate_credentials_t x509;
    gnutls_priority_t prio;
    gnutls_dh_params_t dh;      /* from dh-params.pem, if there is one */
};

struct NbdTlsSession {
    gnutls_session_t s;
    NbdTlsCreds *creds;
    bool established;           /* the handshake completed */
    int last_error;             /* GnuTLS's code behind the last EPROTO */
};

/* ---- reading the files ------------------------------------------------------ */

typedef struct CredFile {
    char *path;
    gnutls_datum_t data;
} CredFile;

static void cred_file_clear(CredFile *f)
{
    if (f->data.data)
        gnutls_memset(f->data.data, 0, f->data.size);   /* keys do not linger in freed memory */
    g_free(f->data.data);
    g_free(f->path);
    *f = (CredFile){ 0 };
}

static int read_all(int fd, CredFile *f, size_t size, GError **errp)
{
    f->data.data = g_malloc(size + 1);
    size_t got = 0;
    while (got <= size) {
        ssize_t r = read(fd, f->data.data + got, size + 1 - got);
        if (r == 0)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            bg_set_error_errno(errp, -errno, "Cannot read TLS credentials file '%s'", f->path);
            return -1;
        }
        got += (size_t)r;
    }
    if (got > size) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS credentials file '%s' grew while it was read", f->path);
        return -1;
    }
    f->data.size = (unsigned)got;
    return 0;
}

/*
 * Opens f->path where the daemon is confined to (symlinks resolved first,
 * as for node files: a caller must not make it present another service's
 * key).  The descriptor; -ENOENT (no error set) for an optional file that
 * is absent; else -1 with *errp set.
 */
static int cred_file_open(const CredFile *f, bool required, GError **errp)
{
    g_autofree char *resolved = NULL;
    int r = allow_path_resolve(f->path, false, &resolved);
    if (r == -EACCES || r == -EINVAL) {
        allow_path_set_error(errp, f->path, r);
        return -1;
    }
    int fd = r < 0 ? r : open(resolved ? resolved : f->path,
                              O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
                              (resolved ? O_NOFOLLOW : 0));
    if (fd == -1)
        fd = -errno;
    if (fd == -ENOENT && !required)
        return -ENOENT;
    if (fd < 0) {
        bg_set_error_errno(errp, fd, "Cannot open TLS credentials file '%s'", f->path);
        return -1;
    }
    return fd;
}

/*
 * Reads dir/name into f.  Returns 1 when read, 0 when an optional file is
 * absent, -1 on error.  O_NONBLOCK and the check for a regular file keep a
 * FIFO or a device from holding the call.
 */
static int cred_file_read(const char *dir, const char *name, bool required, CredFile *f,
                          GError **errp)
{
    f->path = g_build_filename(dir, name, NULL);
    int fd = cred_file_open(f, required, errp);
    if (fd < 0)
        return fd == -ENOENT ? 0 : -1;
    struct stat st;
    int ret = -1;
    if (fstat(fd, &st) < 0)
        bg_set_error_errno(errp, -errno, "Cannot stat TLS credentials file '%s'", f->path);
    else if (!S_ISREG(st.st_mode))
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS credentials file '%s' is not a regular file", f->path);
    else if (st.st_size > NBD_TLS_FILE_MAX)
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS credentials file '%s' is larger than 1 MiB", f->path);
    else
        ret = read_all(fd, f, (size_t)st.st_size, errp) < 0 ? -1 : 1;
    close(fd);
    return ret;
}

static bool gnutls_failed(int r, GError **errp, const char *fmt, const char *path)
{
    if (r >= 0)
        return false;
    g_autofree char *what = g_strdup_printf(fmt, path);
    g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT, "%s: %s", what, gnutls_strerror(r));
    return true;
}

/* ---- loading ------------------------------------------------------------------ */

static bool load_ca(NbdTlsCreds *creds, GError **errp)
{
    CredFile ca = { 0 }, crl = { 0 };
    bool ok = false;
    int r;
    if (cred_file_read(creds->dir, NBD_TLS_CA_CERT, true, &ca, errp) < 0)
        goto out;
    r = gnutls_certificate_set_x509_trust_mem(creds->x509, &ca.data, GNUTLS_X509_FMT_PEM);
    if (gnutls_failed(r, errp, "Cannot use TLS CA certificate '%s'", ca.path))
        goto out;
    if (r == 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS CA certificate file '%s' holds no certificate", ca.path);
        goto out;
    }
    r = cred_file_read(creds->dir, NBD_TLS_CA_CRL, false, &crl, errp);
    if (r < 0)
        goto out;
    if (r > 0 && gnutls_failed(gnutls_certificate_set_x509_crl_mem(creds->x509, &crl.data,
                                                                   GNUTLS_X509_FMT_PEM),
                               errp, "Cannot use TLS revocation list '%s'", crl.path))
        goto out;
    ok = true;
out:
    cred_file_clear(&ca);
    cred_file_clear(&crl);
    return ok;
}

/* The server certificate parses and is valid now (as QEMU's sanity check). */
static bool check_cert(const CredFile *cert, GError **errp)
{
    gnutls_x509_crt_t crt;
    if (gnutls_failed(gnutls_x509_crt_init(&crt), errp, "TLS certificate '%s'", cert->path))
        return false;
    int r = gnutls_x509_crt_import(crt, &cert->data, GNUTLS_X509_FMT_PEM);
    bool ok = !gnutls_failed(r, errp, "Cannot parse TLS certificate '%s'", cert->path);
    time_t now = time(NULL);
    if (ok && gnutls_x509_crt_get_expiration_time(crt) < now) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS certificate '%s' has expired", cert->path);
        ok = false;
    } else if (ok && gnutls_x509_crt_get_activation_time(crt) > now) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS certificate '%s' is not valid yet", cert->path);
        ok = false;
    }
    gnutls_x509_crt_deinit(crt);
    return ok;
}

static bool check_key(const CredFile *key, GError **errp)
{
    gnutls_x509_privkey_t pk;
    if (gnutls_failed(gnutls_x509_privkey_init(&pk), errp, "TLS key '%s'", key->path))
        return false;
    int r = gnutls_x509_privkey_import2(pk, &key->data, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_x509_privkey_deinit(pk);
    return !gnutls_failed(r, errp, "Cannot parse TLS private key '%s' (it must not be "
                          "encrypted)", key->path);
}

static bool load_cert_key(NbdTlsCreds *creds, GError **errp)
{
    CredFile cert = { 0 }, key = { 0 };
    bool ok = false;
    if (cred_file_read(creds->dir, NBD_TLS_SERVER_CERT, true, &cert, errp) < 0 ||
        cred_file_read(creds->dir, NBD_TLS_SERVER_KEY, true, &key, errp) < 0 ||
        !check_cert(&cert, errp) || !check_key(&key, errp))
        goto out;
    int r = gnutls_certificate_set_x509_key_mem(creds->x509, &cert.data, &key.data,
                                                GNUTLS_X509_FMT_PEM);
    if (r < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Cannot use TLS certificate '%s' with key '%s': %s", cert.path, key.path,
                    gnutls_strerror(r));
        goto out;
    }
    ok = true;
out:
    cred_file_clear(&cert);
    cred_file_clear(&key);
    return ok;
}

static bool load_dh(NbdTlsCreds *creds, GError **errp)
{
    CredFile dh = { 0 };
    int r = cred_file_read(creds->dir, NBD_TLS_DH_PARAMS, false, &dh, errp);
    bool ok = r >= 0;
    if (r == 0) {
        /* no file: the RFC 7919 groups, for DHE in TLS 1.2 */
        ok = !gnutls_failed(gnutls_certificate_set_known_dh_params(creds->x509,
                                                                   GNUTLS_SEC_PARAM_MEDIUM),
                            errp, "TLS credentials in '%s'", creds->dir);
    } else if (r > 0) {
        ok = !gnutls_failed(gnutls_dh_params_init(&creds->dh), errp, "TLS parameters '%s'",
                            dh.path) &&
             !gnutls_failed(gnutls_dh_params_import_pkcs3(creds->dh, &dh.data,
                                                          GNUTLS_X509_FMT_PEM),
                            errp, "Cannot parse TLS DH parameters '%s'", dh.path);
        if (ok)
            gnutls_certificate_set_dh_params(creds->x509, creds->dh);
    }
    cred_file_clear(&dh);
    return ok;
}

static bool load_priority(NbdTlsCreds *creds, GError **errp)
{
    const char *text = creds->priority ? creds->priority : NBD_TLS_DEFAULT_PRIORITY;
    const char *err_pos = NULL;
    int r = gnutls_priority_init(&creds->prio, text, &err_pos);
    if (r < 0) {
        creds->prio = NULL;
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS priority '%s' is not valid%s%s%s: %s", text, err_pos ? " at '" : "",
                    err_pos ? err_pos : "", err_pos ? "'" : "", gnutls_strerror(r));
        return false;
    }
    return true;
}

NbdTlsCreds *nbd_tls_creds_load(const NbdTlsConfig *cfg, GError **errp)
{
    g_autoptr(NbdTlsCreds) creds = g_new0(NbdTlsCreds, 1);
    creds->refs = 1;
    creds->dir = g_strdup(cfg->dir);
    creds->priority = g_strdup(cfg->priority);
    creds->cfg = (NbdTlsConfig){ .dir = creds->dir, .verify_peer = cfg->verify_peer,
                                 .priority = creds->priority };
    if (!cfg->dir || !g_path_is_absolute(cfg->dir)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "TLS credentials directory '%s' is not an absolute path",
                    cfg->dir ? cfg->dir : "");
        return NULL;
    }
    int r = gnutls_certificate_allocate_credentials(&creds->x509);
    if (r < 0) {
        creds->x509 = NULL;
        g_set_error(errp, BG_ERROR, BG_ERROR_FAILED, "Cannot allocate TLS credentials: %s",
                    gnutls_strerror(r));
        return NULL;
    }
    if (!load_priority(creds, errp) || !load_ca(creds, errp) || !load_cert_key(creds, errp) ||
        !load_dh(creds, errp))
        return NULL;
    return g_steal_pointer(&creds);
}

NbdTlsCreds *nbd_tls_creds_ref(NbdTlsCreds *creds)
{
    if (creds)
        creds->refs++;
    return creds;
}

void nbd_tls_creds_unref(NbdTlsCreds *creds)
{
    if (!creds || --creds->refs > 0)
        return;
    if (creds->x509)
        gnutls_certificate_free_credentials(creds->x509);
    if (creds->dh)
        gnutls_dh_params_deinit(creds->dh);
    if (creds->prio)
        gnutls_priority_deinit(creds->prio);
    g_free(creds->dir);
    g_free(creds->priority);
    g_free(creds);
}

const NbdTlsConfig *nbd_tls_creds_config(const NbdTlsCreds *creds)
{
    return &creds->cfg;
}

bool nbd_tls_creds_same_config(const NbdTlsCreds *a, const NbdTlsCreds *b)
{
    if (!a || !b)
        return a == b;
    return g_str_equal(a->dir, b->dir) && a->cfg.verify_peer == b->cfg.verify_peer &&
           g_strcmp0(a->priority, b->priority) == 0;
}

/* ---- sessions ----------------------------------------------------------------- */

NbdTlsSession *nbd_tls_session_new(NbdTlsCreds *creds, int fd, GError **errp)
{
    g_autoptr(NbdTlsSession) s = g_new0(NbdTlsSession, 1);
    int r = gnutls_init(&s->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        s->s = NULL;
    } else if ((r = gnutls_priority_set(s->s, creds->prio)) >= 0 &&
               (r = gnutls_credentials_set(s->s, GNUTLS_CRD_CERTIFICATE, creds->x509)) >= 0) {
        if (creds->cfg.verify_peer) {
            gnutls_certificate_server_set_request(s->s, GNUTLS_CERT_REQUIRE);
            /* the handshake checks the client's certificate against the CA */
            gnutls_session_set_verify_cert(s->s, NULL, 0);
        }
        gnutls_transport_set_int(s->s, fd);
    }
    if (r < 0) {
        g_set_error(errp, BG_ERROR, BG_ERROR_FAILED, "Cannot start a TLS session: %s",
                    gnutls_strerror(r));
        return NULL;
    }
    s->creds = nbd_tls_creds_ref(creds);
    return g_steal_pointer(&s);
}

void nbd_tls_session_free(NbdTlsSession *s)
{
    if (!s)
        return;
    if (s->s)
        gnutls_deinit(s->s);
    nbd_tls_creds_unref(s->creds);
    g_free(s);
}

static void handshake_error(NbdTlsSession *s, int r, GError **errp)
{
    if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t out = { 0 };
        unsigned status = gnutls_session_get_verify_cert_status(s->s);
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
        g_set_error(errp, BG_ERROR, BG_ERROR_ACCESS_DENIED, "client certificate rejected: %s",
                    out.data ? g_strstrip((char *)out.data) : "");
        gnutls_free(out.data);
    } else if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR, "TLS handshake failed: the client "
                    "sent alert '%s'", gnutls_alert_get_name(gnutls_alert_get(s->s)));
    } else {
        g_set_error(errp, BG_ERROR, r == GNUTLS_E_NO_CERTIFICATE_FOUND ? BG_ERROR_ACCESS_DENIED
                                                                       : BG_ERROR_IO_ERROR,
                    "TLS handshake failed: %s", gnutls_strerror(r));
    }
}

int nbd_tls_handshake(NbdTlsSession *s, bool *ret_want_write, GError **errp)
{
    int r;
    do {
        r = gnutls_handshake(s->s);
    } while (r < 0 && r != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(r));
    if (r == GNUTLS_E_AGAIN) {
        *ret_want_write = gnutls_record_get_direction(s->s) == 1;
        return -EAGAIN;
    }
    if (r < 0) {
        handshake_error(s, r, errp);
        gnutls_alert_send_appropriate(s->s, r);     /* tells the client why, if it fits */
        return -EPROTO;
    }
    s->established = true;
    return 0;
}

/* A GnuTLS error as recv(2)/send(2) would report it. */
static ssize_t tls_errno(NbdTlsSession *s, int r)
{
    s->last_error = r;
    if (r == GNUTLS_E_AGAIN)
        errno = EAGAIN;
    else if (r == GNUTLS_E_REHANDSHAKE)
        errno = EPROTO;     /* renegotiation is not offered */
    else if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r))
        errno = EINTR;      /* a warning alert: call again */
    else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
             r == GNUTLS_E_PULL_ERROR)
        errno = ECONNRESET;
    else
        errno = EPROTO;
    return -1;
}

ssize_t nbd_tls_recv(NbdTlsSession *s, void *buf, size_t len)
{
    ssize_t r = gnutls_record_recv(s->s, buf, len);
    return r >= 0 ? r : tls_errno(s, (int)r);
}

ssize_t nbd_tls_send(NbdTlsSession *s, const void *buf, size_t len)
{
    ssize_t r = gnutls_record_send(s->s, buf, len);
    return r >= 0 ? r : tls_errno(s, (int)r);
}

const char *nbd_tls_last_error(const NbdTlsSession *s)
{
    return gnutls_strerror(s->last_error);
}

void nbd_tls_bye(NbdTlsSession *s)
{
    if (s->established)
        gnutls_bye(s->s, GNUTLS_SHUT_WR);
}
