#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A qcow2 format node on an nbd node: qemu-nbd serves the qcow2 file as raw
# bytes (-f raw; with room to allocate clusters in, since an export does
# not grow), blockgraphd opens the qcow2 on top.  Data qemu-io wrote
# reads back through a blockgraphd export, block status through the chain
# matches qemu-img map of the image, and data written through the export
# is in the image as qemu-io reads it once everything is closed.
import json
import os
import nbdremote
import nbdtest
from nbdtest import bgtest


def data_map(*args):
    out = json.loads(nbdtest.run(['qemu-img', 'map', '--output=json'] + list(args)).stdout)
    merged = []
    for e in out:
        key = (e['zero'], e['data'])
        if merged and merged[-1][2:] == key and merged[-1][0] + merged[-1][1] == e['start']:
            merged[-1] = (merged[-1][0], merged[-1][1] + e['length']) + key
        else:
            merged.append((e['start'], e['length']) + key)
    return merged


def main():
    for tool in ('qemu-nbd', 'qemu-io', 'qemu-img'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.qcow2')
        nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '32M'])
        nbdremote.qemu_io(img, 'write -P 0x61 0 1M', 'write -P 0x62 10M 64k',
                          'write -z 20M 1M', fmt='qcow2')
        theirs = data_map('-f', 'qcow2', img)
        # An NBD export cannot grow: room after the image's last cluster for new ones.
        os.truncate(img, 48 << 20)
        server = nbdremote.qemu_nbd(img, ('unix', os.path.join(d.tmpdir, 'q.sock')))
        with server:
            d.manager.AddNode('<blockdev driver="qcow2" node-name="top">%s</blockdev>'
                              % nbdremote.nbd_node_xml('top-file', server.addr)
                              .replace('<blockdev ', '<file ').replace('</blockdev>', '</file>'))
            sock = os.path.join(d.tmpdir, 'bg.sock')
            _, uri = nbdtest.add_export(d, 'e0', 'top', sock)
            nbdremote.qemu_io(uri, 'read -P 0x61 0 1M', 'read -P 0x62 10M 64k',
                              'read -P 0 20M 1M', 'read -P 0 1M 9M')
            bgtest.check_equal(data_map('-f', 'raw', uri), theirs, 'block status through nbd')
            nbdremote.qemu_io(uri, 'write -P 0x71 4M 256k', 'write -P 0x72 31M 4k', 'flush')
            bgtest.remove_export_safe(d, d.manager_path('export', 'e0'))
            d.manager.RemoveNode('top')
        nbdtest.run(['qemu-img', 'check', img])
        nbdremote.qemu_io(img, 'read -P 0x61 0 1M', 'read -P 0x71 4M 256k',
                          'read -P 0x72 31M 4k', 'read -P 0x62 10M 64k', fmt='qcow2')


bgtest.run(main)
