#!/usr/bin/python3
# A TLS client that queues reads and never takes the replies cannot hold
# the daemon either: the send deadlines apply through the TLS session, so
# Export.Remove('hard') answers and cuts it off, and SIGTERM exits cleanly
# with such a client connected.
import os
import ssl
import nbdtest
import nbdwire
import stalled
import tlscerts
from nbdtest import bgtest, MiB


def stall(sock, pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(pki, 'ca-cert.pem'))
    ctx.load_cert_chain(os.path.join(pki, 'client-cert.pem'),
                        os.path.join(pki, 'client-key.pem'))
    c = nbdwire.Client(sock)
    c.go(b'disk0', tls=ctx)
    return stalled.stall(c, nbdwire.CMD_READ, 16 * MiB)


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

        stalled.remove_hard(d, 'e0', stall(sock, pki), 'stalled TLS client')
        d.manager.AddExport(xml)
        stalled.stop_with(d, stall(sock, pki), 'stalled TLS client')


bgtest.run(main)
