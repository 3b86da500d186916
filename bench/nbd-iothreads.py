#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD with iothreads: 4 raw exports served at once, one fio connection
each, blockgraphd (the exports' nodes on 2 iothreads) vs qemu-storage-daemon
(2 iothreads, each export on one) vs nbdkit (file plugin, dir=, 16 threads).

Images are in tmpfs (/dev/shm), one set per server; the servers take turns
per workload, --reps times (best run counts); fio's 4 jobs are summed.
Prints one line per workload with the three results and our ratios;
asserts nothing (a measurement; build without sanitizers).

  bench/nbd-iothreads.py [--runtime 10] [--reps 2] [--size-mib 256]
                         [--blockgraphd PATH] [--workloads randread-4k-qd32,...]
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import WORKLOADS, wait_for_socket  # noqa: E402
from nbdservers import process_server  # noqa: E402

N = 4


@contextlib.contextmanager
def blockgraph(images, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    conf = os.path.join(workdir, 'bg-conf')
    os.makedirs(conf, exist_ok=True)
    lines = ['<blockgraph>', '  <iothread id="io1"/>', '  <iothread id="io2"/>']
    socks = []
    for i, img in enumerate(images):
        sock = os.path.join(workdir, 'bg%d.sock' % i)
        socks.append(sock)
        io = 'io%d' % (1 + i % 2)
        lines += ['  <blockdev driver="file" node-name="disk%d" filename="%s" aio="threads" '
                  'iothread="%s"/>' % (i, img, io),
                  '  <export type="nbd" id="e%d" node-name="disk%d" writable="on" '
                  'iothread="%s">' % (i, i, io),
                  '    <server type="unix" path="%s"/>' % sock, '  </export>']
    lines.append('</blockgraph>')
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with bgtest.Daemon(config_dir=conf) as d:
        for sock in socks:
            wait_for_socket(sock, d.proc, 'blockgraphd')
        yield ['nbd+unix:///disk%d?socket=%s' % (i, s) for i, s in enumerate(socks)]


def qsd(images, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    cmd = ['qemu-storage-daemon', '--object', 'iothread,id=io1', '--object', 'iothread,id=io2']
    for i, img in enumerate(images):
        cmd += ['--blockdev', 'driver=file,node-name=disk%d,filename=%s,aio=threads' % (i, img)]
    cmd += ['--nbd-server', 'addr.type=unix,addr.path=%s' % sock]
    for i in range(len(images)):
        cmd += ['--export', 'type=nbd,id=e%d,node-name=disk%d,name=disk%d,writable=on,'
                'iothread=io%d' % (i, i, i, 1 + i % 2)]
    uris = ['nbd+unix:///disk%d?socket=%s' % (i, sock) for i in range(len(images))]
    return process_server(cmd, sock, 'qemu-storage-daemon', uris)


def nbdkit(images, workdir, args):
    sock = os.path.join(workdir, 'nbdkit.sock')
    folder = os.path.dirname(images[0])
    uris = ['nbd+unix:///%s?socket=%s' % (os.path.basename(img), sock) for img in images]
    return process_server(['nbdkit', '--foreground', '--threads', '16', '--unix', sock,
                           'file', 'dir=' + folder], sock, 'nbdkit', uris)


SERVERS = {'blockgraph': blockgraph, 'qsd': qsd, 'nbdkit': nbdkit}


def run_fio(uris, rw, bs, qd, runtime, size):
    cmd = ['fio', '--ioengine=nbd', '--rw=' + rw, '--bs=' + bs, '--iodepth=%d' % qd,
           '--runtime=%d' % runtime, '--time_based', '--size=%d' % size,
           '--group_reporting', '--output-format=json']
    for i, uri in enumerate(uris):
        cmd += ['--name=job%d' % i, '--uri=' + uri]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('fio failed:\n%s%s' % (p.stdout, p.stderr))
    job = json.loads(p.stdout[p.stdout.index('{'):])['jobs'][0]
    side = job['read'] if 'read' in rw else job['write']
    return side['iops'], side['bw'] / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--workloads', default='')
    args = ap.parse_args()
    wanted = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'nbdkit'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbd-iothreads-', dir='/dev/shm')
    try:
        chunk = os.urandom(1 << 20)
        images = {}
        for name in SERVERS:
            os.makedirs(os.path.join(workdir, name))
            images[name] = [os.path.join(workdir, name, 'disk%d' % i) for i in range(N)]
            for img in images[name]:
                with open(img, 'wb') as f:
                    for _ in range(args.size_mib):
                        f.write(chunk)
        best = {}
        with contextlib.ExitStack() as stack:
            uris = {n: stack.enter_context(SERVERS[n](images[n], workdir, args))
                    for n in SERVERS}
            for wl, rw, bs, qd, unit in WORKLOADS:
                if wanted and wl not in wanted:
                    continue
                for rep in range(args.reps):
                    for name in SERVERS:
                        iops, mibs = run_fio(uris[name], rw, bs, qd, args.runtime,
                                             args.size_mib << 20)
                        value = iops if unit == 'IOPS' else mibs
                        row = best.setdefault(wl, {})
                        row[name] = max(row.get(name, 0), value)
                        print('  %-18s %-10s run %d: %10.1f %s' % (wl, name, rep + 1, value,
                                                                   unit), flush=True)
        print('\n4 exports, 4 connections; %-18s %12s %12s %12s %8s %8s'
              % ('workload', 'blockgraph', 'qsd', 'nbdkit', 'vs qsd', 'vs nbdkit'))
        for wl, _, _, _, unit in WORKLOADS:
            r = best.get(wl)
            if r:
                print('%-44s %12.1f %12.1f %12.1f %7.2fx %7.2fx'
                      % (wl + ' (' + unit + ')', r['blockgraph'], r['qsd'], r['nbdkit'],
                         r['blockgraph'] / r['qsd'], r['blockgraph'] / r['nbdkit']))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
