#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The nbd driver against nbdkit (memory plugin) and qemu-storage-daemon:
# patterns, zeroes and discards written through a blockgraphd export of the
# nbd node read back through the export and from the server itself; a
# server's read-only export needs read-only or auto-read-only.
import os
import nbdremote
import nbdtest
from nbdtest import bgtest, MiB


def exercise(d, name, addr, export, tag):
    d.manager.AddNode(nbdremote.nbd_node_xml(name, addr, export=export))
    sock = os.path.join(d.tmpdir, 'bg-%s.sock' % name)
    _, uri = nbdtest.add_export(d, 'e-' + name, name, sock)
    nbdremote.qemu_io(uri, 'write -P 0x%s 0 1M' % tag, 'write -P 0x%s 7M 4k' % tag,
                      'write -z 512k 64k', 'discard 6M 64k', 'flush')
    nbdremote.qemu_io(uri, 'read -P 0x%s 0 512k' % tag, 'read -P 0 512k 64k',
                      'read -P 0x%s 576k 448k' % tag, 'read -P 0x%s 7M 4k' % tag)
    return uri


def main():
    for tool in ('nbdkit', 'qemu-storage-daemon', 'qemu-io', 'nbdinfo'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        with nbdremote.nbdkit_memory(('unix', os.path.join(d.tmpdir, 'kit.sock')), '16M') as kit:
            exercise(d, 'kit0', kit.addr, None, '3c')
            # what the server holds, asked from the server directly
            direct = 'nbd+unix:///?socket=' + kit.addr[1]
            nbdremote.qemu_io(direct, 'read -P 0x3c 0 512k', 'read -P 0 512k 64k',
                              'read -P 0x3c 7M 4k')
            bgtest.remove_export_safe(d, d.manager_path('export', 'e-kit0'))
            d.manager.RemoveNode('kit0')

        img = os.path.join(d.tmpdir, 'qsd.img')
        nbdtest.make_image(img, 16 * MiB)
        with nbdremote.qsd(img, ('inet', nbdremote.free_port())) as q:
            exercise(d, 'qsd0', q.addr, 'disk0', '4d')
        # the server flushed and closed its image on SIGTERM
        nbdremote.qemu_io(img, 'read -P 0x4d 0 512k', 'read -P 0 512k 64k',
                          'read -P 0x4d 7M 4k')

        ro = ('unix', os.path.join(d.tmpdir, 'ro.sock'))
        with nbdremote.Server(['nbdkit', '--foreground', '--exit-with-parent', '-r',
                               '--unix', ro[1], 'memory', 'size=1M'], ro):
            bgtest.expect_error('ReadOnly', d.manager.AddNode,
                                nbdremote.nbd_node_xml('ro0', ro, export=None))
            d.manager.AddNode(nbdremote.nbd_node_xml('ro1', ro, export=None,
                                                     extra=' auto-read-only="on"'))
            bgtest.check_equal(bool(d.node_props('ro1')['Writable']), False, 'ro1 Writable')
            d.manager.RemoveNode('ro1')


bgtest.run(main)
