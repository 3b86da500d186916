#!/usr/bin/python3
# A failed AddNode gives back what its links took from nodes that stay: an
# auto-read-only file the new qcow2 node opened read-write (it takes write)
# goes back to read-only when the qcow2 open fails, and a writer can still
# come and go.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'zeroes.img')
        with open(img, 'wb') as f:
            f.truncate(1 << 20)
        d.manager.AddNode('<blockdev driver="file" node-name="f" filename="%s" '
                          'auto-read-only="on"/>' % img)
        bgtest.check_equal(bool(d.node_props('f')['Writable']), False, 'f before')

        e = bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                                '<blockdev driver="qcow2" node-name="q"><file ref="f"/>'
                                '</blockdev>')
        bgtest.check('q' in e.get_dbus_message(), e.get_dbus_message())
        props = d.node_props('f')
        bgtest.check_equal(list(props['Users']), [], 'users of f after the failed AddNode')
        bgtest.check_equal(bool(props['Writable']), False, 'f read-only again')

        d.manager.AddNode('<blockdev driver="raw" node-name="r"><file ref="f"/></blockdev>')
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        d.manager.AddExport('<export type="nbd" id="e0" node-name="r" writable="on">'
                            '<server type="unix" path="%s"/></export>' % sock)
        bgtest.check_equal(bool(d.node_props('f')['Writable']), True, 'f with a writer')
        d.iface(d.manager_path('export', 'e0'), bgtest.EXPORT).Remove('hard')
        d.manager.RemoveNode('r')
        bgtest.check_equal(bool(d.node_props('f')['Writable']), False, 'f without a writer')
        d.manager.RemoveNode('f')


bgtest.run(main)
