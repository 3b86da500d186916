#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD data-path benchmark: blockgraphd vs qemu-storage-daemon vs nbdkit.

All three serve the same raw image (one copy each, in tmpfs /dev/shm) over
a unix socket, with the file driver and aio=threads where there is a
choice; fio (ioengine=nbd) runs 4k random read / write at iodepth 32 and 1M
sequential read / write at iodepth 8 against each, the servers taking turns
per workload, --reps times (best run counts).  Prints one line per
workload with the three results and our ratio to each.

  bench/nbd-fio.py [--runtime 10] [--reps 2] [--size-mib 1024]
                   [--blockgraphd PATH] [--only blockgraph,qsd,nbdkit]
                   [--workloads randread-4k-qd32,...] [--perf FILE] [--jobs 1]

Build blockgraphd without sanitizers for meaningful numbers
(meson setup build-rel --buildtype=release).  Timings are never test
assertions; this is a measurement.
"""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import WORKLOADS, run_fio  # noqa: E402
from nbdservers import SERVERS  # noqa: E402


def record(results, wl, name, value):
    """Best of the repetitions: the machine's load only ever slows a run down."""
    best = results.setdefault(wl, {})
    best[name] = max(best.get(name, 0.0), value)


def report(results):
    print('\n%-18s %14s %14s %14s %10s %10s' %
          ('workload', 'blockgraph', 'qsd', 'nbdkit', 'vs qsd', 'vs nbdkit'))
    for wl, _, _, _, unit in WORKLOADS:
        r = results.get(wl)
        if not r:
            continue
        bg = r.get('blockgraph')

        def ratio(other):
            return '%9.2fx' % (bg / r[other]) if bg and r.get(other) else '%10s' % '-'

        def cell(k):
            return '%14s' % ('%.1f %s' % (r[k], unit) if k in r else '-')
        print('%-18s %s %s %s %s %s' % (wl, cell('blockgraph'), cell('qsd'), cell('nbdkit'),
                                        ratio('qsd'), ratio('nbdkit')))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--only', default='blockgraph,qsd,nbdkit')
    ap.add_argument('--workloads', default='')
    ap.add_argument('--reps', type=int, default=2, help='runs per server and workload (best counts)')
    ap.add_argument('--jobs', type=int, default=1,
                    help='fio processes, one NBD connection each (default 1)')
    ap.add_argument('--perf', default='', help='perf record blockgraphd into this file')
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'nbdkit'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbd-bench-', dir='/dev/shm')
    names = args.only.split(',')
    try:
        # One copy of the same image per server, so that they can all run at
        # once (no lock fights) and the workloads interleave between them:
        # load from elsewhere on the machine then hits all three alike.
        chunk = os.urandom(1 << 20)
        images = {}
        for name in names:
            images[name] = os.path.join(workdir, '%s.raw' % name)
            with open(images[name], 'wb') as f:
                for _ in range(args.size_mib):
                    f.write(chunk)
        results = {}
        with contextlib.ExitStack() as stack:
            uris = {n: stack.enter_context(SERVERS[n](images[n], workdir, args)) for n in names}
            for wl, rw, bs, qd, unit in WORKLOADS:
                if args.workloads and wl not in args.workloads:
                    continue
                for rep in range(args.reps):
                    for name in names:
                        iops, mibs = run_fio(uris[name], rw, bs, qd, args.runtime,
                                             args.size_mib << 20, args.jobs)
                        value = iops if unit == 'IOPS' else mibs
                        record(results, wl, name, value)
                        print('  %-18s %-10s run %d: %10.1f %s'
                              % (wl, name, rep + 1, value, unit), flush=True)
        report(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
