#!/usr/bin/python3
# NBD over TLS, bad input: a plain client on a TLS export (every option
# refused with ERR_TLS_REQD, nothing served), clients without a
# certificate or with one from another CA, a client that starts TLS and
# sends garbage, plain text smuggled behind STARTTLS, and AddExport with
# missing, unreadable or wrong credentials (errors name the file).  After
# each, the daemon serves a good client.
import os
import shutil
import socket
import ssl
import stat
import struct
import time
import nbdtest
import nbdwire
import tlscerts
from nbdwire import Client
from nbdtest import bgtest, MiB
from tlscerts import export_xml, with_certs

SIZE = 4 * MiB
PATTERN = b'\x5a' * 4096


def tls_context(certs, client_cert=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, 'ca-cert.pem'))
    if client_cert:
        ctx.load_cert_chain(os.path.join(certs, 'client-cert.pem'),
                            os.path.join(certs, 'client-key.pem'))
    return ctx


def closed(c, timeout=10):
    """True if the server ends the connection (EOF, reset or a TLS alert);
    what it sends before (a TLS alert record) is read and dropped."""
    c.sock.settimeout(timeout)
    try:
        for _ in range(64):
            if c.sock.recv(4096) == b'':
                return True
        return False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def good_client_works(sock, pki):
    c = Client(sock)
    size, _ = c.go(b'disk0', tls=tls_context(pki))
    bgtest.check_equal(size, SIZE, 'size through TLS')
    bgtest.check_equal(c.read(0, 4096), (0, PATTERN), 'read through TLS')
    c.close()


def wait_for_log(d, text, timeout=10):
    end = time.monotonic() + timeout
    while text not in d.stderr():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def check_plain_client(sock, uri):
    p = nbdtest.run(['nbdinfo', uri.replace('nbds+unix', 'nbd+unix')], check=False)
    bgtest.check(p.returncode != 0, 'plain nbdinfo on a TLS export must fail')
    c = Client(sock)
    c.greet()
    for opt, data in ((nbdwire.OPT_LIST, b''), (nbdwire.OPT_STRUCTURED_REPLY, b''),
                      (nbdwire.OPT_INFO, struct.pack('>I', 5) + b'disk0' + b'\0\0'),
                      (nbdwire.OPT_GO, struct.pack('>I', 5) + b'disk0' + b'\0\0')):
        c.option(opt, data)
        _, rtype, msg = c.option_reply()
        bgtest.check_equal(rtype, nbdwire.REP_ERR_TLS_REQD, 'option %d before STARTTLS' % opt)
        bgtest.check(b'STARTTLS' in msg, msg)
    # EXPORT_NAME cannot be refused with an error: the connection ends, nothing served
    c.option(nbdwire.OPT_EXPORT_NAME, b'disk0')
    bgtest.check(closed(c), 'EXPORT_NAME before STARTTLS ends the connection')
    c = Client(sock)
    c.greet()
    c.option(nbdwire.OPT_ABORT)
    bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ACK, 'ABORT before STARTTLS')


def check_bad_certificates(d, sock, uri, pki, other):
    cadir = os.path.join(d.tmpdir, 'ca-only')
    os.mkdir(cadir)
    shutil.copy(os.path.join(pki, 'ca-cert.pem'), cadir)
    p = nbdtest.run(['nbdinfo', with_certs(uri, cadir)], check=False)
    bgtest.check(p.returncode != 0, 'a client without a certificate is refused')
    wrong = os.path.join(d.tmpdir, 'wrong')
    os.mkdir(wrong)
    shutil.copy(os.path.join(pki, 'ca-cert.pem'), wrong)
    for f in ('client-cert.pem', 'client-key.pem'):
        shutil.copy(os.path.join(other, f), wrong)
    p = nbdtest.run(['nbdinfo', with_certs(uri, wrong)], check=False)
    bgtest.check(p.returncode != 0, 'a certificate from another CA is refused')
    c = Client(sock)
    c.greet()
    try:
        c.starttls(tls_context(wrong))
        c.option(nbdwire.OPT_LIST)
        c.option_reply()
        raise bgtest.TestFailure('wire client with a foreign certificate got an answer')
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, nbdwire.Closed):
        pass
    # the log says why (the daemon may write it after the client gave up)
    for why in ('Certificate is required', 'client certificate rejected'):
        bgtest.check(wait_for_log(d, why), 'no %r in the log:\n%s' % (why, d.stderr()))


def check_garbage(d, sock, pki):
    c = Client(sock)          # TLS starts, then plain garbage instead of a ClientHello
    c.greet()
    c.option(nbdwire.OPT_STARTTLS)
    bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ACK, 'STARTTLS')
    # (GnuTLS reads the whole record the header announces, 8239 bytes, before it refuses)
    c.send(b'GET / HTTP/1.0\r\n\r\n' + os.urandom(16384))
    bgtest.check(closed(c), 'garbage instead of a TLS handshake ends the connection')

    c = Client(sock)          # plain text behind STARTTLS, before its reply
    c.greet()
    c.send(struct.pack('>QII', nbdwire.IHAVEOPT, nbdwire.OPT_STARTTLS, 0) +
           struct.pack('>QII', nbdwire.IHAVEOPT, nbdwire.OPT_LIST, 0))
    bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ACK, 'STARTTLS')
    bgtest.check(closed(c), 'data behind STARTTLS ends the connection')

    c = Client(sock)          # STARTTLS with a payload, and twice
    c.greet()
    c.option(nbdwire.OPT_STARTTLS, b'x')
    bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_INVALID, 'STARTTLS with data')
    raw = os.dup(c.sock.fileno())     # the same socket, around the TLS layer
    c.starttls(tls_context(pki))
    c.option(nbdwire.OPT_STARTTLS)
    bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_INVALID, 'second STARTTLS')
    # garbage inside the TLS session: a record that does not decrypt
    os.write(raw, b'\x17\x03\x03\x00\x40' + os.urandom(64))
    bgtest.check(closed(c), 'a forged TLS record ends the connection')
    os.close(raw)
    bgtest.check(wait_for_log(d, 'TLS error, disconnecting'), d.stderr())


def add_error(d, name, tls, server, where=None):
    e = bgtest.expect_error(name, d.manager.AddExport,
                            export_xml('bad', 'disk0', server, tls))
    msg = e.get_dbus_message()
    if where:
        bgtest.check(where in msg, '%r should name %r' % (msg, where))
    return msg


def check_add_errors(d, pki, other, plain_sock, tls_sock):
    srv = tlscerts.unix_server(os.path.join(d.tmpdir, 'bad.sock'))
    missing = os.path.join(d.tmpdir, 'nothing')
    add_error(d, 'NotFound', {'dir': missing}, srv, os.path.join(missing, 'ca-cert.pem'))
    add_error(d, 'InvalidArgument', {'dir': 'relative/pki'}, srv, 'relative/pki')
    add_error(d, 'InvalidArgument', {'dir': pki, 'verify-peer': 'maybe'}, srv, 'verify-peer')
    add_error(d, 'InvalidArgument', {'dir': pki, 'colour': 'red'}, srv, 'colour')
    add_error(d, 'InvalidArgument', {'dir': pki, 'priority': 'NORMAL:+BOGUS'}, srv, 'BOGUS')

    def crafted(name, files):
        path = os.path.join(d.tmpdir, name)
        os.mkdir(path)
        for f, src in files.items():
            shutil.copy(src, os.path.join(path, f))
        return path
    ca = os.path.join(pki, 'ca-cert.pem')
    cert, key = os.path.join(pki, 'server-cert.pem'), os.path.join(pki, 'server-key.pem')
    no_key = crafted('no-key', {'ca-cert.pem': ca, 'server-cert.pem': cert})
    add_error(d, 'NotFound', {'dir': no_key}, srv, os.path.join(no_key, 'server-key.pem'))
    mismatch = crafted('mismatch', {'ca-cert.pem': ca, 'server-cert.pem': cert,
                                    'server-key.pem': os.path.join(other, 'client-key.pem')})
    msg = add_error(d, 'InvalidArgument', {'dir': mismatch}, srv,
                    os.path.join(mismatch, 'server-key.pem'))
    bgtest.check(os.path.join(mismatch, 'server-cert.pem') in msg, msg)
    garbage = crafted('garbage', {'ca-cert.pem': ca, 'server-key.pem': key})
    with open(os.path.join(garbage, 'server-cert.pem'), 'w') as f:
        f.write('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n')
    add_error(d, 'InvalidArgument', {'dir': garbage}, srv,
              os.path.join(garbage, 'server-cert.pem'))
    fifo = crafted('fifo', {'server-cert.pem': cert, 'server-key.pem': key})
    os.mkfifo(os.path.join(fifo, 'ca-cert.pem'))
    add_error(d, 'InvalidArgument', {'dir': fifo}, srv, 'is not a regular file')
    if os.geteuid() != 0:       # root reads whatever the mode says
        unreadable = crafted('unreadable', {'ca-cert.pem': ca, 'server-cert.pem': cert,
                                            'server-key.pem': key})
        os.chmod(os.path.join(unreadable, 'server-key.pem'), 0)
        add_error(d, 'AccessDenied', {'dir': unreadable}, srv,
                  os.path.join(unreadable, 'server-key.pem'))

    # one address, one TLS mode
    add_error(d, 'InvalidArgument', {'dir': pki}, tlscerts.unix_server(plain_sock),
              'share its TLS settings')
    add_error(d, 'InvalidArgument', None, tlscerts.unix_server(tls_sock),
              'share its TLS settings')
    add_error(d, 'InvalidArgument', {'dir': pki, 'verify-peer': 'off'},
              tlscerts.unix_server(tls_sock), 'share its TLS settings')
    exports = [p for p, ifs in d.managed_objects().items() if bgtest.EXPORT in ifs]
    bgtest.check_equal(len(exports), 2, 'no export left behind by a failed AddExport')


def main():
    for tool in ('nbdinfo', 'openssl'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        pki = tlscerts.make_dir(os.path.join(d.tmpdir, 'pki'))
        other = os.path.join(d.tmpdir, 'other')
        tlscerts.make_ca(other, 'other-ca')
        tlscerts.make_cert(other, 'client')
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, SIZE, [(0, PATTERN)])
        nbdtest.add_file_node(d, 'disk0', img)
        sock = os.path.join(d.tmpdir, 'tls.sock')
        path = d.manager.AddExport(export_xml('e0', 'disk0', tlscerts.unix_server(sock),
                                              {'dir': pki}))
        uri = str(d.props(path, bgtest.EXPORT)['Uri'])
        plain_sock = os.path.join(d.tmpdir, 'plain.sock')
        d.manager.AddExport(export_xml('p0', 'disk0', tlscerts.unix_server(plain_sock), None))
        good_client_works(sock, pki)

        check_plain_client(sock, uri)
        good_client_works(sock, pki)
        check_bad_certificates(d, sock, uri, pki, other)
        good_client_works(sock, pki)
        check_garbage(d, sock, pki)
        good_client_works(sock, pki)

        # STARTTLS where no TLS is configured: ERR_POLICY, the handshake goes on
        c = Client(plain_sock)
        c.greet()
        c.option(nbdwire.OPT_STARTTLS)
        bgtest.check_equal(c.option_reply()[1], nbdwire.REP_ERR_POLICY, 'STARTTLS on plain')
        c.close()

        check_add_errors(d, pki, other, plain_sock, sock)
        good_client_works(sock, pki)
        bgtest.check_equal(Client(plain_sock).go(b'disk0')[0], SIZE, 'plain export serves')


bgtest.run(main)
