#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory of an idle daemon: VmRSS (and VmHWM) of blockgraphd holding 1,000
nodes (500 raw nodes, each on a file node over a sparse image in /dev/shm)
and 10 exports, once with everything on the main loop and once with the
exports' nodes on 2 iothreads; measured after start and again after one
4 MiB read through every export (the images are sparse: answered with hole
chunks).  Prints figures; asserts nothing."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
from fiolib import wait_for_socket  # noqa: E402

DISKS = 500
EXPORTS = 10


def status_kib(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def write_config(conf, workdir, iothreads):
    lines = ['<blockgraph>']
    if iothreads:
        lines += ['  <iothread id="io1"/>', '  <iothread id="io2"/>']
    for i in range(DISKS):
        img = os.path.join(workdir, 'd%d.img' % i)
        with open(img, 'wb') as f:
            f.truncate(1 << 30)
        io = ' iothread="io%d"' % (1 + i % 2) if iothreads and i < EXPORTS else ''
        lines.append('  <blockdev driver="raw" node-name="d%d"%s><file driver="file" '
                     'node-name="d%d-file" filename="%s"/></blockdev>' % (i, io, i, img))
    for i in range(EXPORTS):
        lines += ['  <export type="nbd" id="e%d" node-name="d%d">' % (i, i),
                  '    <server type="unix" path="%s"/>' % os.path.join(workdir, 'e%d.sock' % i),
                  '  </export>']
    lines.append('</blockgraph>')
    with open(os.path.join(conf, 'rss.xml'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def measure(args, iothreads):
    import bgtest
    workdir = tempfile.mkdtemp(prefix='bg-idle-rss-', dir='/dev/shm')
    try:
        conf = os.path.join(workdir, 'conf')
        os.makedirs(conf)
        write_config(conf, workdir, iothreads)
        with bgtest.Daemon(config_dir=conf) as d:
            for i in range(EXPORTS):
                wait_for_socket(os.path.join(workdir, 'e%d.sock' % i), d.proc, 'blockgraphd')
            time.sleep(1)
            idle = status_kib(d.proc.pid, 'VmRSS')
            for i in range(EXPORTS):
                uri = 'nbd+unix:///d%d?socket=%s' % (i, os.path.join(workdir, 'e%d.sock' % i))
                subprocess.run(['qemu-io', '-r', '-f', 'raw', '-c', 'read 0 4M', uri],
                               capture_output=True, timeout=120)
            after = status_kib(d.proc.pid, 'VmRSS')
            hwm = status_kib(d.proc.pid, 'VmHWM')
            threads = len(os.listdir('/proc/%d/task' % d.proc.pid))
        return idle, after, hwm, threads
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    if not shutil.which('qemu-io'):
        print('SKIP: qemu-io not installed')
        sys.exit(77)
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    print('%-34s %10s %12s %10s %8s' % ('1,000 nodes, 10 exports', 'idle MiB',
                                        'after reads', 'peak MiB', 'threads'))
    for iothreads, what in ((False, 'all on the main loop'), (True, 'exports on 2 iothreads')):
        idle, after, hwm, threads = measure(args, iothreads)
        print('%-34s %10.1f %12.1f %10.1f %8d' % (what, idle / 1024.0, after / 1024.0,
                                                  hwm / 1024.0, threads), flush=True)


if __name__ == '__main__':
    main()
