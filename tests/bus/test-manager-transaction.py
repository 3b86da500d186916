#!/usr/bin/python3
# Manager.Transaction with the bitmap actions: several nodes at one point,
# all or nothing; a failing action (or a bad snippet) names itself and
# leaves every bitmap as it was.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus


def bitmaps(d, node):
    return [(str(b[0]), int(b[1]), bool(b[3])) for b in d.node_props(node)['Bitmaps']]


def main():
    with bgtest.Daemon() as d:
        feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
        bgtest.check('transaction' in feats, 'Features has transaction')
        for n in ('a', 'b'):
            d.manager.AddNode('<blockdev driver="null-co" node-name="%s" size="1M"/>' % n)
        d.node('a').AddBitmap('old', dbus.UInt32(0), False, False)
        d.manager.Transaction([
            '<bitmap-add node-name="a" name="new" granularity="4K"/>',
            '<bitmap-add node-name="b" name="new" disabled="on"/>',
            '<bitmap-merge node-name="a" target="new"><source name="old"/></bitmap-merge>',
            '<bitmap-clear node-name="a" name="old"/>',
            '<bitmap-disable node-name="a" name="old"/>',
        ])
        bgtest.check_equal(bitmaps(d, 'a'), [('old', 65536, False), ('new', 4096, True)], 'a')
        bgtest.check_equal(bitmaps(d, 'b'), [('new', 65536, False)], 'b')

        before = (bitmaps(d, 'a'), bitmaps(d, 'b'))
        e = bgtest.expect_error('Exists', d.manager.Transaction, [
            '<bitmap-remove node-name="b" name="new"/>',
            '<bitmap-enable node-name="a" name="old"/>',
            '<bitmap-add node-name="a" name="x"/>',
            '<bitmap-add node-name="a" name="new"/>',
        ])
        bgtest.check('action 4' in e.get_dbus_message(), e.get_dbus_message())
        bgtest.check_equal((bitmaps(d, 'a'), bitmaps(d, 'b')), before, 'all undone')
        for bad, err in [('<bitmap-add node-name="a"/>', 'InvalidArgument'),
                         ('<bitmap-add node-name="a" name="y" granularity="1000"/>',
                          'InvalidArgument'),
                         ('<bitmap-frob node-name="a" name="y"/>', 'InvalidXml'),
                         ('<bitmap-merge node-name="a" target="new"/>', 'InvalidArgument'),
                         ('<bitmap-clear node-name="nope" name="x"/>', 'NotFound'),
                         ('<bitmap-clear', 'InvalidXml')]:
            e = bgtest.expect_error(err, d.manager.Transaction,
                                    ['<bitmap-remove node-name="b" name="new"/>', bad])
            bgtest.check('action 2' in e.get_dbus_message(), e.get_dbus_message())
        bgtest.expect_error('InvalidArgument', d.manager.Transaction, dbus.Array([], 's'))
        bgtest.check_equal((bitmaps(d, 'a'), bitmaps(d, 'b')), before, 'still as it was')


bgtest.run(main)
