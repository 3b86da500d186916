#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The monitor under load: how fast a property Get over the bus answers
while fio runs 4k random reads at qd32 through an export (or, with
--write-1m, 1 MiB sequential writes at qd8), with the export's node on the
main loop and on an iothread.

One daemon holds two raw images on /dev/shm: disk0 on the main loop and
disk1 bound to iothread io1, each with an export.  For each, fio (nbd
engine) reads for --runtime seconds while this script calls
org.freedesktop.DBus.Properties.Get(Node, 'Size') on that node in a loop
and records each call's round trip; then the same without fio (idle).
Prints p50 / p99 / max in milliseconds and fio's IOPS (MiB/s for
--write-1m); asserts nothing.

With --sched (root, perf), `perf sched record` runs while the Gets are
sampled, and each thread on the Get's path gets a line: how long it waited
for a CPU after each wake-up (perf's "sch delay") and how long it ran.  A
Get wakes four threads in turn (this client, dbus-daemon, the daemon's
main thread, dbus-daemon, this client); where the milliseconds go is where
the delays are, and the main thread's wakers say what else it serves.
"""

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
from fiolib import wait_for_socket  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100.0))]


def sample_gets(d, node, seconds):
    props = d.iface(d.node_path(node), 'org.freedesktop.DBus.Properties')
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        props.Get('org.blockgraph.BlockGraph1.Node', 'Size')
        lat.append((time.perf_counter() - t) * 1000.0)
        time.sleep(0.002)
    return lat


def sched_record(path, seconds):
    return subprocess.Popen(['perf', 'sched', 'record', '-a', '-o', path, '--', 'sleep',
                             str(seconds)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sched_report(path, threads):
    """One line per thread of threads ({'name[tid]' or 'name[tid/pid]': label})."""
    out = subprocess.run(['perf', 'sched', 'timehist', '-w', '-i', path], capture_output=True,
                         text=True).stdout
    delay, ran, wakers = collections.defaultdict(list), collections.defaultdict(float), {}
    for line in out.splitlines():
        m = re.match(r'\s*[\d.]+\s+\[\d+\]\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)', line)
        if m and m.group(1) in threads:
            delay[m.group(1)].append(float(m.group(3)))
            ran[m.group(1)] += float(m.group(4))
        m = re.match(r'\s*[\d.]+\s+\[\d+\]\s+(\S+)\s+awakened: (\S+)', line)
        if m and m.group(2) in threads:
            who = re.sub(r'\[.*', '', m.group(1))
            wakers.setdefault(m.group(2), collections.Counter())[who] += 1
    print('  %-22s %7s %9s %9s %9s %7s %9s  %s' % ('thread', 'wakeups', 'p50 ms', 'p99 ms',
                                                  'max ms', '>1 ms', 'ran ms', 'woken by'))
    for key, label in threads.items():
        v = sorted(delay[key]) or [0.0]
        print('  %-22s %7d %9.3f %9.3f %9.3f %7d %9.1f  %s'
              % (label, len(delay[key]), percentile(v, 50), percentile(v, 99), v[-1],
                 sum(1 for x in v if x > 1), ran[key],
                 ', '.join('%s %d' % kv for kv in wakers.get(key, {}).most_common(3))))


def path_threads(d, io_tid):
    """The threads a Get crosses, as perf sched timehist names them."""
    pid, bus = d.proc.pid, d.dbus_daemon.proc.pid
    threads = {'python3[%d]' % os.getpid(): 'client',
               'dbus-daemon[%d]' % bus: 'dbus-daemon',
               'blockgraphd[%d]' % pid: 'main thread'}
    if io_tid:
        threads['io-io1[%d/%d]' % (io_tid, pid)] = 'iothread io1'
    return threads


def iothread_tid(pid):
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/comm' % (pid, tid)) as f:
            if f.read().strip() == 'io-io1':
                return int(tid)
    return None


# (fio's rw, block size, queue depth, what is reported: its JSON section and field, unit)
RANDREAD_4K = ('randread', '4k', 32, 'read', 'iops', 'IOPS')
WRITE_1M = ('write', '1M', 8, 'write', 'bw', 'KiB/s')


def fio(uri, workload, runtime, size):
    rw, bs, qd = workload[:3]
    return subprocess.Popen(['fio', '--name=bus-latency', '--ioengine=nbd', '--uri=' + uri,
                             '--rw=' + rw, '--bs=' + bs, '--iodepth=%d' % qd,
                             '--runtime=%d' % runtime, '--time_based', '--size=%d' % size,
                             '--output-format=json'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def fio_rate(p, workload):
    """IOPS, or MiB/s for a workload that fio reports in KiB/s."""
    import json
    out, err = p.communicate(timeout=600)
    if p.returncode != 0:
        sys.exit('fio failed:\n%s%s' % (out, err))
    section, field, unit = workload[3:]
    rate = json.loads(out[out.index('{'):])['jobs'][0][section][field]
    return rate / 1024.0 if unit == 'KiB/s' else rate


def write_config(conf, workdir, images):
    lines = ['<blockgraph>', '  <iothread id="io1"/>']
    for i, img in enumerate(images):
        io = ' iothread="io1"' if i == 1 else ''
        lines += ['  <blockdev driver="file" node-name="disk%d" filename="%s"%s/>' % (i, img, io),
                  '  <export type="nbd" id="e%d" node-name="disk%d" writable="on"%s>' % (i, i, io),
                  '    <server type="unix" path="%s"/>' % os.path.join(workdir, 'e%d.sock' % i),
                  '  </export>']
    lines.append('</blockgraph>')
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runtime', type=int, default=10)
    ap.add_argument('--size-mib', type=int, default=256)
    ap.add_argument('--sched', action='store_true',
                    help='perf sched record while sampling: wake-up delays per thread')
    ap.add_argument('--write-1m', action='store_true',
                    help="fio writes 1 MiB blocks at qd8 instead of 4k random reads at qd32")
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    workload = WRITE_1M if args.write_1m else RANDREAD_4K
    if not shutil.which('fio'):
        print('SKIP: fio not installed')
        sys.exit(77)
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    workdir = tempfile.mkdtemp(prefix='bg-bus-latency-', dir='/dev/shm')
    try:
        images = []
        chunk = os.urandom(1 << 20)
        for i in range(2):
            images.append(os.path.join(workdir, 'disk%d.raw' % i))
            with open(images[-1], 'wb') as f:
                for _ in range(args.size_mib):
                    f.write(chunk)
        conf = os.path.join(workdir, 'conf')
        os.makedirs(conf)
        write_config(conf, workdir, images)
        with bgtest.Daemon(config_dir=conf) as d:
            for i in range(2):
                wait_for_socket(os.path.join(workdir, 'e%d.sock' % i), d.proc, 'blockgraphd')
            idle = sample_gets(d, 'disk0', min(args.runtime, 3))
            print('%-26s %8s %8s %8s %10s' % ('export', 'p50 ms', 'p99 ms', 'max ms',
                                              'fio MiB/s' if args.write_1m else 'fio IOPS'))
            print('%-26s %8.3f %8.3f %8.3f %10s' % ('idle (no fio)', percentile(idle, 50),
                                                   percentile(idle, 99), max(idle), '-'))
            for i, where in ((0, 'main loop'), (1, 'iothread io1')):
                uri = 'nbd+unix:///disk%d?socket=%s' % (i, os.path.join(workdir, 'e%d.sock' % i))
                p = fio(uri, workload, args.runtime, args.size_mib << 20)
                time.sleep(1)       # fio connected and at full depth
                rec = os.path.join(workdir, 'sched%d.data' % i)
                perf = sched_record(rec, args.runtime - 2) if args.sched else None
                lat = sample_gets(d, 'disk%d' % i, args.runtime - 2)
                if perf:
                    perf.wait()
                rate = fio_rate(p, workload)
                print('%-26s %8.3f %8.3f %8.3f %10.0f' % ('disk%d on the %s' % (i, where),
                                                         percentile(lat, 50),
                                                         percentile(lat, 99), max(lat), rate),
                      flush=True)
                if perf:
                    sched_report(rec, path_threads(d, iothread_tid(d.proc.pid)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
