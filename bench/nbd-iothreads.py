#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD with iothreads: 4 raw exports served at once, one fio connection
each, blockgraphd (the exports' nodes on 2 iothreads, 2 each) vs
qemu-storage-daemon (2 event loops, 2 exports each) vs nbdkit (file plugin,
dir=, 16 threads).

qemu-storage-daemon: Debian's 7.2 aborts in nbd_blockdev_client_closed()
(`qemu_in_main_thread() && nbd_server`) the first time a client of an
export in an iothread disconnects: the close callback runs in the
iothread.  That is so with `--export ...,iothread=` and with the node
moved by QMP `x-blockdev-set-iothread` under a main-loop export alike, and
fio's nbd engine disconnects once already while it sets up (it asks for the
size).  So qsd gets its two event loops as two processes, each serving two
of the exports on its main loop: the same number of loops as our two
iothreads (and no global lock between them).  --qsd-iothreads uses
iothread objects instead, for a qsd that survives disconnects (8.x).

blockgraphd's and qsd's file nodes use --aio / --qsd-aio (default: our
daemon's own choice; io_uring for qsd).  Images are in tmpfs (/dev/shm),
one set per server; the servers take turns per workload, --reps times
(every run printed with the server's CPU time, and the server's and fio's
CPU time per request: on 2 CPUs the two together set the pace, and a
server that makes fio wait and wake up more costs fio CPU too; the best
run counts); fio's 4 jobs are summed; --only runs some of the servers;
--syscalls prints fio's and the server's context switches and system calls
per request under each run (`perf stat`); --only ...,null adds blockgraphd
with null-co nodes (no I/O at all: what the four clients and their sockets
reach on this machine) and each server's share of it.
--place together binds each loop to a CPU of its own (our iothreads, qsd's
processes) and each fio job to the CPU of the loop that serves its export;
--place split binds the loops alike and puts each loop's two clients on
different CPUs (one beside it, one not); --place free (the default) binds
nothing.  nbdkit has no loop per export: only its clients are bound.  What
the scheduler's placement is worth, not a result to compare servers by.
At the end: the CPU time of each blockgraphd thread (the
work must spread over io-io1 and io-io2), the load average, and one line
per workload with the three results, our ratios, and our ratios per
server CPU second (requests or MiB per CPU second of all the server's
threads: on a loaded machine a server with more threads gets more of the
CPU, this column shows the cost of a request instead).  Asserts nothing (a measurement; build without sanitizers).

  bench/nbd-iothreads.py [--runtime 10] [--reps 2] [--size-mib 256]
                         [--blockgraphd PATH] [--workloads randread-4k-qd32,...]
                         [--aio ENGINE] [--qsd-aio ENGINE] [--qsd-iothreads]
                         [--only blockgraph,qsd,nbdkit] [--syscalls]
                         [--place free|together|split]
"""

import argparse
import contextlib
import os
import resource
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import WORKLOADS, SyscallCounts, cpu_seconds, run_fio, wait_for_socket  # noqa: E402
from nbdservers import KEPT_MALLOC_HELP, aio_attr, process_server, qsd_aio, qsd_env  # noqa: E402

N = 4
LOOPS = 2


def loop_of(i):
    return i % LOOPS


def cpu_of_loop(n):
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[n % len(cpus)]


def client_cpus(args):
    """--place: the CPU each fio job (export i) is bound to, or None."""
    if args.place == 'together':
        return [cpu_of_loop(loop_of(i)) for i in range(N)]
    if args.place == 'split':
        return [cpu_of_loop(loop_of(i) + i // LOOPS) for i in range(N)]
    return None


def bind_threads(pid, cpu, name=None):
    """Binds the threads of process pid (those called name, or all) to cpu."""
    import bgtest
    for thread in bgtest.thread_status(pid):
        if name is None or thread['Name'] == name:
            try:
                os.sched_setaffinity(int(thread['Pid']), {cpu})
            except ProcessLookupError:
                pass    # the thread has ended


def bind_loops(name, args):
    """--place together/split: each of the server's loops on a CPU of its own."""
    if args.place == 'free':
        return
    if name in ('blockgraph', 'null'):
        for n in range(LOOPS):
            bind_threads(args.pids[name][0], cpu_of_loop(n), 'io-io%d' % (1 + n))
    elif name == 'qsd' and not args.qsd_iothreads:
        for n, pid in enumerate(args.pids[name]):
            bind_threads(pid, cpu_of_loop(n))


def blockgraph(images, workdir, args):
    return _blockgraphd(images, workdir, args, 'blockgraph',
                        lambda img: 'driver="file" filename="%s"%s' % (img, aio_attr(args)))


def null(images, workdir, args):
    """blockgraphd with null-co nodes of the images' sizes: fio against
    servers that do no I/O, what the clients and sockets alone reach here."""
    return _blockgraphd(images, workdir, args, 'null',
                        lambda img: 'driver="null-co" size="%d"' % (args.size_mib << 20))


@contextlib.contextmanager
def _blockgraphd(images, workdir, args, name, node_attrs):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    conf = os.path.join(workdir, name + '-conf')
    os.makedirs(conf, exist_ok=True)
    lines = ['<blockgraph>'] + ['  <iothread id="io%d"/>' % (1 + n) for n in range(LOOPS)]
    socks = []
    for i, img in enumerate(images):
        sock = os.path.join(workdir, '%s%d.sock' % (name, i))
        socks.append(sock)
        io = 'io%d' % (1 + loop_of(i))
        lines += ['  <blockdev node-name="disk%d" %s iothread="%s"/>' % (i, node_attrs(img), io),
                  '  <export type="nbd" id="e%d" node-name="disk%d" writable="on" '
                  'iothread="%s">' % (i, i, io),
                  '    <server type="unix" path="%s"/>' % sock, '  </export>']
    lines.append('</blockgraph>')
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with bgtest.Daemon(config_dir=conf) as d:
        for sock in socks:
            wait_for_socket(sock, d.proc, 'blockgraphd')
        args.pids[name] = [d.proc.pid]
        yield ['nbd+unix:///disk%d?socket=%s' % (i, s) for i, s in enumerate(socks)]
        if name == 'blockgraph':
            args.bg_threads = thread_cpu(d.proc.pid)


def thread_cpu(pid):
    """{thread name: CPU seconds} of a running process, from /proc."""
    ticks = os.sysconf('SC_CLK_TCK')
    out = {}
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def qsd_cmd(images, sock, aio, iothreads):
    cmd = ['qemu-storage-daemon']
    for n in range(LOOPS if iothreads else 0):
        cmd += ['--object', 'iothread,id=io%d' % (1 + n)]
    for i, img in images:
        cmd += ['--blockdev', 'driver=file,node-name=disk%d,filename=%s,aio=%s' % (i, img, aio)]
    cmd += ['--nbd-server', 'addr.type=unix,addr.path=%s' % sock]
    for i, _ in images:
        cmd += ['--export', 'type=nbd,id=e%d,node-name=disk%d,name=disk%d,writable=on%s'
                % (i, i, i, ',iothread=io%d' % (1 + loop_of(i)) if iothreads else '')]
    return cmd


@contextlib.contextmanager
def qsd(images, workdir, args):
    """One process with iothreads (--qsd-iothreads), else one per loop."""
    groups = [list(enumerate(images))] if args.qsd_iothreads else \
        [[(i, img) for i, img in enumerate(images) if loop_of(i) == n] for n in range(LOOPS)]
    uris = [None] * len(images)
    with contextlib.ExitStack() as stack:
        for n, group in enumerate(groups):
            sock = os.path.join(workdir, 'qsd%d.sock' % n)
            for i, _ in group:
                uris[i] = 'nbd+unix:///disk%d?socket=%s' % (i, sock)
            stack.enter_context(process_server(qsd_cmd(group, sock, qsd_aio(args),
                                                       args.qsd_iothreads),
                                               sock, 'qemu-storage-daemon', None,
                                               args.pids.setdefault('qsd', []), qsd_env(args)))
        yield uris


def nbdkit(images, workdir, args):
    sock = os.path.join(workdir, 'nbdkit.sock')
    folder = os.path.dirname(images[0])
    uris = ['nbd+unix:///%s?socket=%s' % (os.path.basename(img), sock) for img in images]
    return process_server(['nbdkit', '--foreground', '--threads', '16', '--unix', sock,
                           'file', 'dir=' + folder], sock, 'nbdkit', uris,
                          args.pids.setdefault('nbdkit', []))


SERVERS = {'blockgraph': blockgraph, 'qsd': qsd, 'nbdkit': nbdkit, 'null': null}


def make_images(workdir, size_mib, names):
    chunk = os.urandom(1 << 20)
    images = {}
    for name in names:
        if name == 'null':
            images[name] = [None] * N   # null() stores nothing
            continue
        os.makedirs(os.path.join(workdir, name))
        images[name] = [os.path.join(workdir, name, 'disk%d' % i) for i in range(N)]
        for img in images[name]:
            with open(img, 'wb') as f:
                for _ in range(size_mib):
                    f.write(chunk)
    return images


def client_cpu():
    """CPU seconds used so far by our finished children (the fio runs)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(images, workdir, args, wanted):
    """{workload: {server: (best value, its value per server CPU second)}}."""
    best = {}
    with contextlib.ExitStack() as stack:
        uris = {n: stack.enter_context(SERVERS[n](images[n], workdir, args)) for n in args.only}
        for name in args.only:
            bind_loops(name, args)
        for wl, rw, bs, qd, unit in WORKLOADS:
            if wanted and wl not in wanted:
                continue
            for rep in range(args.reps):
                for name in args.only:
                    counts = SyscallCounts(args.pids[name]) if args.syscalls else None
                    with counts or contextlib.nullcontext():
                        cpu, fio_cpu = cpu_seconds(args.pids[name]), client_cpu()
                        iops, mibs = run_fio(uris[name], rw, bs, qd, args.runtime,
                                             args.size_mib << 20,
                                             prefix=counts.prefix if counts else (),
                                             cpus=client_cpus(args))
                        cpu = cpu_seconds(args.pids[name]) - cpu
                    fio_cpu = client_cpu() - fio_cpu
                    value = iops if unit == 'IOPS' else mibs
                    row = best.setdefault(wl, {})
                    if value > row.get(name, (0, 0))[0]:
                        row[name] = (value, value * args.runtime / max(cpu, 0.01))
                    reqs = max(iops * args.runtime, 1)
                    print('  %-18s %-10s run %d: %10.1f %s, server CPU %.1f s (%.1f us per '
                          'request), fio %.1f us per request'
                          % (wl, name, rep + 1, value, unit, cpu, cpu / reqs * 1e6,
                             fio_cpu / reqs * 1e6), flush=True)
                    if counts:
                        print('    ' + counts.line(reqs), flush=True)
    return best


def report(best, args):
    print('\nblockgraphd CPU seconds per thread: ' +
          ', '.join('%s %.1f' % kv for kv in sorted(getattr(args, 'bg_threads', {}).items(),
                                                       key=lambda kv: -kv[1]) if kv[1] >= 0.1))
    print('load average: %.2f %.2f %.2f' % os.getloadavg())
    if args.place != 'free':
        print('placement: %s (fio jobs on CPUs %s)' % (args.place, client_cpus(args)))
    with_null = any('null' in r for r in best.values())
    print('\n4 exports, 4 connections; %-18s %12s %12s %12s %8s %8s  %s%s'
          % ('workload', 'blockgraph', 'qsd', 'nbdkit', 'vs qsd', 'vs nbdkit',
             'per CPU-s: vs qsd, vs nbdkit',
             '  %12s %8s %11s' % ('null-co', 'bg/null', 'nbdkit/null') if with_null else ''))
    for wl, _, _, _, unit in WORKLOADS:
        r = best.get(wl)
        if r:
            none = (float('nan'), float('nan'))
            bg, q, k, z = (r.get(n, none) for n in ('blockgraph', 'qsd', 'nbdkit', 'null'))
            extra = ('  %12.1f %7.2fx %10.2fx' % (z[0], bg[0] / z[0], k[0] / z[0])
                     if with_null else '')
            print('%-44s %12.1f %12.1f %12.1f %7.2fx %7.2fx  %7.2fx %7.2fx%s'
                  % (wl + ' (' + unit + ')', bg[0], q[0], k[0], bg[0] / q[0], bg[0] / k[0],
                     bg[1] / q[1], bg[1] / k[1], extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    ap.add_argument('--workloads', default='')
    ap.add_argument('--aio', default='', help="blockgraphd's engine (default: its own choice)")
    ap.add_argument('--qsd-aio', default='io_uring')
    ap.add_argument('--qsd-kept-malloc', action='store_true', help=KEPT_MALLOC_HELP)
    ap.add_argument('--qsd-iothreads', action='store_true',
                    help='one qsd with 2 iothread objects (aborts on disconnect in qsd 7.2)')
    ap.add_argument('--syscalls', action='store_true',
                    help="perf stat: fio's and the server's system calls per request")
    ap.add_argument('--place', choices=('free', 'together', 'split'), default='free',
                    help="bind the loops and fio's jobs to CPUs (see above)")
    ap.add_argument('--only', default='blockgraph,qsd,nbdkit',
                    help='the servers to run, of ' + ','.join(SERVERS))
    args = ap.parse_args()
    args.only = [n for n in args.only.split(',') if n]
    if not args.only or not set(args.only) <= set(SERVERS):
        ap.error('--only: a list of ' + ','.join(SERVERS))
    wanted = [w for w in args.workloads.split(',') if w]
    tools = {'blockgraph': None, 'null': None, 'qsd': 'qemu-storage-daemon', 'nbdkit': 'nbdkit'}
    for tool in ['fio'] + [tools[n] for n in args.only if tools[n]]:
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    args.pids = {}
    workdir = tempfile.mkdtemp(prefix='bg-nbd-iothreads-', dir='/dev/shm')
    try:
        best = measure(make_images(workdir, args.size_mib, args.only), workdir, args, wanted)
        report(best, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
