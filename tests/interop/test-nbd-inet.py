#!/usr/bin/python3
# A TCP export (type="inet"): the Uri names host and port, nbdinfo and
# qemu-io use it, and a second export on the same host and port shares the
# listener.
import json
import os
import socket
import nbdtest
from nbdtest import bgtest, MiB


def main():
    bgtest.need_tool('nbdinfo')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, 8 * MiB, [(0, b'\x99' * 4096)])
        nbdtest.add_file_node(d, 'disk0', img)
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        xml = ('<export type="nbd" id="t0" node-name="disk0" name="tcp0" writable="on" '
               'description="scratch disk">'
               '<server type="inet" host="127.0.0.1" port="%d"/></export>' % port)
        path = d.manager.AddExport(xml)
        uri = str(d.props(path, bgtest.EXPORT)['Uri'])
        bgtest.check_equal(uri, 'nbd://127.0.0.1:%d/tcp0' % port, 'Uri')
        info = json.loads(nbdtest.run(['nbdinfo', '--json', uri]).stdout)
        bgtest.check_equal(info['exports'][0]['export-size'], 8 * MiB, 'size over TCP')
        bgtest.check_equal(info['exports'][0].get('description'), 'scratch disk',
                           'NBD_INFO_DESCRIPTION')
        if bgtest.shutil.which('qemu-io'):
            p = nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'read -P 0x99 0 4k',
                             '-c', 'write -P 0x12 4k 4k', uri])
            bgtest.check('error' not in p.stdout.lower(), p.stdout)
            with open(img, 'rb') as f:
                f.seek(4096)
                bgtest.check_equal(f.read(4096), b'\x12' * 4096, 'TCP write landed')

        xml2 = ('<export type="nbd" id="t1" node-name="disk0" name="other" writable="off">'
                '<server type="inet" host="127.0.0.1" port="%d"/></export>' % port)
        path2 = d.manager.AddExport(xml2)
        uri2 = str(d.props(path2, bgtest.EXPORT)['Uri'])
        bgtest.check_equal(uri2, 'nbd://127.0.0.1:%d/other' % port, 'shared listener Uri')
        info = json.loads(nbdtest.run(['nbdinfo', '--json', uri2]).stdout)
        bgtest.check_equal(info['exports'][0]['is_read_only'], True, 'second export')
        # same name on the same address is refused
        xml3 = xml2.replace('id="t1"', 'id="t2"')
        bgtest.expect_error('Exists', d.manager.AddExport, xml3)
        bgtest.remove_export_safe(d, path)
        info = json.loads(nbdtest.run(['nbdinfo', '--json', uri2]).stdout)
        bgtest.check_equal(info['exports'][0]['export-size'], 8 * MiB, 'listener kept')


bgtest.run(main)
