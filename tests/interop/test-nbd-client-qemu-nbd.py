#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The nbd driver over qemu-nbd, on a unix socket and on TCP: data qemu-io
# wrote into the served file reads back through a blockgraphd export of the
# nbd node, writes, zeroes and discards through that export land in the
# file, block status (base:allocation) says what qemu-img map says of the
# file, and the node's Filename, GetXML, size and the Driver object show
# the driver.
import json
import os
import nbdremote
import nbdtest
from nbdtest import bgtest, MiB


def check_node(d, img, addr, tag):
    name = 'remote-' + tag
    d.manager.AddNode(nbdremote.nbd_node_xml(name, addr))
    props = d.node_props(name)
    bgtest.check_equal(int(props['Size']), 16 * MiB, 'size of ' + name)
    want = ('nbd+unix:///disk0?socket=' + addr[1] if addr[0] == 'unix'
            else 'nbd://127.0.0.1:%d/disk0' % addr[1])
    bgtest.check_equal(str(props['Filename']), want, 'Filename')
    xml = str(d.node(name).GetXML())
    bgtest.check(nbdremote.server_xml(addr) in xml, 'GetXML shows <server>: ' + xml)
    d.node(name).Reopen(xml)    # its own XML changes nothing
    sock = os.path.join(d.tmpdir, 'bg-%s.sock' % tag)
    _, uri = nbdtest.add_export(d, 'e-' + tag, name, sock)

    nbdremote.qemu_io(uri, 'read -P 0x5a 1088k 960k', 'read -P 0 0 1M', 'read -P 0 3M 1M')
    nbdremote.qemu_io(uri, 'write -P 0x%s1 5M 300k' % tag[0], 'write -z 1M 64k',
                      'discard 8M 1M', 'flush')
    nbdremote.qemu_io(img, 'read -P 0x%s1 5M 300k' % tag[0], 'read -P 0 1M 64k',
                      'read -P 0x5a 1088k 960k', 'read -P 0 8M 1M')
    ours = nbdtest.run(['qemu-img', 'map', '--output=json', '-f', 'raw', uri]).stdout
    theirs = nbdtest.run(['qemu-img', 'map', '--output=json', '-f', 'raw', '-U', img]).stdout
    strip = lambda m: [(e['start'], e['length'], e['zero'], e['data']) for e in json.loads(m)]
    bgtest.check_equal(strip(ours), strip(theirs), 'block status through the nbd node')
    bgtest.remove_export_safe(d, d.manager_path('export', 'e-' + tag))
    d.manager.RemoveNode(name)


def check_driver_object(d):
    props = d.props(d.manager_path('driver', 'nbd'), bgtest.DRIVER)
    bgtest.check_equal(str(props['Kind']), 'protocol', 'Driver.Kind')
    caps = [str(c) for c in props['Capabilities']]
    for c in ('block-status', 'zero-write', 'discard', 'reconnect'):
        bgtest.check(c in caps, 'capability %s in %s' % (c, caps))
    names = [str(o[0]) for o in props['Options']]
    for o in ('server.type', 'server.path', 'server.host', 'server.port', 'export',
              'reconnect-delay', 'open-timeout'):
        bgtest.check(o in names, 'option %s in %s' % (o, names))
    feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
    bgtest.check('driver-nbd' in feats, 'Feature driver-nbd in %s' % feats)


def main():
    for tool in ('qemu-nbd', 'qemu-io', 'qemu-img'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        check_driver_object(d)
        img = os.path.join(d.tmpdir, 'remote.img')
        nbdtest.make_image(img, 16 * MiB, [(1 * MiB, b'\x5a' * MiB)])
        unix = ('unix', os.path.join(d.tmpdir, 'qnbd.sock'))
        with nbdremote.qemu_nbd(img, unix):
            check_node(d, img, unix, 'a')
        tcp = ('inet', nbdremote.free_port())
        with nbdremote.qemu_nbd(img, tcp):
            check_node(d, img, tcp, 'b')


bgtest.run(main)
