#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash safety of backup, as the stream and commit crash tests: SIGKILL of
# the daemon half way through a full backup (an NBD client writing the
# source meanwhile, its writes flushed) and once the job concluded.
# Afterwards every image passes `qemu-img check` (leaked clusters allowed),
# the source holds the data its client flushed, and a concluded backup is
# the source at the job's start.
import os

import dbus

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

SIZE = 16 * MiB
WRITES = [(0x41, 0, 4096), (0x42, 5 * MiB, MiB), (0x43, 15 * MiB + 512, 4096)]


def crash(moment):
    with bgtest.Daemon() as d:
        paths = jobtest.make_chain(d, ['src'], size=SIZE,
                                   writes={'src': ['write -P 0x11 0 12M']})
        start_ref = jobtest.reference(d, paths['src'], 'start.raw')
        end_ref = jobtest.reference(d, paths['src'], 'end.raw')
        for pattern, off, length in WRITES:
            run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x%02x %d %d' % (pattern, off, length),
                 end_ref])
        jobtest.add_chain(d, ['src'], paths)
        d.node('src').AddBitmap('b', dbus.UInt32(65536), True, False)
        paths['tgt'] = os.path.join(d.tmpdir, 'tgt.qcow2')
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', paths['tgt'], str(SIZE)])
        jobtest.add_chain(d, ['tgt'], paths)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        nbdtest.add_export(d, 'e0', 'src', sock, writable=True)
        client = nbdwire.Client(sock, timeout=60)
        client.go(b'src')
        speed = ' speed="8M"' if moment != 'concluded' else ''
        d.manager.StartJob('<job type="backup" id="b0" node-name="src" target="tgt" sync="full" '
                           'bitmap="b" bitmap-mode="on-success" auto-dismiss="off"%s/>' % speed)
        for pattern, off, length in WRITES:
            bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0, 'write')
        bgtest.check_equal(client.simple(nbdwire.CMD_FLUSH), 0, 'flush')
        if moment == 'concluded':
            jobtest.wait_status(d, 'b0', 'concluded')
        else:
            jobtest.wait_progress(d, 'b0', moment)
        jobtest.kill9(d)
        when = 'backup killed at %s' % moment
        jobtest.check_images(paths, when)
        ok, out = jobtest.compare(end_ref, paths['src'])
        bgtest.check(ok, '%s: the source lost flushed data: %s' % (when, out))
        if moment == 'concluded':
            ok, out = jobtest.compare(start_ref, paths['tgt'])
            bgtest.check(ok, '%s: the backup is not the source at the start: %s' % (when, out))


def main():
    jobtest.need_qemu()
    for moment in (0.5, 'concluded'):
        crash(moment)


bgtest.run(main)
