#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""nbdcopy benchmark: blockgraphd vs qemu-storage-daemon vs nbdkit.

Each server exports its own copy of one raw image in /dev/shm (random data,
fully allocated) on a unix socket.  nbdcopy (its defaults: several
connections when the server allows multi-conn, 256 KiB requests, block
status to skip holes) copies the export to `null:` (read) and a file of
random data into the export (write).  The first read runs right after the
server started, so it includes what a cold start costs; so does the first
write (the first since the start: e.g. mapping the image's pages).  Prints the best
time of --reps per direction and server, and our ratio (their time / ours).

  bench/nbd-copy.py [--size-mib 1024] [--reps 3] [--blockgraphd PATH]
                    [--only blockgraph,qsd,nbdkit]

A measurement, never a test assertion.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nbdservers import SERVERS  # noqa: E402


def timed_copy(src, dst):
    t0 = time.monotonic()
    subprocess.run(['nbdcopy', src, dst], check=True)
    return time.monotonic() - t0


def write_random(path, size_mib):
    chunk = os.urandom(1 << 20)
    with open(path, 'wb') as f:
        for _ in range(size_mib):
            f.write(chunk)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--only', default='blockgraph,qsd,nbdkit')
    args = ap.parse_args()
    args.perf = ''
    for tool in ('nbdcopy', 'qemu-storage-daemon', 'nbdkit'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbdcopy-bench-', dir='/dev/shm')
    names = args.only.split(',')
    results = {}
    try:
        source = os.path.join(workdir, 'source.raw')
        write_random(source, args.size_mib)
        for name in names:
            img = os.path.join(workdir, '%s.raw' % name)
            shutil.copyfile(source, img)
            with contextlib.ExitStack() as stack:
                uri = stack.enter_context(SERVERS[name](img, workdir, args))
                times = {'first read': timed_copy(uri, 'null:')}
                times['read'] = min(timed_copy(uri, 'null:') for _ in range(args.reps))
                times['first write'] = timed_copy(source, uri)
                times['write'] = min(timed_copy(source, uri) for _ in range(args.reps))
            os.unlink(img)
            results[name] = times
            print('  %-10s ' % name + '  '.join('%s %.3f s' % kv for kv in times.items()),
                  flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print('\n%-12s %12s %12s %12s %10s %10s' %
          ('copy', 'blockgraph', 'qsd', 'nbdkit', 'vs qsd', 'vs nbdkit'))
    for what in ('first read', 'read', 'first write', 'write'):
        row = {n: results[n][what] for n in results}
        bg = row.get('blockgraph')

        def ratio(other):
            return '%9.2fx' % (row[other] / bg) if bg and other in row else '%10s' % '-'

        def cell(n):
            return '%12s' % ('%.3f s' % row[n] if n in row else '-')
        print('%-12s %s %s %s %s %s' % (what, cell('blockgraph'), cell('qsd'), cell('nbdkit'),
                                        ratio('qsd'), ratio('nbdkit')))


if __name__ == '__main__':
    main()
