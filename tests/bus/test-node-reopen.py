#!/usr/bin/python3
# Node.Reopen and Manager.ReopenNodes: options change in one transaction
# (omitted ones go back to their defaults), GetXML fed back changes
# nothing, and a bad snippet or immutable option changes nothing at all.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

MiB = 1 << 20


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="8M"/>')
        d.manager.AddNode('<blockdev driver="raw" node-name="top" offset="1M">'
                          '<file ref="n0"/></blockdev>')
        bgtest.check_equal(int(d.node_props('top')['Size']), 7 * MiB, 'Size before')
        sig = d.signals()

        # GetXML fed back changes nothing
        xml = str(d.node('top').GetXML())
        d.node('top').Reopen(xml)
        bgtest.check_equal(str(d.node('top').GetXML()), xml, 'GetXML after reopening with it')

        # a mutable option, with node-name left out of the snippet
        d.node('top').Reopen('<blockdev driver="raw" offset="2M" size="4M"><file ref="n0"/>'
                             '</blockdev>')
        bgtest.check_equal(int(d.node_props('top')['Size']), 4 * MiB, 'Size after Reopen')
        path = d.node_path('top')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       and 'Size' in i[3][1] for i in items))
        # omitted means default: offset back to 0, size back to "the rest"
        d.node('top').Reopen('<blockdev driver="raw"><file ref="n0"/></blockdev>')
        bgtest.check_equal(int(d.node_props('top')['Size']), 8 * MiB, 'defaults again')

        # read-only through ReopenNodes
        d.manager.ReopenNodes(['<blockdev driver="raw" node-name="top" read-only="on">'
                               '<file ref="n0"/></blockdev>'])
        p = d.node_props('top')
        bgtest.check_equal((bool(p['ReadOnly']), bool(p['Writable'])), (True, False),
                           'ReadOnly/Writable after reopen read-only')

        before = d.graph_xml()
        e = bgtest.expect_error('InvalidArgument', d.node('top').Reopen,
                                '<blockdev driver="raw" node-name="n0"/>')
        bgtest.check('n0' in e.get_dbus_message() and 'top' in e.get_dbus_message(),
                     e.get_dbus_message())
        e = bgtest.expect_error('InvalidArgument', d.node('n0').Reopen,
                                '<blockdev driver="null-co" size="16M"/>')
        bgtest.check('size' in e.get_dbus_message(), 'names the option: ' + e.get_dbus_message())
        bgtest.expect_error('InvalidXml', d.node('top').Reopen, '<blockdev driver="raw"')
        # one bad snippet: the good one is not applied either
        try:
            d.manager.ReopenNodes([
                '<blockdev driver="raw" node-name="top" offset="1M"><file ref="n0"/></blockdev>',
                '<blockdev driver="null-co" node-name="n0" colour="red"/>'])
        except bgtest.dbus.exceptions.DBusException as e:
            bgtest.check('colour' in e.get_dbus_message(), e.get_dbus_message())
        else:
            raise bgtest.TestFailure('ReopenNodes with a bad snippet succeeded')
        bgtest.expect_error('NotFound', d.manager.ReopenNodes,
                            ['<blockdev driver="raw" node-name="ghost"/>'])
        bgtest.expect_error('InvalidArgument', d.manager.ReopenNodes, bgtest.dbus.Array(
            [], signature='s'))
        bgtest.check_equal(d.graph_xml(), before, 'graph changed by failed reopens')


bgtest.run(main)
