#!/usr/bin/python3
# NBD over TLS with Debian's clients: nbdinfo and nbdcopy (libnbd,
# tls-certificates=) and qemu-img (--object tls-creds-x509) over a unix
# socket and over TCP, with the client's certificate checked
# (verify-peer, the default) and without.  The data goes both ways.
import json
import os
import shutil
import socket
import nbdtest
import tlscerts
from nbdtest import bgtest, MiB
from tlscerts import export_xml, with_certs, qemu_object

SIZE = 16 * MiB


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_unix(d, pki, img, sock):
    path = d.manager.AddExport(export_xml('e0', 'disk0', tlscerts.unix_server(sock),
                                          {'dir': pki}))
    uri = str(d.props(path, bgtest.EXPORT)['Uri'])
    bgtest.check_equal(uri, 'nbds+unix:///disk0?socket=' + sock, 'Uri of a TLS export')

    info = json.loads(nbdtest.run(['nbdinfo', '--json', with_certs(uri, pki)]).stdout)
    bgtest.check_equal(info['protocol'], 'newstyle-fixed', 'protocol')
    bgtest.check_equal(info['TLS'], True, 'nbdinfo used TLS')
    bgtest.check_equal(info['exports'][0]['export-size'], SIZE, 'size over TLS')

    target = 'driver=nbd,path=%s,export=disk0,tls-creds=tls0,tls-hostname=localhost' % sock
    out = nbdtest.run(['qemu-img', 'info', '--output=json'] + qemu_object(pki) +
                      ['--image-opts', target]).stdout
    bgtest.check_equal(json.loads(out)['virtual-size'], SIZE, 'qemu-img info over TLS')

    # qemu-img writes through TLS, nbdcopy reads back through TLS
    src = os.path.join(d.tmpdir, 'src.raw')
    with open(src, 'wb') as f:
        f.write(os.urandom(SIZE))
    nbdtest.run(['qemu-img', 'convert', '-n', '-f', 'raw'] + qemu_object(pki) +
                ['--target-image-opts', src, target])
    bgtest.check(nbdtest.files_equal(src, img), 'qemu-img convert landed through TLS')
    out_file = os.path.join(d.tmpdir, 'out.raw')
    nbdtest.run(['nbdcopy', with_certs(uri, pki), out_file])
    bgtest.check(nbdtest.files_equal(src, out_file), 'nbdcopy read back through TLS')


def check_tcp_without_client_cert(d, pki, cadir):
    port = free_port()
    path = d.manager.AddExport(export_xml('t0', 'disk0', tlscerts.inet_server(port),
                                          {'dir': pki, 'verify-peer': 'off'},
                                          writable=False, name='tcp0'))
    uri = str(d.props(path, bgtest.EXPORT)['Uri'])
    bgtest.check_equal(uri, 'nbds://127.0.0.1:%d/tcp0' % port, 'Uri over TCP')
    # the client has the CA only: enough when the server does not ask for a certificate
    info = json.loads(nbdtest.run(['nbdinfo', '--json', with_certs(uri, cadir)]).stdout)
    bgtest.check_equal(info['exports'][0]['is_read_only'], True, 'read-only over TCP+TLS')
    target = ('driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=%d,'
              'export=tcp0,tls-creds=tls0' % port)
    out = nbdtest.run(['qemu-img', 'info', '--output=json'] + qemu_object(cadir) +
                      ['--image-opts', target]).stdout
    bgtest.check_equal(json.loads(out)['virtual-size'], SIZE, 'qemu-img info over TCP+TLS')


def check_loaded_once(d, pki, sock):
    """The files are read when the export is added, not per connection;
    adding the export again reads them again."""
    client = os.path.join(d.tmpdir, 'client')
    os.mkdir(client)
    for f in ('ca-cert.pem', 'client-cert.pem', 'client-key.pem'):
        shutil.copy(os.path.join(pki, f), client)
    uri = str(nbdtest.export_props(d, 'e0')['Uri'])
    os.rename(pki, pki + '.moved')
    nbdtest.run(['nbdinfo', '--size', with_certs(uri, client)])
    d.iface(d.manager_path('export', 'e0'), bgtest.EXPORT).Remove('hard')
    xml = export_xml('e0', 'disk0', tlscerts.unix_server(sock), {'dir': pki})
    e = bgtest.expect_error('NotFound', d.manager.AddExport, xml)
    bgtest.check(os.path.join(pki, 'ca-cert.pem') in e.get_dbus_message(), e)
    os.rename(pki + '.moved', pki)
    d.manager.AddExport(xml)
    nbdtest.run(['nbdinfo', '--size', with_certs(uri, client)])


def main():
    for tool in ('nbdinfo', 'nbdcopy', 'qemu-img', 'openssl'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        bgtest.check('nbd-tls' in [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
                                   ['Features']], 'Features has nbd-tls')
        pki = tlscerts.make_dir(os.path.join(d.tmpdir, 'pki'))
        cadir = os.path.join(d.tmpdir, 'ca-only')
        os.mkdir(cadir)
        shutil.copy(os.path.join(pki, 'ca-cert.pem'), cadir)
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, SIZE)
        nbdtest.add_file_node(d, 'disk0', img)

        check_unix(d, pki, img, os.path.join(d.tmpdir, 'nbd.sock'))
        check_tcp_without_client_cert(d, pki, cadir)
        check_loaded_once(d, pki, os.path.join(d.tmpdir, 'nbd.sock'))

        xml = d.graph_xml()
        bgtest.check('<tls dir="%s" verify-peer="on"/>' % pki in xml, 'GetGraph: ' + xml)
        bgtest.check('<tls dir="%s" verify-peer="off"/>' % pki in xml, 'GetGraph: ' + xml)


bgtest.run(main)
