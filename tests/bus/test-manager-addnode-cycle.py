#!/usr/bin/python3
# AddNode refuses a ref that would close a cycle (the node itself, or an
# ancestor still being built), as reopen does, and leaves the graph as it
# was; a shared child (a diamond, not a cycle) is fine.  Before, the cycle
# was accepted and flushing it overflowed the stack; a qcow2 node that is
# its own backing crashed on the first read of an empty cluster.
import os
import shutil
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

CYCLES = [
    ('a', '<blockdev driver="raw" node-name="a"><file ref="a"/></blockdev>'),
    ('mid', '<blockdev driver="raw" node-name="top"><file driver="raw" node-name="mid">'
            '<file ref="top"/></file></blockdev>'),
    ('low', '<blockdev driver="raw" node-name="top"><file driver="raw" node-name="mid">'
            '<file driver="raw" node-name="low"><file ref="mid"/></file></file></blockdev>'),
]


def refuse(d, who, xml):
    before = d.graph_xml()
    e = bgtest.expect_error('InvalidArgument', d.manager.AddNode, xml)
    msg = e.get_dbus_message()
    bgtest.check('cycle' in msg and "node '%s'" % who in msg, msg)
    bgtest.check_equal(d.graph_xml(), before, 'graph unchanged')


def main():
    with bgtest.Daemon() as d:
        for who, xml in CYCLES:
            refuse(d, who, xml)

        d.manager.AddNode('<blockdev driver="null-co" node-name="base"/>')
        d.manager.AddNode('<blockdev driver="raw" node-name="r1"><file ref="base"/></blockdev>')
        d.node('r1').Flush()
        d.manager.RemoveNode('r1')

        if shutil.which('qemu-img'):
            img = os.path.join(d.tmpdir, 'self.qcow2')
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '1M'], check=True)
            refuse(d, 'q', '<blockdev driver="qcow2" node-name="q"><file driver="file" '
                           'filename="%s"/><backing ref="q"/></blockdev>' % img)
            d.manager.AddNode('<blockdev driver="qcow2" node-name="q"><file driver="file" '
                              'filename="%s"/><backing ref="base"/></blockdev>' % img)
            d.manager.RemoveNode('q')
            # A diamond (q's file also under its backing, both read-only) is no cycle.
            d.manager.AddNode('<blockdev driver="qcow2" node-name="q" read-only="on">'
                              '<file driver="file" '
                              'node-name="qf" filename="%s"/><backing driver="raw" '
                              'node-name="qb" read-only="on"><file ref="qf"/></backing></blockdev>' % img)
            d.node('q').Flush()
            d.manager.RemoveNode('q')
        d.manager.RemoveNode('base')


bgtest.run(main)
