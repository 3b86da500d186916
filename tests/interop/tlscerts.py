# SPDX-License-Identifier: LGPL-2.1-or-later
"""A throw-away certificate authority for the TLS tests and benchmarks,
made with openssl: a directory laid out as QEMU's tls-creds-x509 and
libnbd's tls-certificates expect (ca-cert.pem, server-cert.pem,
server-key.pem, client-cert.pem, client-key.pem).  EC keys: made in
milliseconds."""

import os
import subprocess

_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']


def _openssl(args, cwd):
    p = subprocess.run(['openssl'] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError('openssl %s failed:\n%s' % (' '.join(args), p.stderr))


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def make_ca(d, name='test-ca'):
    """ca-cert.pem and ca-key.pem in d."""
    os.makedirs(d, exist_ok=True)
    _openssl(['req', '-x509'] + _KEY + ['-keyout', 'ca-key.pem', '-out', 'ca-cert.pem',
              '-days', '2', '-subj', '/CN=' + name,
              '-addext', 'basicConstraints=critical,CA:TRUE',
              '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], d)


def make_cert(d, kind, ca_dir=None, cn=None):
    """<kind>-cert.pem and <kind>-key.pem (kind: server or client) in d,
    signed by the CA in ca_dir (default d)."""
    ca_dir = ca_dir or d
    usage = 'serverAuth' if kind == 'server' else 'clientAuth'
    _write(os.path.join(d, kind + '.ext'),
           'basicConstraints=critical,CA:FALSE\n'
           'keyUsage=critical,digitalSignature,keyEncipherment\n'
           'extendedKeyUsage=%s\n'
           'subjectAltName=DNS:localhost,IP:127.0.0.1\n' % usage)
    _openssl(['req'] + _KEY + ['-keyout', kind + '-key.pem', '-out', kind + '.csr',
              '-subj', '/CN=' + (cn or kind)], d)
    _openssl(['x509', '-req', '-in', kind + '.csr',
              '-CA', os.path.join(ca_dir, 'ca-cert.pem'),
              '-CAkey', os.path.join(ca_dir, 'ca-key.pem'), '-CAcreateserial',
              '-out', kind + '-cert.pem', '-days', '2', '-extfile', kind + '.ext'], d)


def make_dir(d):
    """A CA with a server and a client certificate, all in d; returns d."""
    make_ca(d)
    make_cert(d, 'server')
    make_cert(d, 'client')
    return d


def export_xml(eid, node, server, tls, writable=True, name=None):
    """An <export> with a <server> element (server: the element's text) and
    a <tls> element with the attributes in the dict tls (None: none)."""
    tls_elem = ''
    if tls is not None:
        tls_elem = '<tls %s/>' % ' '.join('%s="%s"' % kv for kv in tls.items())
    return ('<export type="nbd" id="%s" node-name="%s" name="%s" writable="%s">%s%s</export>'
            % (eid, node, name or node, 'on' if writable else 'off', server, tls_elem))


def unix_server(path):
    return '<server type="unix" path="%s"/>' % path


def inet_server(port, host='127.0.0.1'):
    return '<server type="inet" host="%s" port="%d"/>' % (host, port)


def with_certs(uri, certs):
    """A libnbd URI that reads its TLS files from the directory certs."""
    return uri + ('&' if '?' in uri else '?') + 'tls-certificates=' + certs


def qemu_object(certs):
    """qemu-img's --object for the client side of the files in certs."""
    return ['--object', 'tls-creds-x509,id=tls0,dir=%s,endpoint=client' % certs]
