#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD client benchmark: our `nbd` driver against qemu-storage-daemon's.

One qemu-nbd serves one raw image (tmpfs /dev/shm, filled with data) on a
unix socket.  blockgraphd and qemu-storage-daemon each open it with their
`nbd` driver, put a `raw` node on top and export that over their own NBD
server; fio (ioengine=nbd) runs 4k random read / write at iodepth 32 and
1M sequential read / write at iodepth 8 against each export, the two
taking turns per workload, --reps times (best run counts).  Prints one
line per workload with both results and the ratio.

  bench/nbd-client.py [--runtime 10] [--reps 2] [--size-mib 1024]
                      [--blockgraphd PATH] [--workloads randread-4k-qd32,...]

Build blockgraphd without sanitizers for meaningful numbers.  Timings are
never test assertions; this is a measurement.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import WORKLOADS, best_of_workloads, wait_for_socket  # noqa: E402


@contextlib.contextmanager
def process(cmd, sock, what):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, what)
        yield proc
    finally:
        proc.terminate()
        proc.wait()


def qemu_nbd(img, workdir):
    sock = os.path.join(workdir, 'qemu-nbd.sock')
    return sock, process(['qemu-nbd', '-t', '-e', '4', '-f', 'raw', '-x', 'disk0',
                          '--cache=writeback', '-k', sock, img], sock, 'qemu-nbd')


@contextlib.contextmanager
def blockgraph_client(server_sock, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="raw" node-name="disk0">\n'
                '    <file driver="nbd" node-name="remote0" export="disk0">\n'
                '      <server type="unix" path="%s"/>\n'
                '    </file>\n'
                '  </blockdev>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (server_sock, sock))
    with bgtest.Daemon(config_dir=conf) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd')
        yield 'nbd+unix:///disk0?socket=' + sock


@contextlib.contextmanager
def qsd_client(server_sock, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    cmd = ['qemu-storage-daemon',
           '--blockdev', 'driver=nbd,node-name=remote0,server.type=unix,server.path=%s,'
                         'export=disk0' % server_sock,
           '--blockdev', 'driver=raw,node-name=disk0,file=remote0',
           '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
           '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on']
    with process(cmd, sock, 'qemu-storage-daemon'):
        yield 'nbd+unix:///disk0?socket=' + sock


CLIENTS = {'blockgraph': blockgraph_client, 'qsd': qsd_client}


def report(results):
    print('\n%-18s %14s %14s %10s' % ('workload', 'blockgraph', 'qsd', 'ratio'))
    for wl, _, _, _, unit in WORKLOADS:
        r = results.get(wl)
        if not r or len(r) < 2:
            continue
        print('%-18s %14s %14s %9.2fx' % (wl, '%.1f %s' % (r['blockgraph'], unit),
                                          '%.1f %s' % (r['qsd'], unit),
                                          r['blockgraph'] / r['qsd']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--workloads', default='')
    args = ap.parse_args()
    workloads = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'qemu-nbd'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbd-client-bench-', dir='/dev/shm')
    try:
        img = os.path.join(workdir, 'disk.raw')
        chunk = os.urandom(1 << 20)
        with open(img, 'wb') as f:
            for _ in range(args.size_mib):
                f.write(chunk)
        sock, server = qemu_nbd(img, workdir)
        with contextlib.ExitStack() as stack:
            stack.enter_context(server)
            uris = {n: stack.enter_context(c(sock, workdir, args)) for n, c in CLIENTS.items()}
            results = best_of_workloads(uris, workloads, args.reps, args.runtime,
                                        args.size_mib << 20)
        report(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
