#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""AddNode+RemoveNode (null-co) over D-Bus against qemu-storage-daemon's
blockdev-add+blockdev-del over QMP, one run, same C client for both sides
(bench/addnode-client.c), plus GetManagedObjects with many nodes.

    ninja -C build && bench/addnode.py [--build build] [--pairs 20000]

Prints pairs/s for both and the ratio.  Not a test: figures vary by machine.
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


def parse(out):
    return dict(kv.split('=', 1) for kv in out.split())


def run_client(client, *args):
    p = subprocess.run([client] + [str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('addnode-client %s failed: %s' % (' '.join(map(str, args)), p.stderr))
    return parse(p.stdout)


class Qsd:
    def __init__(self, tmp):
        self.sock = os.path.join(tmp, 'qmp.sock')
        self.proc = subprocess.Popen(
            ['qemu-storage-daemon', '--chardev',
             'socket,path=%s,server=on,wait=off,id=m' % self.sock, '--monitor', 'chardev=m'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > end or self.proc.poll() is not None:
                sys.exit('qemu-storage-daemon did not start')
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(HERE, '..', 'build'))
    ap.add_argument('--pairs', type=int, default=20000)
    ap.add_argument('--list-nodes', type=int, default=10000)
    args = ap.parse_args()
    os.environ.setdefault('BLOCKGRAPHD', os.path.join(args.build, 'daemon', 'blockgraphd'))
    import bgtest

    client = os.path.join(args.build, 'bench', 'addnode-client')
    if not os.access(client, os.X_OK):
        sys.exit('%s not built (ninja -C %s)' % (client, args.build))
    have_qsd = shutil.which('qemu-storage-daemon') is not None

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for chains in (1, 16):
            with bgtest.Daemon() as d:
                results[('blockgraphd', chains)] = run_client(
                    client, 'dbus', d.address, args.pairs, chains)
            if have_qsd:
                qsd = Qsd(tmp)
                try:
                    results[('qemu-storage-daemon', chains)] = run_client(
                        client, 'qmp', qsd.sock, args.pairs, chains)
                finally:
                    qsd.stop()
                os.unlink(qsd.sock) if os.path.exists(qsd.sock) else None

        with bgtest.Daemon() as d:
            listing = run_client(client, 'list', d.address, args.list_nodes)
            t0 = time.monotonic()
            objects = d.managed_objects()
            py_list = time.monotonic() - t0
            nodes = sum(1 for p in objects if '/node/' in p)
            if nodes != args.list_nodes:
                sys.exit('expected %d nodes, found %d' % (args.list_nodes, nodes))

    print('AddNode+RemoveNode pairs (null-co), %d pairs per run, C client for both' % args.pairs)
    print('%-22s %8s %12s' % ('server', 'in flight', 'pairs/s'))
    for (server, chains), r in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print('%-22s %8d %12s' % (server, chains, r['pairs_per_s']))
    for chains in (1, 16):
        a = results.get(('blockgraphd', chains))
        b = results.get(('qemu-storage-daemon', chains))
        if a and b:
            print('ratio blockgraphd / qemu-storage-daemon (%d in flight): %.2f'
                  % (chains, float(a['pairs_per_s']) / float(b['pairs_per_s'])))
    print('GetManagedObjects with %s nodes: %.3f s (C client), %.3f s (python3-dbus, parsed)'
          % (listing['nodes'], float(listing['list_seconds']), py_list))
    print('adding %s nodes pipelined: %.3f s' % (listing['nodes'], float(listing['add_seconds'])))


if __name__ == '__main__':
    main()
