#!/usr/bin/python3
# Node.AddBitmap ... MergeBitmaps on a null-co node: Bitmaps shows
# (name, granularity, dirty bytes, recording, persistent, busy, inconsistent)
# and PropertiesChanged follows; bad names, granularities, duplicates,
# unknown bitmaps and persistent bitmaps on a node that cannot store them
# (null-co, raw) get clear errors and change nothing.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus

MiB = 1 << 20


def bitmaps(d, node='n0'):
    return [(str(b[0]), int(b[1]), int(b[2]), bool(b[3]), bool(b[4]), bool(b[5]), bool(b[6]))
            for b in d.node_props(node)['Bitmaps']]


def main():
    with bgtest.Daemon() as d:
        feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
        bgtest.check('dirty-bitmaps' in feats, 'Features has dirty-bitmaps')
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="10M"/>')
        n = d.node('n0')
        bgtest.check_equal(bitmaps(d), [], 'no bitmaps at first')
        sig = d.signals()
        n.AddBitmap('daily', dbus.UInt32(65536), False, False)
        n.AddBitmap('off', dbus.UInt32(0), False, True)
        bgtest.check_equal(bitmaps(d), [('daily', 65536, 0, True, False, False, False),
                                        ('off', 65536, 0, False, False, False, False)],
                           'Bitmaps after AddBitmap')
        path = d.node_path('n0')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       and 'Bitmaps' in i[3][1] for i in items))

        n.DisableBitmap('daily')
        n.EnableBitmap('off')
        bgtest.check_equal([(b[0], b[3]) for b in bitmaps(d)], [('daily', False), ('off', True)],
                           'recording after Enable/Disable')
        n.MergeBitmaps('daily', ['off'])
        n.ClearBitmap('daily')
        n.RemoveBitmap('off')
        bgtest.check_equal([b[0] for b in bitmaps(d)], ['daily'], 'after RemoveBitmap')

        before = bitmaps(d)
        for name, gran, what in [('x' * 1024, 65536, 'name too long'),
                                 ('', 65536, 'empty name'),
                                 ('g', 65535, 'granularity not a power of two'),
                                 ('g', 256, 'granularity too small'),
                                 ('g', 128 * MiB, 'granularity too large')]:
            e = bgtest.expect_error('InvalidArgument', n.AddBitmap, name, dbus.UInt32(gran),
                                    False, False)
            bgtest.check('n0' in e.get_dbus_message(), what + ': ' + e.get_dbus_message())
        n.AddBitmap('y' * 1023, dbus.UInt32(512), False, False)
        n.RemoveBitmap('y' * 1023)
        n.AddBitmap('big', dbus.UInt32(64 * MiB), False, False)
        n.RemoveBitmap('big')
        bgtest.expect_error('Exists', n.AddBitmap, 'daily', dbus.UInt32(0), False, False)
        e = bgtest.expect_error('NotSupported', n.AddBitmap, 'p', dbus.UInt32(0), True, False)
        bgtest.check('null-co' in e.get_dbus_message(), 'names the driver: ' + e.get_dbus_message())
        # raw cannot store one either (only qcow2 can), whatever is below it.
        d.manager.AddNode('<blockdev driver="raw" node-name="r0"><file driver="null-co" '
                          'node-name="r0-file" size="1M"/></blockdev>')
        e = bgtest.expect_error('NotSupported', d.node('r0').AddBitmap, 'p', dbus.UInt32(0), True,
                                False)
        bgtest.check("'r0'" in e.get_dbus_message() and 'raw' in e.get_dbus_message(),
                     'names the raw node: ' + e.get_dbus_message())
        bgtest.check_equal(bitmaps(d, 'r0') + bitmaps(d, 'r0-file'), [], 'nothing on raw')
        for verb in ('RemoveBitmap', 'ClearBitmap', 'EnableBitmap', 'DisableBitmap'):
            e = bgtest.expect_error('NotFound', getattr(n, verb), 'nope')
            bgtest.check("'nope'" in e.get_dbus_message(), verb + ': ' + e.get_dbus_message())
        bgtest.expect_error('NotFound', n.MergeBitmaps, 'daily', ['nope'])
        bgtest.expect_error('NotFound', n.MergeBitmaps, 'nope', ['daily'])
        bgtest.check_equal(bitmaps(d), before, 'failed calls changed nothing')

        # Resize: bitmaps follow the node.
        n.Resize(dbus.UInt64(20 * MiB))
        bgtest.check_equal(bitmaps(d), before, 'Resize keeps bitmaps')


bgtest.run(main)
