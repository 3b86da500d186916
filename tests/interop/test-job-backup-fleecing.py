#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fleecing, the pull-mode backup of libvirt and virtnbdbackup: a scratch
# qcow2 backed by the live disk, filled by a sync=none backup, exported
# over NBD with a bitmap of what changed since the last backup.  One
# Manager.Transaction takes the point in time: the backup starts, the
# bitmap to export is made from the disk's recording one, which is cleared.
# While a client keeps writing the disk, nbdcopy of the export and an
# incremental pull (the dirty ranges of qemu:dirty-bitmap:pull applied onto
# the last backup) both equal the disk at the point in time.
import json
import os
import time

import dbus

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

KiB = 1024
SIZE = 16 * MiB


def write(client, pattern, off, length):
    bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0,
                       'client write 0x%02x at %d' % (pattern, off))


def dirty_ranges(sock):
    opts = ('driver=nbd,server.type=unix,server.path=%s,export=fleece,'
            'x-dirty-bitmap=qemu:dirty-bitmap:pull' % sock)
    qmap = json.loads(run(['qemu-img', 'map', '--output=json', '--image-opts', opts]).stdout)
    return [(m['start'], m['length']) for m in qmap if not m['data']]


def pull_incremental(sock, last, out):
    """The last backup with the export's dirty ranges copied over it."""
    run(['cp', last, out])
    reader = nbdwire.Client(sock, timeout=60)
    reader.go(b'fleece')
    ranges = dirty_ranges(sock)
    with open(out, 'r+b') as f:
        for start, length in ranges:
            for off in range(start, start + length, MiB):
                n = min(MiB, start + length - off)
                err, data = reader.read(off, n)
                bgtest.check_equal(err, 0, 'read of the export at %d' % off)
                f.seek(off)
                f.write(data)
    reader.disconnect()
    return ranges


def wait_gone(d, path):
    deadline = time.monotonic() + 60
    while path in [str(p) for p in d.managed_objects()]:
        bgtest.check(time.monotonic() < deadline, '%s still there' % path)
        time.sleep(0.02)


def main():
    jobtest.need_qemu()
    bgtest.need_tool('nbdcopy')
    with bgtest.Daemon() as d:
        paths = jobtest.make_chain(d, ['src'], size=SIZE,
                                   writes={'src': ['write -P 0x11 0 16M']})
        jobtest.add_chain(d, ['src'], paths)
        last = jobtest.reference(d, paths['src'], 'last.raw')    # the last full backup
        d.node('src').AddBitmap('daily', dbus.UInt32(64 * KiB), False, False)
        sock = os.path.join(d.tmpdir, 'src.sock')
        nbdtest.add_export(d, 'e0', 'src', sock, writable=True)
        guest = nbdwire.Client(sock, timeout=60)
        guest.go(b'src')
        write(guest, 0x21, 2 * MiB, 64 * KiB)
        write(guest, 0x22, 9 * MiB + 4096, 8 * KiB)
        d.node('src').Flush()
        ref = jobtest.reference(d, paths['src'])                  # the point in time
        fleece = os.path.join(d.tmpdir, 'fleece.qcow2')
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', paths['src'], '-F', 'qcow2',
             fleece, str(SIZE)])
        d.manager.AddNode('<blockdev driver="qcow2" node-name="fleece"><file driver="file" '
                          'filename="%s"/><backing ref="src"/></blockdev>' % fleece)
        d.manager.Transaction([
            '<bitmap-add node-name="src" name="pull" disabled="on"/>',
            '<bitmap-merge node-name="src" target="pull"><source name="daily"/></bitmap-merge>',
            '<bitmap-clear node-name="src" name="daily"/>',
            '<job type="backup" id="fl" node-name="src" target="fleece" sync="none"/>'])
        fsock = os.path.join(d.tmpdir, 'fleece.sock')
        d.manager.AddExport('<export type="nbd" id="ef" node-name="fleece" name="fleece" '
                            'writable="off"><server type="unix" path="%s"/>'
                            '<bitmap name="pull"/></export>' % fsock)
        # The guest goes on writing, over what changed and elsewhere.
        write(guest, 0x31, 2 * MiB, 4096)
        write(guest, 0x32, 0, 3 * MiB)
        write(guest, 0x33, 15 * MiB, MiB)
        out = os.path.join(d.tmpdir, 'pulled.raw')
        run(['nbdcopy', 'nbd+unix:///fleece?socket=' + fsock, out])
        write(guest, 0x34, 9 * MiB, MiB)
        ok, msg = jobtest.compare(ref, out, fmt_b='raw')
        bgtest.check(ok, 'nbdcopy of the export is the disk at the point in time: ' + msg)
        inc = os.path.join(d.tmpdir, 'incremental.raw')
        ranges = pull_incremental(fsock, last, inc)
        bgtest.check(jobtest.covers(ranges, 2 * MiB, 64 * KiB) and
                     not jobtest.covers(ranges, 15 * MiB, MiB),
                     'the exported bitmap is what changed before the point: %r' % ranges)
        ok, msg = jobtest.compare(ref, inc, fmt_b='raw')
        bgtest.check(ok, 'the last backup plus the dirty ranges is the disk: ' + msg)
        bgtest.check_equal(int([b for b in d.node_props('src')['Bitmaps']
                                if str(b[0]) == 'daily'][0][2]), 5 * MiB,
                           'daily recorded the writes after the point')
        bgtest.remove_export_safe(d, d.manager_path('export', 'ef'))
        jobtest.job(d, 'fl').Cancel(False)
        wait_gone(d, jobtest.job_path(d, 'fl'))
        d.manager.RemoveNode('fleece')
        d.node('src').RemoveBitmap('pull')
        guest.disconnect()
        jobtest.check_clean(fleece)


bgtest.run(main)
