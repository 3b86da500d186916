#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Image creation: Manager.CreateImage against qemu-img create.

A 10 GiB qcow2 (64 KiB clusters) with preallocation=metadata and with
preallocation=falloc, each created by blockgraphd (a `create` job, timed
from the CreateImage call to its Completed signal) and by `qemu-img create`
(the process's wall time, start included), in the same folder (default: a
fresh folder under /var/tmp: a disk, as images live on), each file removed
before the next run.  Prints the times and qemu-img's time over ours (above
1: we are faster).

  bench/create.py [--reps 2] [--dir DIR] [--blockgraphd PATH]

Build blockgraphd without sanitizers (meson setup build-rel
--buildtype=release).  A measurement, never a test assertion.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))

SIZE = '10G'
MODES = ('metadata', 'falloc')


def time_ours(d, sig, path, mode, n):
    xml = ('<create driver="qcow2" filename="%s" size="%s" preallocation="%s" id="b%d"/>'
           % (path, SIZE, mode, n))
    sig.items.clear()
    start = time.monotonic()
    d.manager.CreateImage(xml)
    sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=600)
    took = time.monotonic() - start
    done = sig.named('Completed')[0][3]
    if not done[0]:
        raise SystemExit('CreateImage failed: %s' % done[1])
    return took


def time_qemu(path, mode):
    start = time.monotonic()
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'preallocation=' + mode,
                    path, SIZE], check=True)
    return time.monotonic() - start


def run(args, workdir):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    times = {(who, m): [] for who in ('blockgraphd', 'qemu-img') for m in MODES}
    with bgtest.Daemon() as d:
        sig = d.signals()
        n = 0
        for rep in range(args.reps):
            for mode in MODES:
                for who in ('blockgraphd', 'qemu-img'):
                    path = os.path.join(workdir, '%s-%s-%d.qcow2' % (who, mode, rep))
                    took = (time_ours(d, sig, path, mode, n) if who == 'blockgraphd'
                            else time_qemu(path, mode))
                    n += 1
                    used = os.stat(path).st_blocks * 512
                    if mode == 'falloc' and used < 10 << 30:
                        raise SystemExit('%s: only %d bytes allocated' % (path, used))
                    times[(who, mode)].append(took)
                    os.unlink(path)
                    print('run %d %-8s %-11s %.3f s' % (rep + 1, mode, who, took), flush=True)
    print('\n%-8s %12s %12s %8s' % ('mode', 'blockgraphd', 'qemu-img', 'ratio'))
    for mode in MODES:
        ours = statistics.median(times[('blockgraphd', mode)])
        theirs = statistics.median(times[('qemu-img', mode)])
        print('%-8s %10.3f s %10.3f s %7.2fx' % (mode, ours, theirs, theirs / ours))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--dir', default='/var/tmp')
    ap.add_argument('--blockgraphd', default=os.path.join(HERE, '..', 'build', 'daemon',
                                                          'blockgraphd'))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix='bg-bench-create-', dir=args.dir) as workdir:
        run(args, workdir)


main()
