#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.CreateImage with driver qcow2, QEMU's tools as oracles: for each
# combination of options the image passes qemu-img check, and qemu-img info
# and qemu-img map (host offsets aside) show exactly what qemu-img create
# makes of the same options (cluster size, refcount bits, lazy refcounts,
# compression type, compat, backing file and format, virtual size, the
# allocation preallocation leaves).  The image reads zeroes in qemu-io, or
# its backing file's data, and opens in the daemon and over NBD.  Without
# size= the backing file gives it (qcow2 or raw backing-fmt, a name
# relative to the new image's folder), as qemu-img create takes it.
import createtest
import jobtest
import nbdtest
from jobtest import bgtest, run, MiB

GiB = 1 << 30

CASES = [
    ('default', '1G', {}),
    ('small-clusters', 100 * MiB, {'cluster-size': '512', 'refcount-bits': '1',
                                   'lazy-refcounts': 'on', 'compression-type': 'zstd'}),
    ('big-clusters', '10G', {'cluster-size': '2M', 'refcount-bits': '64'}),
    ('v2', 64 * MiB, {'version': 'v2', 'cluster-size': '4K'}),
    ('v3-explicit', 64 * MiB, {'version': 'v3', 'refcount-bits': '32'}),
    ('metadata', 64 * MiB, {'preallocation': 'metadata', 'refcount-bits': '8'}),
    ('metadata-many-refblocks', 4 * MiB, {'preallocation': 'metadata', 'cluster-size': '512',
                                          'refcount-bits': '64'}),
    ('metadata-packed', 4 * MiB, {'preallocation': 'metadata', 'cluster-size': '512',
                                  'refcount-bits': '2'}),
    ('falloc', 16 * MiB, {'preallocation': 'falloc', 'cluster-size': '4K', 'refcount-bits': '4'}),
    ('full', 8 * MiB, {'preallocation': 'full'}),
    ('empty', 0, {}),
    ('odd-size', MiB + 512, {'preallocation': 'metadata'}),
]


def size_bytes(size):
    return int(size[:-1]) * GiB if isinstance(size, str) else size


def test_combinations(d):
    for name, size, opts in CASES:
        ours = createtest.tmp(d, name + '.qcow2')
        oracle = createtest.tmp(d, name + '-qemu.qcow2')
        p = createtest.create(d, createtest.snippet('qcow2', ours, size, **opts), 'c-' + name)
        bgtest.check_equal(str(p['Error']), '', '%s: no error' % name)
        bgtest.check_equal(int(p['CurrentProgress']), int(p['TotalProgress']), name)
        createtest.qemu_create(oracle, 'qcow2', size_bytes(size), **opts)
        # 512-byte clusters share file system blocks; QEMU allocates the tail of a
        # partial last cluster: whether those read as zero is layout, not allocation.
        small = opts.get('cluster-size') == '512' or name == 'odd-size'
        createtest.check_like_qemu(ours, oracle, 'qcow2', small)
        createtest.reads_pattern(ours, 'qcow2', 0, min(4 * MiB, size_bytes(size)))


def test_backing(d):
    base = createtest.tmp(d, 'base.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, str(16 * MiB)])
    run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 1M 1M', base])
    for fmt in (None, 'qcow2'):
        opts = {'backing-file': 'base.qcow2'}
        if fmt:
            opts['backing-fmt'] = fmt
        ours = createtest.tmp(d, 'over-%s.qcow2' % fmt)
        oracle = createtest.tmp(d, 'over-%s-qemu.qcow2' % fmt)
        createtest.create(d, createtest.snippet('qcow2', ours, 16 * MiB, **opts), 'b%s' % fmt)
        qemu_opts = dict(opts, **({} if fmt else {'backing-fmt': 'qcow2'}))
        createtest.qemu_create(oracle, 'qcow2', 16 * MiB, **qemu_opts)
        jobtest.check_clean(ours)
        mine, theirs = createtest.info(ours), createtest.info(oracle)
        if not fmt:     # qemu-img create insists on a format; the header then holds none
            bgtest.check('backing-filename-format' not in mine, repr(mine))
            theirs.pop('backing-filename-format')
        bgtest.check_equal(mine, theirs, 'qemu-img info with a backing file')
        createtest.reads_pattern(ours, 'qcow2', 1 * MiB, 1 * MiB, 0x5a)
        createtest.reads_pattern(ours, 'qcow2', 0, 1 * MiB)


def test_size_from_backing(d):
    for fmt, size in (('qcow2', 24 * MiB + 512), ('raw', 3 * MiB)):
        base = createtest.tmp(d, 'sbase.' + fmt)
        run(['qemu-img', 'create', '-q', '-f', fmt, base, str(size)])
        ours = createtest.tmp(d, 'sover-%s.qcow2' % fmt)
        oracle = createtest.tmp(d, 'sover-%s-qemu.qcow2' % fmt)
        createtest.create(d, '<create driver="qcow2" filename="%s" backing-file="sbase.%s" '
                          'backing-fmt="%s"/>' % (ours, fmt, fmt), 's' + fmt)
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'sbase.' + fmt, '-F', fmt,
             oracle])
        jobtest.check_clean(ours)
        mine = createtest.info(ours)
        bgtest.check_equal(mine['virtual-size'], size, 'the size of the %s backing file' % fmt)
        bgtest.check_equal(mine, createtest.info(oracle), 'qemu-img info, size from backing')


def test_opens_here(d):
    img = createtest.tmp(d, 'here.qcow2')
    createtest.create(d, createtest.snippet('qcow2', img, '1G', preallocation='metadata'), 'h0')
    d.manager.AddNode('<blockdev driver="qcow2" node-name="here">'
                      '<file driver="file" filename="%s"/></blockdev>' % img)
    bgtest.check_equal(int(d.node_props('here')['Size']), GiB, 'Size of the new image')
    sock = createtest.tmp(d, 'nbd.sock')
    _, uri = nbdtest.add_export(d, 'e0', 'here', sock)
    run(['qemu-io', '-f', 'raw', '-c', 'read -P 0 0 4M', '-c', 'write -P 7 0 64k',
         '-c', 'read -P 7 0 64k', uri])


def main():
    jobtest.need_qemu()
    for t in (test_combinations, test_backing, test_size_from_backing, test_opens_here):
        with bgtest.Daemon() as d:
            t(d)


bgtest.run(main)
