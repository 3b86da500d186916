#!/usr/bin/python3
# nbdinfo against an export of a sparse file: size, flags (writable and
# read-only), the Uri property, and --map showing data and holes where the
# file has them.
import json
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB


def merge(extents):
    out = []
    for off, length in extents:
        if out and out[-1][0] + out[-1][1] == off:
            out[-1] = (out[-1][0], out[-1][1] + length)
        else:
            out.append((off, length))
    return out


def nbdwire_hole_zero():
    return 3    # NBD_STATE_HOLE | NBD_STATE_ZERO


def main():
    bgtest.need_tool('nbdinfo')
    with bgtest.Daemon() as d:
        chunks = [(0, b'\x11' * MiB), (8 * MiB, b'\x22' * (2 * MiB))]
        img, uri, sock = nbdtest.setup(d, 16 * MiB, chunks)
        bgtest.check_equal(uri, 'nbd+unix:///disk0?socket=%s' % sock, 'Uri')
        p = nbdtest.export_props(d, 'e0')
        bgtest.check_equal(str(p['NodeName']), 'disk0')
        bgtest.check_equal(str(p['Type']), 'nbd')
        bgtest.check_equal(bool(p['Writable']), True)
        bgtest.check_equal(int(p['Clients']), 0)

        info = json.loads(nbdtest.run(['nbdinfo', '--json', uri]).stdout)
        exp = info['exports'][0]
        bgtest.check_equal(exp['export-size'], 16 * MiB, 'export-size')
        bgtest.check_equal(exp['is_read_only'], False, 'is_read_only')
        bgtest.check_equal(exp['can_flush'], True, 'can_flush')
        bgtest.check_equal(exp['can_fua'], True, 'can_fua')
        bgtest.check_equal(exp['can_trim'], True, 'can_trim')
        bgtest.check_equal(exp['can_zero'], True, 'can_zero')
        bgtest.check_equal(exp['can_multi_conn'], True, 'can_multi_conn')
        bgtest.check_equal(exp['block_size_maximum'], 32 * MiB, 'block_size_maximum')
        bgtest.check('base:allocation' in exp.get('contexts', []), 'base:allocation listed')

        out = json.loads(nbdtest.run(['nbdinfo', '--map', '--json', uri]).stdout)
        data = merge([(e['offset'], e['length']) for e in out if not (e['type'] & 1)])
        holes = merge([(e['offset'], e['length']) for e in out if e['type'] & 1])
        bgtest.check_equal(sum(e['length'] for e in out), 16 * MiB, 'map covers the export')
        bgtest.check_equal(data, [(0, MiB), (8 * MiB, 2 * MiB)], 'data extents')
        bgtest.check_equal(holes, [(MiB, 7 * MiB), (10 * MiB, 6 * MiB)], 'hole extents')
        for e in out:
            if e['type'] & 1:
                bgtest.check(e['type'] & 2, 'holes read as zero: %r' % e)

        # BLOCK_STATUS on the wire: REQ_ONE gives one extent, holes read as zero
        c = nbdwire.Client(sock)
        c.go(b'disk0')
        ext = c.block_status(0, 16 * MiB, nbdwire.FLAG_REQ_ONE)
        bgtest.check_equal(len(ext), 1, 'REQ_ONE: one extent')
        bgtest.check(ext[0][0] <= MiB and ext[0][1] == 0, 'first extent is data: %r' % ext)
        ext = c.block_status(2 * MiB, MiB)
        bgtest.check_equal(ext, [(MiB, nbdwire_hole_zero())], 'hole in the middle')
        c.disconnect()

        # The same export read-only.
        nbdtest.add_export(d, 'e1', 'disk0', sock, writable=False, name='ro')
        info = json.loads(nbdtest.run(['nbdinfo', '--json',
                                       'nbd+unix:///ro?socket=' + sock]).stdout)
        bgtest.check_equal(info['exports'][0]['is_read_only'], True, 'read-only export')
        lst = nbdtest.run(['nbdinfo', '--list', '--json', uri]).stdout
        names = sorted(e['export-name'] for e in json.loads(lst)['exports'])
        bgtest.check_equal(names, ['disk0', 'ro'], 'both exports share the listener')


bgtest.run(main)
