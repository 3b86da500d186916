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
               [--server NAME=KIND[:option=value,...]]... [--osd-default-malloc]

--server (repeatable) replaces the two default servers (blockgraph=blockgraph
and qsd=qsd) with named variants, each with its own image and its own copy
of the cluster's conf file, to which the options after ':' are added in a
[client] section (librbd settings: `--server bg8=blockgraph:rbd_cache_max_dirty=8388608`);
the variants take turns as the two servers do, so settings are compared A/B
interleaved.  An option env.VAR=value sets an environment variable of the
server instead (`env.GLIBC_TUNABLES=glibc.malloc.trim_threshold=...`).
Settings the driver passes to librbd itself (rbd_cache,
rbd_cache_writethrough_until_flush) win over the file's.  The ratio column
compares the first variant with the last.

The OSD keeps the memory its malloc frees (ceph.Cluster(keep_memory=True),
docs/rbd.md: otherwise the bytes a server keeps in flight decide the OSD's
page faults per write); --osd-default-malloc runs it with glibc's defaults.

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
def blockgraph_rbd(cl, image, conf_file, env, workdir, args, pids):
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, image + '.sock')
    conf = os.path.join(workdir, image + '-conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="rbd" node-name="disk0" conf="%s" pool="%s" image="%s"/>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (conf_file, cl.pool, image, sock))
    with bgtest.Daemon(config_dir=conf, prefix=env_prefix(env)) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd', timeout=60)
        pids.append(d.proc.pid)
        yield 'nbd+unix:///disk0?socket=%s' % sock


def qsd_rbd(cl, image, conf_file, env, workdir, args, pids):
    sock = os.path.join(workdir, image + '.sock')
    return process_server(
        env_prefix(env) + ['qemu-storage-daemon',
         '--blockdev', 'driver=rbd,node-name=disk0,pool=%s,image=%s,conf=%s'
         % (cl.pool, image, conf_file),
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        sock, 'qemu-storage-daemon', 'nbd+unix:///disk0?socket=%s' % sock, pids)


SERVERS = {'blockgraph': blockgraph_rbd, 'qsd': qsd_rbd}


def env_prefix(env):
    """The server runs under env(1) with these variables (it execs: same pid)."""
    return ['env'] + ['%s=%s' % kv for kv in env.items()] if env else []


def parse_servers(specs):
    """{name: (kind, {option: value})} from NAME=KIND[:opt=val,...] (in order)."""
    servers = {}
    for spec in specs or ['blockgraph=blockgraph', 'qsd=qsd']:
        name, _, rest = spec.partition('=')
        kind, _, opts = rest.partition(':')
        if kind not in SERVERS or not name:
            sys.exit('--server %s: NAME=KIND with KIND one of %s' % (spec, ', '.join(SERVERS)))
        servers[name] = (kind, dict(o.split('=', 1) for o in opts.split(',') if o))
    return servers


def variant_conf(cl, name, options, workdir):
    """The cluster's conf file, with options added for the clients."""
    if not options:
        return cl.conf
    path = os.path.join(workdir, name + '.conf')
    with open(cl.conf) as f, open(path, 'w') as out:
        out.write(f.read() + '\n[client]\n' +
                  ''.join('%s = %s\n' % kv for kv in options.items()))
    return path


def fill(cl, image, size_mib):
    chunk = os.urandom(4 << 20)
    with cl.image(image) as img:
        for off in range(0, size_mib << 20, len(chunk)):
            img.write(chunk, off)


def flush_first(uri):
    """A write and a flush through the export (qemu-io flushes at exit)."""
    subprocess.run(['qemu-io', '-f', 'raw', uri, '-c', 'write -P 0xab 0 4k', '-c', 'flush'],
                   check=True, stdout=subprocess.DEVNULL)


def report(results, names):
    first, last = names[0], names[-1]
    print('\n%-18s %s %10s %s' % ('workload', ' '.join('%16s' % n for n in names),
                                   '%s/%s' % (first, last)[-10:],
                                   'CPU us/req ' + '/'.join(names)))
    for wl, _, _, _, unit in WORKLOADS:
        r = results.get(wl)
        if not r:
            continue
        ratio = ('%9.2fx' % (r[first] / r[last])
                 if r.get(first) and r.get(last) else '%10s' % '-')
        cells = ['%16s' % ('%.1f %s' % (r[k], unit) if k in r else '-') for k in names]
        cpu = ' / '.join('%.1f' % r[n + ' cpu'] for n in names if n + ' cpu' in r)
        print('%-18s %s %s  %s' % (wl, ' '.join(cells), ratio, cpu))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--workloads', default='')
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--flush-first', action='store_true')
    ap.add_argument('--server', action='append')
    ap.add_argument('--osd-default-malloc', action='store_true')
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    servers = parse_servers(args.server)
    wanted = [w for w in args.workloads.split(',') if w]
    for tool in ('fio', 'qemu-storage-daemon', 'qemu-io'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    workdir = tempfile.mkdtemp(prefix='bg-rbd-bench-')
    try:
        # memstore holds both images and the OSD's own overhead; in pages,
        # so that the filled images are overwritten in place (ceph.py).
        mib = len(servers) * args.size_mib + 256
        with ceph.Cluster(memstore_mb=mib, page_set=True,
                          keep_memory=not args.osd_default_malloc) as cl:
            for name in servers:
                cl.create_image(name, args.size_mib << 20)
                fill(cl, name, args.size_mib)
            with contextlib.ExitStack() as stack:
                pids = {n: [] for n in servers}
                uris = {}
                for n, (kind, options) in servers.items():
                    env = {k[4:]: v for k, v in options.items() if k.startswith('env.')}
                    options = {k: v for k, v in options.items() if not k.startswith('env.')}
                    conf = variant_conf(cl, n, options, workdir)
                    uris[n] = stack.enter_context(SERVERS[kind](cl, n, conf, env, workdir,
                                                                args, pids[n]))
                for uri in uris.values() if args.flush_first else []:
                    flush_first(uri)
                results = best_of_workloads(uris, wanted, args.reps, args.runtime,
                                            args.size_mib << 20, warmup=args.warmup,
                                            alternate=True, pids=pids,
                                            others={'osd': [cl.procs['osd.0'].pid]})
        report(results, list(servers))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
