#!/usr/bin/python3
# Node.Resize on a null-co node: Size follows and PropertiesChanged says so;
# a read-only node refuses with ReadOnly; a raw window (size=) above it
# keeps its own size.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus

MiB = 1 << 20


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        sig = d.signals()
        d.node('n0').Resize(dbus.UInt64(8 * MiB))
        bgtest.check_equal(int(d.node_props('n0')['Size']), 8 * MiB, 'Size after Resize')
        path = d.node_path('n0')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       for i in items))
        changes = [i[3] for i in sig.named('PropertiesChanged') if str(i[2]) == path]
        bgtest.check_equal(str(changes[0][0]), bgtest.NODE, 'interface')
        bgtest.check_equal(int(changes[0][1]['Size']), 8 * MiB, 'changed Size')

        d.manager.AddNode('<blockdev driver="null-co" node-name="ro" size="1M" read-only="on"/>')
        e = bgtest.expect_error('ReadOnly', d.node('ro').Resize, dbus.UInt64(2 * MiB))
        bgtest.check('ro' in e.get_dbus_message(), 'names the node: ' + e.get_dbus_message())
        bgtest.check_equal(int(d.node_props('ro')['Size']), MiB, 'read-only Size unchanged')
        bgtest.check_equal(list(d.node_props('ro')['Users']), [], 'no user left behind')


bgtest.run(main)
