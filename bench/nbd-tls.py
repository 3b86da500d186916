#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD over TLS benchmark: blockgraphd vs qemu-storage-daemon vs nbdkit,
each requiring TLS with the same x509 files and checking the client's
certificate (blockgraphd <tls dir=…/>, qsd --object tls-creds-x509 with
--nbd-server tls-creds=, nbdkit --tls=require --tls-verify-peer).

Each server exports its own copy of one raw image of random data in
/dev/shm on a unix socket.  fio's nbd engine cannot do TLS, so nbdcopy is
the client (libnbd, tls-certificates=): the export to `null:` (read) and a
file into the export (write), with one connection and with nbdcopy's
default (four when the server offers multi-conn: blockgraphd and nbdkit do,
qsd does not on a writable export), and reads in 4 KiB requests (16 in
flight, one connection) where the cost per request shows.  blockgraphd
without TLS runs too (`blockgraph-plain`) for what TLS costs.  Prints the
best time of --reps per row and server, and our ratio (their time / ours).

  bench/nbd-tls.py [--size-mib 512] [--reps 3] [--blockgraphd PATH]
                   [--only blockgraph,qsd,nbdkit,blockgraph-plain]

A measurement, never a test assertion.  Build blockgraphd without
sanitizers first (meson setup build-rel --buildtype=release).
"""

import argparse
import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'interop'))
from nbdservers import SERVERS  # noqa: E402
import tlscerts  # noqa: E402

# row name -> (direction, nbdcopy options); the 4k row reads a SMALL_MIB export
ROWS = {
    'read 1 conn': ('read', ['-C', '1']),
    'write 1 conn': ('write', ['-C', '1']),
    'read default': ('read', []),
    'write default': ('write', []),
    'read 4k qd16': ('read', ['-C', '1', '--request-size=4096', '--requests=16']),
}
SMALL_ROW = 'read 4k qd16'
SMALL_MIB = 64


def timed_copy(src, dst, opts):
    t0 = time.monotonic()
    subprocess.run(['nbdcopy'] + opts + [src, dst], check=True)
    return time.monotonic() - t0


def write_random(path, size_mib):
    chunk = os.urandom(1 << 20)
    with open(path, 'wb') as f:
        for _ in range(size_mib):
            f.write(chunk)


def run_row(uri, source, row, reps):
    direction, opts = ROWS[row]
    if direction == 'write':
        return min(timed_copy(source, uri, opts) for _ in range(reps))
    return min(timed_copy(uri, 'null:', opts) for _ in range(reps))


def run_server(name, img, workdir, source, args, rows):
    sargs = copy.copy(args)
    if name == 'blockgraph-plain':
        sargs.tls_dir = None
    with contextlib.ExitStack() as stack:
        uri = stack.enter_context(SERVERS[name.replace('-plain', '')](img, workdir, sargs))
        return {row: run_row(uri, source, row, args.reps) for row in rows}


def report(results, size_mib):
    names = ('blockgraph', 'qsd', 'nbdkit', 'blockgraph-plain')
    print('\nseconds per copy (%d MiB; 4k row: %d MiB), best of the reps' %
          (size_mib, SMALL_MIB))
    labels = {'blockgraph-plain': 'bg no TLS'}
    print('%-14s' % 'row' + ''.join('%12s' % labels.get(n, n) for n in names) +
          '%10s %10s %10s' % ('vs qsd', 'vs nbdkit', 'TLS cost'))
    for row in ROWS:
        t = {n: results[n][row] for n in results}
        bg = t.get('blockgraph')

        def ratio(other):
            return '%9.2fx' % (t[other] / bg) if bg and other in t else '%10s' % '-'
        cells = ''.join('%12s' % ('%.3f' % t[n] if n in t else '-') for n in names)
        cost = ('%9.2fx' % (bg / t['blockgraph-plain'])
                if bg and 'blockgraph-plain' in t else '%10s' % '-')
        print('%-14s%s %s %s %s' % (row, cells, ratio('qsd'), ratio('nbdkit'), cost))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size-mib', type=int, default=512)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--only', default='blockgraph,qsd,nbdkit,blockgraph-plain')
    args = ap.parse_args()
    args.perf = ''
    for tool in ('nbdcopy', 'qemu-storage-daemon', 'nbdkit', 'openssl'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-nbd-tls-bench-', dir='/dev/shm')
    results = {}
    try:
        args.tls_dir = tlscerts.make_dir(os.path.join(workdir, 'pki'))
        source = os.path.join(workdir, 'source.raw')
        write_random(source, args.size_mib)
        small = os.path.join(workdir, 'small.raw')
        with open(source, 'rb') as f, open(small, 'wb') as g:
            g.write(f.read(SMALL_MIB << 20))
        for name in args.only.split(','):
            img = os.path.join(workdir, '%s.raw' % name)
            shutil.copyfile(source, img)
            big_rows = [r for r in ROWS if r != SMALL_ROW]
            times = run_server(name, img, workdir, source, args, big_rows)
            shutil.copyfile(small, img)     # the 4k row reads a smaller export
            times.update(run_server(name, img, workdir, source, args, [SMALL_ROW]))
            os.unlink(img)
            results[name] = times
            print('  %-16s ' % name + '  '.join('%s %.3f s' % kv for kv in times.items()),
                  flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(results, args.size_mib)


if __name__ == '__main__':
    main()
