/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * NBD over TLS (GnuTLS).  An export's <tls dir=…> names x509 credentials in
 * a directory, as QEMU's tls-creds-x509 object with dir= and
 * endpoint=server: ca-cert.pem, server-cert.pem and server-key.pem, and
 * optionally ca-crl.pem and dh-params.pem.  They are read once when the
 * export is added; every connection's session shares them.
 *
 * Sessions work on the connection's non-blocking socket: the calls here
 * never wait, they answer EAGAIN and the caller waits for the socket
 * (exports/nbd-client.c).
 */

#include <stdbool.h>
#include <sys/types.h>
#include <glib.h>

#define NBD_TLS_CA_CERT     "ca-cert.pem"
#define NBD_TLS_CA_CRL      "ca-crl.pem"
#define NBD_TLS_SERVER_CERT "server-cert.pem"
#define NBD_TLS_SERVER_KEY  "server-key.pem"
#define NBD_TLS_DH_PARAMS   "dh-params.pem"

/* TLS 1.2 and 1.3 only (the NBD protocol's minimum is 1.2). */
#define NBD_TLS_DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* The <tls> element of an export, as parsed. */
typedef struct NbdTlsConfig {
    const char *dir;            /* absolute path of the credentials directory */
    bool verify_peer;           /* clients must show a certificate the CA signed */
    const char *priority;       /* GnuTLS priority string; NULL: the default */
} NbdTlsConfig;

/* Loaded credentials, shared (reference counted) by exports and sessions. */
typedef struct NbdTlsCreds NbdTlsCreds;

/*
 * Reads and checks the credentials.  Reads files: it blocks, so the daemon
 * calls it in the worker pool.  Errors name the file: NotFound (missing),
 * InvalidArgument (not a regular file, too large, unparsable, key and
 * certificate do not match, bad priority string), or the errno of the read.
 */
NbdTlsCreds *nbd_tls_creds_load(const NbdTlsConfig *cfg, GError **errp);
NbdTlsCreds *nbd_tls_creds_ref(NbdTlsCreds *creds);
void nbd_tls_creds_unref(NbdTlsCreds *creds);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbdTlsCreds, nbd_tls_creds_unref)

/* The configuration creds were loaded from (strings owned by creds). */
const NbdTlsConfig *nbd_tls_creds_config(const NbdTlsCreds *creds);
/* Same directory, verify-peer and priority (either may be NULL: no TLS). */
bool nbd_tls_creds_same_config(const NbdTlsCreds *a, const NbdTlsCreds *b);

/* One connection's TLS session. */
typedef struct NbdTlsSession NbdTlsSession;

NbdTlsSession *nbd_tls_session_new(NbdTlsCreds *creds, int fd, GError **errp);
void nbd_tls_session_free(NbdTlsSession *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NbdTlsSession, nbd_tls_session_free)

/*
 * Runs the handshake as far as the socket allows: 0 when done (and, with
 * verify-peer, the client's certificate checked), -EAGAIN when it must wait
 * (*ret_want_write: for the socket to take data, else to have data), or
 * another negative errno with *errp saying why.
 */
int nbd_tls_handshake(NbdTlsSession *s, bool *ret_want_write, GError **errp);

/*
 * Like recv(2) and send(2) on a non-blocking socket: bytes moved, 0 at the
 * end of the stream (recv), or -1 with errno (EAGAIN, EINTR, EPROTO for a
 * TLS error, ECONNRESET).  After EAGAIN, send must be called again with the
 * same buffer and length.  A send moves at most one record.
 */
ssize_t nbd_tls_recv(NbdTlsSession *s, void *buf, size_t len);
ssize_t nbd_tls_send(NbdTlsSession *s, const void *buf, size_t len);

/* What the last recv or send that failed with EPROTO met ("Decryption has failed."). */
const char *nbd_tls_last_error(const NbdTlsSession *s);

/* Largest plaintext one record carries (staging small pieces into one record). */
#define NBD_TLS_RECORD_SIZE 16384

/* After the handshake: sends close_notify if the socket takes it at once (never waits). */
void nbd_tls_bye(NbdTlsSession *s);
