#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reopen over the bus, seen through an NBD export with qemu-io: replacing a
# qcow2 node's backing node changes what reads of unallocated clusters
# return; <backing/> detaches it (reads zeroes); leaving <backing> out is an
# error; a failed multi-node reopen changes nothing, and swapping two
# nodes' children works in one call where two calls conflict.
import os
import nbdtest
from nbdtest import bgtest, run

MiB = 1 << 20


def qemu_io_read_pattern(uri, pattern, offset, length):
    p = run(['qemu-io', '-f', 'raw', '-r', '-c',
             'read -P 0x%02x %d %d' % (pattern, offset, length), uri], check=False)
    return p.returncode == 0 and 'Pattern verification failed' not in p.stdout


def main():
    bgtest.need_tool('qemu-img')
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        base1 = os.path.join(d.tmpdir, 'base1.raw')
        base2 = os.path.join(d.tmpdir, 'base2.raw')
        top = os.path.join(d.tmpdir, 'top.qcow2')
        nbdtest.make_image(base1, 4 * MiB, [(0, b'\x11' * (4 * MiB))])
        nbdtest.make_image(base2, 4 * MiB, [(0, b'\x22' * (4 * MiB))])
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base1, '-F', 'raw', top])
        run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x33 0 64k', top])

        for name, path in (('b1', base1), ('b2', base2)):
            d.manager.AddNode('<blockdev driver="raw" node-name="%s" read-only="on">'
                              '<file driver="file" filename="%s" read-only="on"/></blockdev>'
                              % (name, path))
        d.manager.AddNode('<blockdev driver="qcow2" node-name="top">'
                          '<file driver="file" node-name="top-file" filename="%s"/>'
                          '<backing ref="b1"/></blockdev>' % top)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        _, uri = nbdtest.add_export(d, 'e0', 'top', sock, writable=False)

        bgtest.check(qemu_io_read_pattern(uri, 0x33, 0, 65536), 'own data of top')
        bgtest.check(qemu_io_read_pattern(uri, 0x11, MiB, 65536), 'backing b1 data')

        e = bgtest.expect_error('InvalidArgument', d.node('top').Reopen,
                                '<blockdev driver="qcow2"><file ref="top-file"/></blockdev>')
        bgtest.check("backing is missing for 'top'" in e.get_dbus_message(),
                     e.get_dbus_message())

        d.node('top').Reopen('<blockdev driver="qcow2"><file ref="top-file"/>'
                             '<backing ref="b2"/></blockdev>')
        bgtest.check(qemu_io_read_pattern(uri, 0x22, MiB, 65536),
                     'reads show the new backing node b2')
        bgtest.check(qemu_io_read_pattern(uri, 0x33, 0, 65536), 'own data unchanged')
        children = {str(c[0]): str(c[1]) for c in d.node_props('top')['Children']}
        bgtest.check_equal(children.get('backing'), 'b2', 'Children after reopen')

        # A failed multi-node reopen: nothing changes.
        before = d.graph_xml()
        bgtest.expect_error('NotFound', d.manager.ReopenNodes, [
            '<blockdev driver="qcow2" node-name="top"><file ref="top-file"/>'
            '<backing ref="b1"/></blockdev>',
            '<blockdev driver="raw" node-name="b2" read-only="on"><file ref="nowhere"/>'
            '</blockdev>'])
        bgtest.check_equal(d.graph_xml(), before, 'graph after a failed ReopenNodes')
        bgtest.check(qemu_io_read_pattern(uri, 0x22, MiB, 65536), 'still b2 after failure')

        # A detach in a call that fails elsewhere is undone too.
        bgtest.expect_error('InvalidArgument', d.manager.ReopenNodes, [
            '<blockdev driver="qcow2" node-name="top"><file ref="top-file"/><backing/>'
            '</blockdev>',
            '<blockdev driver="raw" node-name="b1" read-only="on" offset="1G">'
            '<file ref="%s"/></blockdev>' % d.node_props('b1')['Children'][0][1]])
        bgtest.check_equal(d.graph_xml(), before, 'graph after a failed detach')
        bgtest.check(qemu_io_read_pattern(uri, 0x22, MiB, 65536), 'still b2 after failed detach')

        # <backing/>: no backing node, unallocated clusters read as zeroes.
        d.node('top').Reopen('<blockdev driver="qcow2"><file ref="top-file"/>'
                             '<backing/></blockdev>')
        bgtest.check(qemu_io_read_pattern(uri, 0x00, MiB, 65536), 'zeroes without backing')
        children = [str(c[0]) for c in d.node_props('top')['Children']]
        bgtest.check_equal(children, ['file'], 'Children after detaching')

        # Swapping two raw nodes' files in one call.  (A raw node takes of its
        # file only what its own users take; tests/unit/test-reopen.c shows the
        # conflict that exclusive writers make when the swap is split in two.)
        for name in ('s1', 's2'):
            path = os.path.join(d.tmpdir, name + '.img')
            nbdtest.make_image(path, MiB)
            d.manager.AddNode('<blockdev driver="file" node-name="%s-f" filename="%s"/>'
                              % (name, path))
            d.manager.AddNode('<blockdev driver="raw" node-name="%s"><file ref="%s-f"/>'
                              '</blockdev>' % (name, name))
        d.manager.ReopenNodes(['<blockdev driver="raw" node-name="s1"><file ref="s2-f"/>'
                               '</blockdev>',
                               '<blockdev driver="raw" node-name="s2"><file ref="s1-f"/>'
                               '</blockdev>'])
        children = {str(c[0]): str(c[1]) for c in d.node_props('s1')['Children']}
        bgtest.check_equal(children.get('file'), 's2-f', 's1 after the swap')

        # Read-only while a writer uses the node: refused, naming the writer.
        nbdtest.add_export(d, 'w0', 's1', os.path.join(d.tmpdir, 'w.sock'), writable=True)
        e = bgtest.expect_error('ReadOnly', d.node('s1').Reopen,
                                '<blockdev driver="raw" read-only="on"><file ref="s2-f"/>'
                                '</blockdev>')
        bgtest.check("export 'w0'" in e.get_dbus_message(), e.get_dbus_message())


bgtest.run(main)
