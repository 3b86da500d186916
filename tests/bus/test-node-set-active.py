#!/usr/bin/python3
# Node.SetActive: inactivating a node (hand-over to another host) flips
# Active with PropertiesChanged, refuses resize with Inactive, is refused
# while an active parent writes to the node, and activating restores it.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        sig = d.signals()
        d.node('n0').SetActive(False)
        bgtest.check_equal(bool(d.node_props('n0')['Active']), False, 'Active after SetActive(false)')
        path = d.node_path('n0')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       and 'Active' in i[3][1] for i in items))
        e = bgtest.expect_error('Inactive', d.node('n0').Resize, dbus.UInt64(2 << 20))
        bgtest.check('n0' in e.get_dbus_message(), 'names the node: ' + e.get_dbus_message())
        d.node('n0').SetActive(True)
        bgtest.check_equal(bool(d.node_props('n0')['Active']), True, 'Active after SetActive(true)')
        d.node('n0').Resize(dbus.UInt64(2 << 20))
        bgtest.check_equal(int(d.node_props('n0')['Size']), 2 << 20, 'Size after reactivation')

        # raw writes its file only for a writer of its own (an export here).
        d.manager.AddNode('<blockdev driver="raw" node-name="top"><file ref="n0"/></blockdev>')
        export = d.manager.AddExport('<export type="nbd" id="e0" node-name="top" writable="on">'
                                     '<server type="unix" path="%s"/></export>'
                                     % os.path.join(d.tmpdir, 'e0.sock'))
        e = bgtest.expect_error('Busy', d.node('n0').SetActive, False)
        bgtest.check('top' in e.get_dbus_message(), 'names the writer: ' + e.get_dbus_message())
        bgtest.check_equal(bool(d.node_props('n0')['Active']), True, 'still active')
        bgtest.remove_export_safe(d, export)
        # Inactivating the parent takes the child along.
        d.node('top').SetActive(False)
        bgtest.check_equal(bool(d.node_props('top')['Active']), False, 'top inactive')
        bgtest.check_equal(bool(d.node_props('n0')['Active']), False, 'n0 follows its parent')
        d.node('top').SetActive(True)
        bgtest.check_equal(bool(d.node_props('n0')['Active']), True, 'n0 active again')


bgtest.run(main)
