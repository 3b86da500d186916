#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hand-over of a qcow2 image: while the node is inactive another process
# (qemu-io) writes to the image; after SetActive(true) the daemon reads that
# data (it re-read header, L1, L2 and refcounts), its own new writes
# allocate clusters without clashing, and qemu-img check finds no leaks or
# corruption.  An inactive node reports Writable false.
import os
import nbdtest
from nbdtest import bgtest, MiB


def qemu_io(target, *cmds, extra=()):
    args = ['qemu-io'] + list(extra)
    for c in cmds:
        args += ['-c', c]
    p = nbdtest.run(args + [target], check=False)
    out = p.stdout.lower()
    return p.returncode == 0 and 'error' not in out and 'failed' not in out, p.stdout + p.stderr


def check_io(target, *cmds, extra=()):
    ok, out = qemu_io(target, *cmds, extra=extra)
    bgtest.check(ok, 'qemu-io %r on %s: %s' % (cmds, target, out))


def main():
    bgtest.need_tool('qemu-img')
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'hd.qcow2')
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '64M'])
        d.manager.AddNode('<blockdev driver="qcow2" node-name="hd"><file driver="file" '
                          'node-name="hd-file" filename="%s"/></blockdev>' % img)
        path, uri = nbdtest.add_export(d, 'e0', 'hd', sock)
        check_io(uri, 'write -P 0x11 0 128k', extra=('-f', 'raw'))
        bgtest.remove_export_safe(d, path)

        d.node('hd').SetActive(False)
        bgtest.check_equal(bool(d.node_props('hd')['Writable']), False, 'Writable while inactive')
        # The other host: overwrites, allocates new clusters (a new L2 table too).
        check_io(img, 'write -P 0x22 0 64k', 'write -P 0x33 1M 256k', 'write -P 0x44 40M 64k',
                 extra=('-f', 'qcow2'))
        d.node('hd').SetActive(True)
        bgtest.check_equal(bool(d.node_props('hd')['Writable']), True, 'Writable when active')

        path, uri = nbdtest.add_export(d, 'e0', 'hd', sock)
        check_io(uri, 'read -P 0x22 0 64k', 'read -P 0x11 64k 64k', 'read -P 0x33 1M 256k',
                 'read -P 0x44 40M 64k', extra=('-f', 'raw'))
        check_io(uri, 'write -P 0x55 2M 512k', 'write -P 0x66 48M 64k', extra=('-f', 'raw'))
        bgtest.remove_export_safe(d, path)
        d.stop()

        p = nbdtest.run(['qemu-img', 'check', img], check=False)
        bgtest.check_equal(p.returncode, 0, 'qemu-img check:\n' + p.stdout + p.stderr)
        check_io(img, 'read -P 0x22 0 64k', 'read -P 0x33 1M 256k', 'read -P 0x44 40M 64k',
                 'read -P 0x55 2M 512k', 'read -P 0x66 48M 64k', extra=('-f', 'qcow2', '-r'))


bgtest.run(main)
