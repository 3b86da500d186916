#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A guest writes through an NBD export of the top while a stream copies the
# chain up into it: every guest write survives (the copy of a range never
# undoes a write to it), and afterwards the image holds the chain's data
# with the guest's writes on top (qemu-img compare against the reference
# with the same writes applied), and qemu-img check is clean.
import os

import jobtest
import nbdtest
from jobtest import bgtest, run, MiB

LAYERS = ['base', 'mid', 'top']
WRITES = {'base': ['write -P 0x11 0 16M'], 'mid': ['write -P 0x22 0 12M'],
          'top': ['write -P 0x33 15M 1M']}
# (pattern, offset, length): some inside what mid holds, some straddling chunks
GUEST = [(0x41, 0, 4096), (0x42, 3 * MiB + 4096, 1 * MiB), (0x43, 8 * MiB - 512, 8192),
         (0x44, 11 * MiB, 2 * MiB), (0x45, 5 * MiB, 64 * 1024)]


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
        jobtest.add_chain(d, LAYERS, paths)
        ref = jobtest.reference(d, paths['top'])
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        _, uri = nbdtest.add_export(d, 'e0', 'top', sock, writable=True)
        d.manager.StartJob('<job type="stream" id="s0" node-name="top" speed="1M" '
                           'auto-dismiss="off"/>')
        jobtest.wait_status(d, 's0', 'running')
        with open(ref, 'r+b') as f:
            for pattern, off, length in GUEST:
                run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x%02x %d %d' % (pattern, off, length),
                     uri])
                f.seek(off)
                f.write(bytes([pattern]) * length)
        running = str(jobtest.job_props(d, 's0')['Status'])
        jobtest.job(d, 's0').SetSpeed(jobtest.dbus_u64(0))
        p = jobtest.wait_status(d, 's0', 'concluded')
        bgtest.check_equal(str(p['Error']), '', 'stream succeeded')
        bgtest.check(running == 'running', 'the writes overlapped the stream (was %s)' % running)
        for pattern, off, length in GUEST:
            r = run(['qemu-io', '-f', 'raw', '-r', '-c',
                     'read -P 0x%02x %d %d' % (pattern, off, length), uri], check=False)
            bgtest.check(r.returncode == 0 and 'verification failed' not in r.stdout,
                         'guest write 0x%02x at %d survived: %s' % (pattern, off, r.stdout))
        d.node('top').Flush()
        ok, out = jobtest.compare(ref, paths['top'])
        bgtest.check(ok, 'chain data plus guest writes: ' + out)
        jobtest.check_clean(paths['top'])


bgtest.run(main)
