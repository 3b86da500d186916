#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""RBD benchmark: an NBD export of an rbd image, blockgraphd vs qemu-storage-daemon.

One test cluster (tests/harness/ceph.py: one monitor, one memstore OSD),
one image per server (so neither waits for the other's exclusive lock),
each written in full first; both servers open their image with the rbd
driver (librbd's cache on, as both do by default) and export it over a unix
socket; fio (ioengine=nbd) runs 4k random read / write at iodepth 32 and 1M
sequential read / write at iodepth 8 (bench/fiolib.py's workloads), each
server first --warmup seconds uncounted, then the servers taking turns per
workload (the order reversed every rep), --reps times (best run counts).
Prints each run with the server's CPU time per request, then one line per
workload with both results, our ratio and the mean CPU per request.

--flush-first writes and flushes through each export before measuring: a
client's first flush is what turns on qsd's librbd write-around (until
then QEMU keeps librbd's rbd_cache_writethrough_until_flush, and each write
waits for the OSD's commit); ours runs write-around from the first write
(docs/rbd.md).  Without it the write figures compare the two defaults for
a client that never flushes; with it, both servers in the same mode.

  bench/rbd-fio.py [--runtime 10] [--reps 2] [--warmup 3] [--size-mib 256]
               [--flush-first] [--blockgraphd PATH] [--workloads randread-4k-qd32,...]

Both servers spend most of their time in librbd and the OSD; the figures
compare the paths around it (NBD server, coroutine or AIO completion).
Timings are never test assertions; this is a measurement.
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
import bgtest  # noqa: E402
import ceph  # noqa: E402
from fiolib import WORKLOADS, best_of_workloads, wait_for_socket  # noqa: E402
from nbdservers import process_server  # noqa: E402


@contextlib.contextmanager
def blockgraph_rbd(cl, image, workdir, args, pids):
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="rbd" node-name="disk0" conf="%s" pool="%s" image="%s"/>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (cl.conf, cl.pool, image, sock))
    with bgtest.Daemon(config_dir=conf) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd', timeout=60)
        pids.append(d.proc.pid)
        yield 'nbd+unix:///disk0?socket=%s' % sock


def qsd_rbd(cl, image, workdir, args, pids):
    sock = os.path.join(workdir, 'qsd.sock')
    return process_server(
        ['qemu-storage-daemon',
         '--blockdev', 'driver=rbd,node-name=disk0,pool=%s,image=%s,conf=%s'
         % (cl.pool, image, cl.conf),
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        sock, 'qemu-storage-daemon', 'nbd+unix:///disk0?socket=%s' % sock, pids)


SERVERS = {'blockgraph': blockgraph_rbd, 'qsd': qsd_rbd}


def fill(cl, image, size_mib):
    chunk = os.urandom(4 << 20)
    with cl.image(image) as img:
        for off in range(0, size_mib << 20, len(chunk)):
            img.write(chunk, off)


def flush_first(uri):
    """A write and a flush through the export (qemu-io flushes at exit)."""
    subprocess.run(['qemu-io', '-f', 'raw', uri, '-c', 'write -P 0xab 0 4k', '-c', 'flush'],
                   check=True, stdout=subprocess.DEVNULL)


def report(results):
    print('\n%-18s %16s %16s %10s %20s' % ('workload', 'blockgraph', 'qsd', 'vs qsd',
                                          'CPU us/req ours/qsd'))
    for wl, _, _, _, unit in WORKLOADS:
        r = results.get(wl)
        if not r:
            continue
        ratio = ('%9.2fx' % (r['blockgraph'] / r['qsd'])
                 if r.get('blockgraph') and r.get('qsd') else '%10s' % '-')
        cells = ['%16s' % ('%.1f %s' % (r[k], unit) if k in r else '-')
                 for k in ('blockgraph', 'qsd')]
        cpu = ('%9.1f / %-9.1f' % (r['blockgraph cpu'], r['qsd cpu'])
               if 'blockgraph cpu' in r and 'qsd cpu' in r else '')
        print('%-18s %s %s %s' % (wl, ' '.join(cells), ratio, cpu))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--workloads', default='')
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--flush-first', action='store_true')
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    wanted = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'qemu-io'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-rbd-bench-')
    try:
        # memstore holds both images and the OSD's own overhead; in pages,
        # so that the filled images are overwritten in place (ceph.py).
        with ceph.Cluster(memstore_mb=2 * args.size_mib + 256, page_set=True) as cl:
            for name in SERVERS:
                cl.create_image(name, args.size_mib << 20)
                fill(cl, name, args.size_mib)
            with contextlib.ExitStack() as stack:
                pids = {n: [] for n in SERVERS}
                uris = {n: stack.enter_context(SERVERS[n](cl, n, workdir, args, pids[n]))
                        for n in SERVERS}
                for uri in uris.values() if args.flush_first else []:
                    flush_first(uri)
                results = best_of_workloads(uris, wanted, args.reps, args.runtime,
                                            args.size_mib << 20, warmup=args.warmup,
                                            alternate=True, pids=pids)
        report(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
