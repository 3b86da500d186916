#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD data-path benchmark: blockgraphd vs qemu-storage-daemon vs nbdkit.

All three serve the same raw image in tmpfs (/dev/shm) over a unix socket;
fio (ioengine=nbd) runs 4k random read / write at iodepth 32 and 1M
sequential read / write at iodepth 8 against each, one server at a time
(they would fight over the image's locks otherwise).  Prints one line per
workload with the three results and our ratio to each.

  bench/nbd-fio.py [--runtime 10] [--size-mib 1024] [--blockgraphd PATH]
                   [--only blockgraph,qsd,nbdkit] [--workloads randread-4k,...]

Build blockgraphd without sanitizers for meaningful numbers
(meson setup build-rel --buildtype=release).  Timings are never test
assertions; this is a measurement.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))

WORKLOADS = [
    # name, rw, bs, iodepth, unit
    ('randread-4k-qd32', 'randread', '4k', 32, 'IOPS'),
    ('randwrite-4k-qd32', 'randwrite', '4k', 32, 'IOPS'),
    ('read-1m-qd8', 'read', '1M', 8, 'MiB/s'),
    ('write-1m-qd8', 'write', '1M', 8, 'MiB/s'),
]


def wait_for_socket(path, proc, what, timeout=15):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            sys.exit('%s exited early with %d' % (what, proc.returncode))
        if time.monotonic() > end:
            sys.exit('%s did not create %s' % (what, path))
        time.sleep(0.05)


def run_fio(uri, rw, bs, iodepth, runtime, size):
    cmd = ['fio', '--name=bench', '--ioengine=nbd', '--uri=' + uri, '--rw=' + rw,
           '--bs=' + bs, '--iodepth=%d' % iodepth, '--runtime=%d' % runtime,
           '--time_based', '--size=%d' % size, '--numjobs=1', '--group_reporting',
           '--output-format=json']
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('fio failed on %s:\n%s%s' % (uri, p.stdout, p.stderr))
    job = json.loads(p.stdout[p.stdout.index('{'):])['jobs'][0]
    side = job['read'] if 'read' in rw else job['write']
    if job['error']:
        sys.exit('fio job error %d on %s' % (job['error'], uri))
    return side['iops'], side['bw'] / 1024.0      # IOPS, MiB/s


def bench_server(name, uri, args, results):
    for wl, rw, bs, qd, unit in WORKLOADS:
        if args.workloads and wl not in args.workloads:
            continue
        iops, mibs = run_fio(uri, rw, bs, qd, args.runtime, args.size_mib << 20)
        results.setdefault(wl, {})[name] = iops if unit == 'IOPS' else mibs
        print('  %-8s %-18s %10.1f %s' % (name, wl, results[wl][name], unit), flush=True)


def run_blockgraph(img, workdir, args, results):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="file" node-name="disk0" filename="%s" aio="threads"/>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (img, sock))
    with bgtest.Daemon(config_dir=conf) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd')
        if args.perf:
            perf = subprocess.Popen(['perf', 'record', '-g', '-o', args.perf,
                                     '-p', str(d.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench_server('blockgraph', 'nbd+unix:///disk0?socket=' + sock, args, results)
        if args.perf:
            perf.send_signal(2)
            perf.wait()


def run_qsd(img, workdir, args, results):
    sock = os.path.join(workdir, 'qsd.sock')
    proc = subprocess.Popen(
        ['qemu-storage-daemon',
         '--blockdev', 'driver=file,node-name=disk0,filename=%s,aio=threads' % img,
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, 'qemu-storage-daemon')
        bench_server('qsd', 'nbd+unix:///disk0?socket=' + sock, args, results)
    finally:
        proc.terminate()
        proc.wait()


def run_nbdkit(img, workdir, args, results):
    sock = os.path.join(workdir, 'nbdkit.sock')
    proc = subprocess.Popen(['nbdkit', '--foreground', '--unix', sock, 'file', 'file=' + img],
                            stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, 'nbdkit')
        bench_server('nbdkit', 'nbd+unix:///?socket=' + sock, args, results)
    finally:
        proc.terminate()
        proc.wait()


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
    ap.add_argument('--perf', default='', help='perf record blockgraphd into this file')
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'nbdkit'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbd-bench-', dir='/dev/shm')
    try:
        img = os.path.join(workdir, 'disk.raw')
        with open(img, 'wb') as f:        # allocated, not sparse
            chunk = os.urandom(1 << 20)
            for _ in range(args.size_mib):
                f.write(chunk)
        results = {}
        runners = {'blockgraph': run_blockgraph, 'qsd': run_qsd, 'nbdkit': run_nbdkit}
        for name in args.only.split(','):
            print('%s:' % name, flush=True)
            runners[name](img, workdir, args, results)
        report(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
