#!/usr/bin/python3
# D-Bus calls with wrong argument types or unknown members get a D-Bus error
# and change nothing.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus

INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs'


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        before = d.graph_xml()
        mgr = d.manager
        bgtest.expect_error(INVALID_ARGS, mgr.AddNode, dbus.Int32(42))
        bgtest.expect_error(INVALID_ARGS, mgr.AddNode)
        bgtest.expect_error(INVALID_ARGS, mgr.AddNode, 'a', 'b')
        bgtest.expect_error(INVALID_ARGS, mgr.RemoveNode, dbus.Array([], signature='s'))
        bgtest.expect_error(INVALID_ARGS, mgr.GetGraph, dbus.Boolean(True))
        node = d.node('n0')
        bgtest.expect_error(INVALID_ARGS, node.Resize, 'big')
        bgtest.expect_error(INVALID_ARGS, node.Resize, dbus.Int32(-1))
        bgtest.expect_error('org.freedesktop.DBus.Error.UnknownMethod', mgr.Frobnicate)
        bgtest.expect_error('org.freedesktop.DBus.Error.UnknownObject',
                            d.iface(bgtest.ROOT_PATH + '/node/ghost', bgtest.NODE).GetXML)
        props = d.iface(d.node_path('n0'), bgtest.PROPS)
        bgtest.expect_error('org.freedesktop.DBus.Error.PropertyReadOnly',
                            props.Set, bgtest.NODE, 'Size', dbus.UInt64(5))
        bgtest.expect_error('org.freedesktop.DBus.Error.UnknownProperty',
                            props.Get, bgtest.NODE, 'Colour')
        bgtest.check_equal(d.graph_xml(), before, 'graph changed')
        bgtest.check_equal(int(d.node_props('n0')['Size']), 1 << 20, 'Size changed')


bgtest.run(main)
