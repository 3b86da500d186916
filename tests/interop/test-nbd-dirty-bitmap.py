#!/usr/bin/python3
# An export with <bitmap name="daily"/> offers qemu:dirty-bitmap:daily:
# LIST and SET_META_CONTEXT with QEMU's namespace queries, BLOCK_STATUS with
# one chunk per context, nbdinfo --map and qemu-img map with x-dirty-bitmap
# see exactly the ranges qemu-io wrote through the export.  The bitmap is
# busy while exported; unknown bitmaps are refused.
import json
import os
import struct
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB
import dbus

KiB = 1024


def export_xml(eid, sock, bitmaps, name='disk0'):
    return ('<export type="nbd" id="%s" node-name="disk0" name="%s" writable="on">'
            '<server type="unix" path="%s"/>%s</export>'
            % (eid, name, sock, ''.join('<bitmap name="%s"/>' % b for b in bitmaps)))


def list_contexts(sock, name, queries):
    c = nbdwire.Client(sock)
    c.greet()
    c.structured_reply()
    data = struct.pack('>I', len(name)) + name + struct.pack('>I', len(queries))
    for q in queries:
        data += struct.pack('>I', len(q)) + q
    c.option(nbdwire.OPT_LIST_META_CONTEXT, data)
    out = {}
    while True:
        _, rtype, payload = c.option_reply()
        if rtype != nbdwire.REP_META_CONTEXT:
            break
        out[payload[4:].decode()] = struct.unpack('>I', payload[:4])[0]
    c.close()
    return out


def dirty_ranges(extents, dirty_bit=1):
    out, off = [], 0
    for length, flags in extents:
        if flags & dirty_bit:
            if out and out[-1][1] == off:
                out[-1] = (out[-1][0], off + length)
            else:
                out.append((off, off + length))
        off += length
    return out


def main():
    bgtest.need_tool('nbdinfo')
    bgtest.need_tool('qemu-io')
    bgtest.need_tool('qemu-img')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, 16 * MiB)
        nbdtest.add_file_node(d, 'disk0', img)
        n = d.node('disk0')
        n.AddBitmap('daily', dbus.UInt32(64 * KiB), False, False)
        n.AddBitmap('other', dbus.UInt32(4 * KiB), False, False)
        sock = os.path.join(d.tmpdir, 'nbd.sock')

        e = bgtest.expect_error('NotFound', d.manager.AddExport,
                                export_xml('bad', sock, ['daily', 'nope']))
        bgtest.check("'nope'" in e.get_dbus_message(), e.get_dbus_message())
        bgtest.check(not any(b[5] for b in d.node_props('disk0')['Bitmaps']),
                     'a refused export leaves no bitmap busy')
        d.manager.AddExport(export_xml('e0', sock, ['daily', 'other']))
        uri = 'nbd+unix:///disk0?socket=' + sock
        bgtest.check_equal([bool(b[5]) for b in d.node_props('disk0')['Bitmaps']],
                           [True, True], 'exported bitmaps are busy')
        bgtest.expect_error('Busy', n.RemoveBitmap, 'daily')
        bgtest.expect_error('Busy', n.ClearBitmap, 'daily')

        # Namespace queries: LIST with none, 'qemu:', 'qemu:dirty-bitmap:', a name.
        all_ctx = list_contexts(sock, b'disk0', [])
        bgtest.check_equal(sorted(all_ctx), ['base:allocation', 'qemu:dirty-bitmap:daily',
                                             'qemu:dirty-bitmap:other'], 'LIST without queries')
        bgtest.check_equal(sorted(list_contexts(sock, b'disk0', [b'qemu:'])),
                           ['qemu:dirty-bitmap:daily', 'qemu:dirty-bitmap:other'], "'qemu:'")
        bgtest.check_equal(sorted(list_contexts(sock, b'disk0', [b'qemu:dirty-bitmap:'])),
                           ['qemu:dirty-bitmap:daily', 'qemu:dirty-bitmap:other'],
                           "'qemu:dirty-bitmap:'")
        bgtest.check_equal(sorted(list_contexts(sock, b'disk0', [b'qemu:dirty-bitmap:other',
                                                                 b'qemu:dirty-bitmap:x'])),
                           ['qemu:dirty-bitmap:other'], 'one name')
        bgtest.check_equal(sorted(list_contexts(sock, b'disk0', [b'base:'])),
                           ['base:allocation'], "'base:'")

        nbdtest.run(['qemu-io', '-f', 'raw', uri, '-c', 'write -P 0x11 1M 64k',
                     '-c', 'write -P 0x22 5000k 8k', '-c', 'write -z 12M 1M'])
        want = [(MiB, MiB + 64 * KiB), (4992 * KiB, 5056 * KiB), (12 * MiB, 13 * MiB)]

        out = json.loads(nbdtest.run(['nbdinfo', '--map=qemu:dirty-bitmap:daily', '--json',
                                      uri]).stdout)
        bgtest.check_equal(sum(e['length'] for e in out), 16 * MiB, 'map covers the export')
        got = dirty_ranges([(e['length'], e['type']) for e in out])
        bgtest.check_equal(got, want, 'nbdinfo dirty ranges of daily')
        out = json.loads(nbdtest.run(['nbdinfo', '--map=qemu:dirty-bitmap:other', '--json',
                                      uri]).stdout)
        got = dirty_ranges([(e['length'], e['type']) for e in out])
        bgtest.check_equal(got, [(MiB, MiB + 64 * KiB), (5000 * KiB, 5008 * KiB),
                                 (12 * MiB, 13 * MiB)], 'nbdinfo dirty ranges at 4k')

        # qemu's own view: with x-dirty-bitmap, dirty ranges read as "data": false.
        opts = ('driver=nbd,server.type=unix,server.path=%s,export=disk0,'
                'x-dirty-bitmap=qemu:dirty-bitmap:daily' % sock)
        qmap = json.loads(nbdtest.run(['qemu-img', 'map', '--output=json', '--image-opts',
                                       opts]).stdout)
        got = [(m['start'], m['start'] + m['length']) for m in qmap if not m['data']]
        bgtest.check_equal(got, want, 'qemu-img map x-dirty-bitmap')

        # On the wire: both contexts, one chunk each, ids as SET_META_CONTEXT said.
        c = nbdwire.Client(sock)
        c.greet()
        c.structured_reply()
        ids = c.set_meta_context(b'disk0', (b'base:allocation', b'qemu:dirty-bitmap:daily'))
        bgtest.check_equal(sorted(ids), [b'base:allocation', b'qemu:dirty-bitmap:daily'],
                           'SET_META_CONTEXT')
        c.option(nbdwire.OPT_GO, struct.pack('>I', 5) + b'disk0' + struct.pack('>H', 0))
        while c.option_reply()[1] != nbdwire.REP_ACK:
            pass
        c.request(nbdwire.CMD_BLOCK_STATUS, 0, 2 * MiB)
        _, err, _, chunks = c.reply()
        bgtest.check_equal(err, 0, 'BLOCK_STATUS error')
        by_id = {}
        for ctype, payload in chunks:
            cid = struct.unpack('>I', payload[:4])[0]
            by_id[cid] = [struct.unpack('>II', payload[i:i + 8]) for i in range(4, len(payload), 8)]
        bgtest.check_equal(sorted(by_id), sorted(ids.values()), 'a chunk per context')
        bgtest.check_equal(by_id[ids[b'qemu:dirty-bitmap:daily']],
                           [(MiB, 0), (64 * KiB, 1), (MiB - 64 * KiB, 0)], 'bitmap extents')
        c.request(nbdwire.CMD_BLOCK_STATUS, 0, 2 * MiB, nbdwire.FLAG_REQ_ONE)
        _, err, _, chunks = c.reply()
        bgtest.check(all(len(p) == 12 for _, p in chunks), 'REQ_ONE: one extent per context')
        c.disconnect()

        # A SET for another export selects nothing for this one.
        c = nbdwire.Client(sock)
        c.greet()
        c.structured_reply()
        c.option(nbdwire.OPT_SET_META_CONTEXT, struct.pack('>I', 4) + b'nope' +
                 struct.pack('>I', 0))
        bgtest.check(c.option_reply()[1] & (1 << 31), 'unknown export: an error reply')
        c.close()

        graph = str(d.manager.GetGraph('xml'))
        bgtest.check('<bitmap name="daily"/>' in graph, 'GetGraph writes the bitmaps: ' + graph)
        feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
        bgtest.check('nbd-dirty-bitmap' in feats, 'Features has nbd-dirty-bitmap')

        bgtest.remove_export_safe(d, d.manager_path('export', 'e0'))
        bgtest.check_equal([bool(b[5]) for b in d.node_props('disk0')['Bitmaps']],
                           [False, False], 'not busy once the export is gone')
        n.RemoveBitmap('daily')


bgtest.run(main)
