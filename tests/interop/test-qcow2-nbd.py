#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# qcow2 through the daemon and an NBD export: a 3-deep chain qemu-img made
# (opened from the image headers) reads back as QEMU sees it; patterns,
# zeroes and discards written through the export land in the top image,
# which passes qemu-img check and compares equal after a clean shutdown.
# Block status over NBD (base:allocation) matches qemu-img map of the chain.
import json
import os
import nbdtest
from nbdtest import bgtest, MiB


def qemu_io(target, *cmds, extra=()):
    args = ['qemu-io'] + list(extra)
    for c in cmds:
        args += ['-c', c]
    p = nbdtest.run(args + [target])
    if 'error' in p.stdout.lower() or 'failed' in p.stdout.lower():
        raise bgtest.TestFailure('qemu-io %r: %s' % (cmds, p.stdout))


def zero_data_map(*args):
    """qemu-img map as merged (start, length, zero, data) extents."""
    out = json.loads(nbdtest.run(['qemu-img', 'map', '--output=json', '-U'] + list(args)).stdout)
    merged = []
    for e in out:
        key = (e['zero'], e['data'])
        if merged and merged[-1][2:] == key and merged[-1][0] + merged[-1][1] == e['start']:
            merged[-1] = (merged[-1][0], merged[-1][1] + e['length']) + key
        else:
            merged.append((e['start'], e['length']) + key)
    return merged


def make_chain(tmp):
    base = os.path.join(tmp, 'base.qcow2')
    mid = os.path.join(tmp, 'mid.qcow2')
    top = os.path.join(tmp, 'top.qcow2')
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', base, '12M'])
    qemu_io(base, 'write -P 0x11 0 4M', extra=('-f', 'qcow2'))
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096',
                 '-b', 'base.qcow2', '-F', 'qcow2', mid, '16M'])
    qemu_io(mid, 'write -P 0x22 1M 1M', 'write -z 2M 64k', extra=('-f', 'qcow2'))
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2',
                 top, '16M'])
    qemu_io(top, 'write -P 0x33 3M 100k', extra=('-f', 'qcow2'))
    return top


def main():
    for tool in ('qemu-img', 'qemu-io'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        top = make_chain(d.tmpdir)
        d.manager.AddNode('<blockdev driver="qcow2" node-name="top">'
                          '<file driver="file" filename="%s"/></blockdev>' % top)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        _, uri = nbdtest.add_export(d, 'e0', 'top', sock)
        nbdtest.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'qcow2', uri, top])
        ours, theirs = zero_data_map('-f', 'raw', uri), zero_data_map('-f', 'qcow2', top)
        bgtest.check_equal(ours, theirs, 'block status over NBD')
        qemu_io(uri, 'read -P 0x11 0 1M', 'read -P 0x22 1M 1M', 'read -P 0 2M 64k',
                'read -P 0x33 3M 100k', 'read -P 0 12M 4M', extra=('-f', 'raw'))

        qemu_io(uri, 'write -P 0xa5 100k 200k', 'write -P 0x5a 5M 3M', 'flush',
                'write -z 1M 64k', 'discard 6M 1M', 'write -P 0x77 15M 999',
                extra=('-f', 'raw'))
        expected = os.path.join(d.tmpdir, 'expected.raw')
        nbdtest.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', uri, expected])
        qemu_io(expected, 'read -P 0xa5 100k 200k', 'read -P 0 1M 64k',
                'read -P 0x5a 5M 1M', 'read -P 0x77 15M 999', extra=('-f', 'raw'))
        d.stop()
        # The daemon flushed and closed the chain at SIGTERM.
        nbdtest.run(['qemu-img', 'check', top])
        nbdtest.run(['qemu-img', 'check', os.path.join(d.tmpdir, 'mid.qcow2')])
        nbdtest.run(['qemu-img', 'compare', '-f', 'qcow2', '-F', 'raw', top, expected])


bgtest.run(main)
