#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Opening long qcow2 backing chains: blockgraphd vs qemu-storage-daemon.

Builds chains of N qcow2 overlays in /dev/shm (qemu-img create -b), then
times adding the top image with its whole chain: Manager.AddNode over
D-Bus for blockgraphd, blockdev-add over QMP for qemu-storage-daemon (the
daemons are already running; only the add is timed).  It reads
nothing: the add itself opens every layer of the chain.

  bench/qcow2-chain.py [--depths 100,250,500,1000] [--blockgraphd PATH]

A measurement, never a test assertion.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from qmp import Qmp  # noqa: E402


def make_chain(workdir, depth):
    prev = None
    for i in range(depth):
        path = os.path.join(workdir, 'l%04d.qcow2' % i)
        cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
        if prev:    # -u: do not open the chain below (that makes creation quadratic)
            cmd += ['-u', '-b', os.path.basename(prev), '-F', 'qcow2']
        subprocess.run(cmd + [path, '64M'], check=True)
        prev = path
    return prev


def time_blockgraph(top, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    xml = ('<blockdev driver="qcow2" node-name="top">'
           '<file driver="file" filename="%s"/></blockdev>' % top)
    with bgtest.Daemon() as d:
        t0 = time.monotonic()
        d.manager.AddNode(xml, timeout=600)
        elapsed = time.monotonic() - t0
        d.manager.RemoveNode('top', timeout=600)
    return elapsed


def time_qsd(top, workdir):
    sock = os.path.join(workdir, 'qmp.sock')
    proc = subprocess.Popen(['qemu-storage-daemon', '--chardev',
                             'socket,id=m,path=%s,server=on,wait=off' % sock,
                             '--monitor', 'chardev=m'], stdin=subprocess.DEVNULL)
    try:
        while not os.path.exists(sock):
            time.sleep(0.02)
        qmp = Qmp(sock)
        t0 = time.monotonic()
        qmp.cmd('blockdev-add', driver='qcow2', **{'node-name': 'top'},
                file={'driver': 'file', 'filename': top})
        return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait()
        if os.path.exists(sock):
            os.unlink(sock)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--depths', default='100,250,500,1000')
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    for tool in ('qemu-img', 'qemu-storage-daemon', 'dbus-daemon'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    print('%8s %14s %14s %8s' % ('depth', 'blockgraph s', 'qsd s', 'ratio'), flush=True)
    for depth in [int(d) for d in args.depths.split(',')]:
        workdir = tempfile.mkdtemp(prefix='bg-chain-', dir='/dev/shm')
        try:
            top = make_chain(workdir, depth)
            bg = time_blockgraph(top, args)
            qsd = time_qsd(top, workdir)
            print('%8d %14.3f %14.3f %7.2fx' % (depth, bg, qsd, qsd / bg), flush=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
