#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD data-path benchmark: blockgraphd vs qemu-storage-daemon vs nbdkit.

All three serve the same raw image (one copy each, in tmpfs /dev/shm) over
a unix socket with the file driver: blockgraphd with its default engine
(--aio to name one), qemu-storage-daemon with aio=io_uring (--qsd-aio),
nbdkit with 16 threads (--nbdkit-threads).  fio (ioengine=nbd) runs 4k
random read / write at iodepth 32 and 1M sequential read / write at
iodepth 8 against each, then 4k random reads at iodepth 1 for the p99
completion latency, the servers taking turns per workload, --reps times
(the best run counts; every run is printed with the server's and fio's
CPU time per request: with one connection fio's own CPU often sets the
pace).  Prints one line per workload with the three
results and our ratio to each (for latency: theirs / ours, so above 1 is
better for us too).

  bench/nbd-fio.py [--runtime 10] [--reps 2] [--size-mib 1024]
                   [--blockgraphd PATH] [--only blockgraph,qsd,nbdkit]
                   [--workloads randread-4k-qd32,...] [--perf FILE] [--jobs 1]
                   [--aio io_uring|threads] [--qsd-aio io_uring|threads]
                   [--nbdkit-threads 16] [--dir /dev/shm] [--direct]
                   [--syscalls]

--only ...,null adds a fourth server: blockgraphd exporting a null-co node
(no I/O at all), and two columns: each server's result as a share of it.
With one fio process on a small machine fio's own CPU bounds the 4k rows;
this row shows where, so that a ratio between servers near that bound is
read as the client's limit, not the servers'.

--syscalls runs fio under `perf stat` and attaches one to the server:
context switches and system calls (poll, recvfrom, sendto, epoll_*, futex
...) per request, of fio and of the server, printed under each run.

--dir and --direct (blockgraphd's node with cache.direct=on) compare
engines on a disk file system: `--only blockgraph --dir /var/tmp --aio X`.

Build blockgraphd without sanitizers for meaningful numbers
(meson setup build-rel --buildtype=release).  Timings are never test
assertions; this is a measurement.
"""

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import (LATENCY_WORKLOADS, WORKLOADS, SyscallCounts, cpu_seconds, run_fio,  # noqa: E402
                    run_fio_p99)
from nbdservers import KEPT_MALLOC_HELP, SERVERS  # noqa: E402


def record(results, wl, name, value, lower_is_better=False):
    """Best of the repetitions: the machine's load only ever slows a run down."""
    best = results.setdefault(wl, {})
    pick = min if lower_is_better else max
    best[name] = pick(best.get(name, value), value)


def client_cpu():
    """CPU seconds used so far by our finished children (the fio runs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_fio(args, name, uri, rw, bs, qd):
    """run_fio, and the server's and fio's CPU time per request of that run."""
    counts = SyscallCounts(args.pids[name]) if args.syscalls else None
    with counts or contextlib.nullcontext():
        cpu, fio_cpu = cpu_seconds(args.pids[name]), client_cpu()
        iops, mibs = run_fio(uri, rw, bs, qd, args.runtime, args.size_mib << 20, args.jobs,
                             counts.prefix if counts else ())
        cpu = cpu_seconds(args.pids[name]) - cpu
    reqs = max(iops * args.runtime, 1)
    return iops, mibs, (cpu / reqs * 1e6, (client_cpu() - fio_cpu) / reqs * 1e6), \
        counts.line(reqs) if counts else ''


def report(results):
    """The table; with the null server run, two more columns: each server's
    result as a share of what fio reached against an export that does no I/O."""
    with_null = any('null' in r for r in results.values())
    print('\n%-18s %14s %14s %14s %10s %10s%s' %
          ('workload', 'blockgraph', 'qsd', 'nbdkit', 'vs qsd', 'vs nbdkit',
           '  %14s %9s %9s' % ('null-co', 'bg/null', 'nbdkit/null') if with_null else ''))
    rows = [(w[0], w[4]) for w in WORKLOADS] + [(w[0], 'us') for w in LATENCY_WORKLOADS]
    for wl, unit in rows:
        r = results.get(wl)
        if not r:
            continue

        def ratio(a, b, width=10):
            if not r.get(a) or not r.get(b):
                return '%*s' % (width, '-')
            return '%*.2fx' % (width - 1, r[b] / r[a] if unit == 'us' else r[a] / r[b])

        def cell(k):
            return '%14s' % ('%.1f %s' % (r[k], unit) if k in r else '-')
        extra = ('  %s %s %s' % (cell('null'), ratio('blockgraph', 'null', 9),
                                 ratio('nbdkit', 'null', 11)) if with_null else '')
        print('%-18s %s %s %s %s %s%s' % (wl, cell('blockgraph'), cell('qsd'), cell('nbdkit'),
                                          ratio('blockgraph', 'qsd'),
                                          ratio('blockgraph', 'nbdkit'), extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--only', default='blockgraph,qsd,nbdkit',
                    help='servers, of blockgraph,qsd,nbdkit,null')
    ap.add_argument('--workloads', default='')
    ap.add_argument('--reps', type=int, default=2, help='runs per server and workload (best counts)')
    ap.add_argument('--jobs', type=int, default=1,
                    help='fio processes, one NBD connection each (default 1)')
    ap.add_argument('--perf', default='', help='perf record blockgraphd into this file')
    ap.add_argument('--aio', default='', help="blockgraphd's engine (default: its own choice)")
    ap.add_argument('--qsd-aio', default='io_uring')
    ap.add_argument('--qsd-kept-malloc', action='store_true', help=KEPT_MALLOC_HELP)
    ap.add_argument('--nbdkit-threads', type=int, default=16)
    ap.add_argument('--dir', default='/dev/shm', help='where the images go')
    ap.add_argument('--direct', action='store_true', help='blockgraphd: cache.direct=on')
    ap.add_argument('--syscalls', action='store_true',
                    help="perf stat: fio's and the server's system calls per request")
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'nbdkit'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    args.pids = {}
    workdir = tempfile.mkdtemp(prefix='bg-nbd-bench-', dir=args.dir)
    names = args.only.split(',')
    try:
        # One copy of the same image per server, so that they can all run at
        # once (no lock fights) and the workloads interleave between them:
        # load from elsewhere on the machine then hits all three alike.
        chunk = os.urandom(1 << 20)
        images = {}
        for name in names:
            if name == 'null':
                images[name] = None     # null_server stores nothing
                continue
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
                        iops, mibs, (us, fio_us), calls = timed_fio(args, name, uris[name], rw,
                                                                    bs, qd)
                        value = iops if unit == 'IOPS' else mibs
                        record(results, wl, name, value)
                        print('  %-18s %-10s run %d: %10.1f %s, server CPU %.1f us per request, '
                              'fio %.1f us per request'
                              % (wl, name, rep + 1, value, unit, us, fio_us), flush=True)
                        if calls:
                            print('    ' + calls, flush=True)
            for wl, rw, bs, qd in LATENCY_WORKLOADS:
                if args.workloads and wl not in args.workloads:
                    continue
                for rep in range(args.reps):
                    for name in names:
                        p99 = run_fio_p99(uris[name], rw, bs, qd, args.runtime,
                                          args.size_mib << 20)
                        record(results, wl, name, p99, lower_is_better=True)
                        print('  %-18s %-10s run %d: %10.1f us' % (wl, name, rep + 1, p99),
                              flush=True)
        report(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
