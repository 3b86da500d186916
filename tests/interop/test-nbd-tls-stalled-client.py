#!/usr/bin/python3
# A TLS client that queues reads and never takes the replies cannot hold
# the daemon either: the send deadlines apply through the TLS session, so
# Export.Remove('hard') answers and cuts it off, and SIGTERM exits cleanly
# with such a client connected.
import os
import ssl
import time
import nbdtest
import nbdwire
import tlscerts
from nbdtest import bgtest, MiB

READ = 128 * 1024
REQUESTS = 400          # 50 MiB of replies: far more than the socket buffers hold


def stall(sock, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(pki, 'ca-cert.pem'))
    ctx.load_cert_chain(os.path.join(pki, 'client-cert.pem'),
                        os.path.join(pki, 'client-key.pem'))
    c = nbdwire.Client(sock)
    c.go(b'disk0', tls=ctx)
    for i in range(REQUESTS):
        c.request(nbdwire.CMD_READ, (i * READ) % (16 * MiB), READ)
    time.sleep(0.5)     # the daemon fills the socket and waits
    return c


def closed_after_drain(c, timeout=20):
    c.sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not c.sock.recv(1 << 20):
                return True
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    return False


def main():
    bgtest.need_tool('openssl')
    with bgtest.Daemon() as d:
        pki = tlscerts.make_dir(os.path.join(d.tmpdir, 'pki'))
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, 16 * MiB, [(0, os.urandom(MiB))])
        nbdtest.add_file_node(d, 'disk0', img)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        xml = tlscerts.export_xml('e0', 'disk0', tlscerts.unix_server(sock), {'dir': pki})
        d.manager.AddExport(xml)

        c = stall(sock, pki)
        exp = d.iface(d.manager_path('export', 'e0'), bgtest.EXPORT)
        try:
            exp.Remove('hard', timeout=30)
        except bgtest.dbus.exceptions.DBusException as e:
            raise bgtest.TestFailure('Remove(hard) with a stalled TLS client: %s' % e)
        bgtest.check(closed_after_drain(c), 'stalled TLS client cut off by the hard removal')

        d.manager.AddExport(xml)
        stalled = stall(sock, pki)
        d.stop()
        bgtest.check(closed_after_drain(stalled), 'stalled TLS client cut off at shutdown')


bgtest.run(main)
