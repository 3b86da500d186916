#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""qcow2 data-path benchmark: blockgraphd vs qemu-storage-daemon.

Both serve the same qcow2 image (in /dev/shm) over NBD on a unix socket;
fio (ioengine=nbd) runs 4k random read / write at iodepth 32 and 1M
sequential read / write at iodepth 8.  Two image states: "fresh" (empty,
every write allocates; reads see zeroes) and "full" (every cluster
allocated).  Each server gets its own copy of the image, made before it
starts, so both see the same state.  blockgraphd's file node uses its
default engine (--aio names one), qsd's aio=io_uring (--qsd-aio).  Prints
every run with the server's CPU time, then the load average and per
workload the best results, our ratio and our ratio per server CPU second
(requests or MiB per CPU second of all the server's threads, io_uring's
workers included: on a loaded machine a server with more threads gets
more of the CPU; this column shows the cost of a request instead).

  bench/qcow2-fio.py [--runtime 10] [--size-mib 1024] [--blockgraphd PATH]
                     [--states fresh,full] [--workloads randread-4k-qd32,...]
                     [--reps 1] [--jobs 1] [--aio ENGINE] [--qsd-aio io_uring]

Build blockgraphd without sanitizers (meson setup build-rel
--buildtype=release).  A measurement, never a test assertion.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import WORKLOADS, cpu_seconds, run_fio, wait_for_socket  # noqa: E402
from nbdservers import KEPT_MALLOC_HELP, qsd_env  # noqa: E402


def make_image(path, state, size_mib):
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '%dM' % size_mib],
                   check=True)
    if state == 'full':
        subprocess.run(['qemu-io', '-c', 'write -P 0x5a 0 %dM' % size_mib, path],
                       check=True, stdout=subprocess.DEVNULL)


def start_blockgraph(img, sock, workdir, args):
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="qcow2" node-name="disk0">\n'
                '    <file driver="file" filename="%s"%s/>\n'
                '  </blockdev>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (img, ' aio="%s"' % args.aio if args.aio else '', sock))
    return subprocess.Popen([args.blockgraphd, '--address=unix:path=%s/bus' % workdir,
                             '--config-dir=' + conf],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def start_qsd(img, sock, workdir, args):
    return subprocess.Popen(
        ['qemu-storage-daemon',
         '--blockdev', 'driver=file,node-name=f0,filename=%s,aio=%s' % (img, args.qsd_aio),
         '--blockdev', 'driver=qcow2,node-name=disk0,file=f0',
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        stdin=subprocess.DEVNULL, env=qsd_env(args))


def bus_daemon(workdir):
    """blockgraphd wants a bus: a private dbus-daemon on a socket in workdir."""
    return subprocess.Popen(['dbus-daemon', '--session', '--nofork', '--nopidfile',
                             '--address=unix:path=%s/bus' % workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench(state, workdir, args, results):
    """The servers take turns per workload and repetition (the machine's load
    then hits both alike)."""
    for wl, rw, bs, qd, unit in WORKLOADS:
        if args.workloads and wl not in args.workloads:
            continue
        for _ in range(args.reps):
            for name, starter in (('blockgraph', start_blockgraph), ('qsd', start_qsd)):
                bench_one(name, starter, state, workdir, args, results, wl, rw, bs, qd, unit)


def bench_one(name, starter, state, workdir, args, results, wl, rw, bs, qd, unit):
    """One fio run on a new copy of the image; the best of the repetitions counts."""
    img = os.path.join(workdir, '%s-%s.qcow2' % (name, state))
    make_image(img, state, args.size_mib)
    sock = os.path.join(workdir, name + '.sock')
    proc = starter(img, sock, workdir, args)
    try:
        wait_for_socket(sock, proc, name)
        cpu = cpu_seconds([proc.pid])
        iops, mibs = run_fio('nbd+unix:///disk0?socket=' + sock, rw, bs, qd,
                             args.runtime, args.size_mib << 20, args.jobs)
        cpu = cpu_seconds([proc.pid]) - cpu
    finally:
        proc.terminate()
        proc.wait()
        if os.path.exists(sock):
            os.unlink(sock)
        os.unlink(img)
    key = '%s/%s' % (state, wl)
    value = iops if unit == 'IOPS' else mibs
    best = results.setdefault(key, {})
    if value > best.get(name, (0, 0))[0]:
        best[name] = (value, value * args.runtime / max(cpu, 0.01))
    print('  %-10s %-24s %10.1f %s, server CPU %.1f s' % (name, key, value, unit, cpu),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--states', default='fresh,full')
    ap.add_argument('--workloads', default='')
    ap.add_argument('--reps', type=int, default=1, help='runs per server and workload (best counts)')
    ap.add_argument('--jobs', type=int, default=1,
                    help='fio processes, one NBD connection each (default 1)')
    ap.add_argument('--aio', default='', help="blockgraphd's engine (default: its own choice)")
    ap.add_argument('--qsd-aio', default='io_uring')
    ap.add_argument('--qsd-kept-malloc', action='store_true', help=KEPT_MALLOC_HELP)
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'qemu-img', 'dbus-daemon'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-qcow2-bench-', dir='/dev/shm')
    bus = bus_daemon(workdir)
    try:
        wait_for_socket(os.path.join(workdir, 'bus'), bus, 'dbus-daemon')
        results = {}
        for state in args.states.split(','):
            bench(state, workdir, args, results)
        print('\nload average: %.2f %.2f %.2f' % os.getloadavg())
        print('%-28s %16s %16s %8s %14s' % ('workload', 'blockgraph', 'qsd', 'ratio',
                                             'per CPU-s'))
        for key, r in results.items():
            if 'blockgraph' in r and 'qsd' in r:
                bg, q = r['blockgraph'], r['qsd']
                print('%-28s %16.1f %16.1f %7.2fx %13.2fx' % (key, bg[0], q[0], bg[0] / q[0],
                                                              bg[1] / q[1]))
    finally:
        bus.terminate()
        bus.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
