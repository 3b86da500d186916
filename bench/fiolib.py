# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the fio benchmarks: the workloads, waiting for a server's socket, one fio run."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


# The issues' four workloads: name, fio rw, block size, iodepth, unit reported.
WORKLOADS = [
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


def cpu_seconds(pids):
    """User + system CPU seconds used so far by the processes pids (all
    their threads, io_uring's workers included), from /proc."""
    return sum(_proc_stat(pid)[0] for pid in pids)


def page_faults(pids):
    """Page faults (minor) taken so far by the processes pids, from /proc."""
    return sum(_proc_stat(pid)[1] for pid in pids)


def _proc_stat(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'), int(fields[7])


# Latency rows: name, fio rw, block size, iodepth; reported as the p99 completion latency.
LATENCY_WORKLOADS = [
    ('randread-4k-qd1-p99', 'randread', '4k', 1),
]


def run_fio(uri, rw, bs, iodepth, runtime, size, jobs=1, prefix=(), cpus=None):
    """fio (ioengine=nbd) against uri, `jobs` processes with a connection
    each (summed); uri may be a list: one job (connection) per URI, summed.
    Returns (IOPS, MiB/s).  runtime: seconds, or a string with fio's units
    ('1500ms').  prefix: a command fio runs under (SyscallCounts.prefix).
    cpus: with a list of URIs, the CPU each one's job is bound to."""
    side = fio_side(uri, rw, bs, iodepth, runtime, size, jobs, prefix, cpus)
    return side['iops'], side['bw'] / 1024.0


def run_fio_p99(uri, rw, bs, iodepth, runtime, size):
    """One fio connection; the 99th percentile completion latency in µs."""
    side = fio_side(uri, rw, bs, iodepth, runtime, size, 1)
    return side['clat_ns']['percentile']['99.000000'] / 1000.0


def fio_side(uri, rw, bs, iodepth, runtime, size, jobs, prefix=(), cpus=None):
    """The read or write half of fio's JSON report for one run (all jobs
    summed: group_reporting)."""
    uris = uri if isinstance(uri, list) else [uri]
    cmd = list(prefix) + ['fio', '--ioengine=nbd', '--rw=' + rw, '--bs=' + bs, '--iodepth=%d' % iodepth,
           '--runtime=%s' % runtime, '--time_based', '--size=%d' % size,
           '--numjobs=%d' % jobs, '--group_reporting', '--output-format=json']
    for i, u in enumerate(uris):
        cmd += ['--name=bench%d' % i, '--uri=' + u]
        if cpus is not None:
            cmd.append('--cpus_allowed=%d' % cpus[i])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('fio failed on %s:\n%s%s' % (' '.join(uris), p.stdout, p.stderr))
    job = json.loads(p.stdout[p.stdout.index('{'):])['jobs'][0]
    side = job['read'] if 'read' in rw else job['write']
    if job['error']:
        sys.exit('fio job error %d on %s' % (job['error'], ' '.join(uris)))
    return side


def best_of_workloads(uris, wanted, reps, runtime, size, warmup=0, alternate=False,
                      pids=None, others=None):
    """Runs each of WORKLOADS (those in `wanted`, or all when it is empty)
    `reps` times against every uri of {name: uri}, printing each run;
    returns {workload: {name: best IOPS or MiB/s}}.

    warmup: seconds each server first runs a workload uncounted (whatever
    warms up on the way, a cluster's or the kernel's memory, would
    otherwise favour the server that runs later); alternate: the servers'
    order reverses every rep (neither always runs second); pids: {name:
    [pid, ...]}: each run also prints the server's CPU time per request,
    and the result holds their mean as {name + ' cpu': microseconds};
    others: {label: [pid, ...]}: processes every server shares (a storage
    cluster's), whose CPU and page faults per request are printed
    alongside."""
    results = {}
    names = list(uris)
    for wl, rw, bs, qd, unit in WORKLOADS:
        if wanted and wl not in wanted:
            continue
        for name in names if warmup else []:
            fio_side(uris[name], rw, bs, qd, warmup, size, 1)
        cpu_per_io = {}
        for rep in range(reps):
            for name in (names[::-1] if alternate and rep % 2 else names):
                cpu = cpu_seconds(pids[name]) if pids else 0.0
                faults = page_faults(pids[name]) if pids else 0
                shared = {k: (cpu_seconds(v), page_faults(v)) for k, v in (others or {}).items()}
                side = fio_side(uris[name], rw, bs, qd, runtime, size, 1)
                value = side['iops'] if unit == 'IOPS' else side['bw'] / 1024.0
                best = results.setdefault(wl, {})
                best[name] = max(best.get(name, 0.0), value)
                line = '  %-18s %-10s run %d: %10.1f %s' % (wl, name, rep + 1, value, unit)
                if pids:
                    us = (cpu_seconds(pids[name]) - cpu) * 1e6 / max(side['total_ios'], 1)
                    cpu_per_io.setdefault(name, []).append(us)
                    line += '  %7.1f us CPU/request %.1f faults' % (
                        us, (page_faults(pids[name]) - faults) / max(side['total_ios'], 1))
                ios = max(side['total_ios'], 1)
                for k, (c, pf) in shared.items():
                    line += ', %s %.1f us %.1f faults' % (
                        k, (cpu_seconds(others[k]) - c) * 1e6 / ios,
                        (page_faults(others[k]) - pf) / ios)
                print(line, flush=True)
        for name, values in cpu_per_io.items():
            results[wl][name + ' cpu'] = sum(values) / len(values)
    return results


# What --syscalls counts, per request, in fio and in the server.
SYSCALLS = ('poll', 'recvfrom', 'read', 'sendto', 'sendmsg', 'write', 'epoll_wait', 'epoll_ctl',
            'futex')


class SyscallCounts:
    """`perf stat` of the server's processes (attached while the with-block
    runs) and of fio (run under .prefix): context switches and the system
    calls of SYSCALLS.  .line(requests) says how many of each per request:
    what a server makes the client do shows there (wake-ups, polls)."""

    def __init__(self, server_pids):
        self.dir = tempfile.mkdtemp(prefix='bg-perf-')
        self.fio_out = os.path.join(self.dir, 'fio.csv')
        self.srv_out = os.path.join(self.dir, 'server.csv')
        self.events = ','.join(['context-switches'] +
                               ['syscalls:sys_enter_' + c for c in SYSCALLS])
        self.prefix = ['perf', 'stat', '-x,', '-o', self.fio_out, '-e', self.events, '--']
        self.pids = server_pids

    def __enter__(self):
        self.proc = subprocess.Popen(['perf', 'stat', '-x,', '-o', self.srv_out, '-e', self.events,
                                      '-p', ','.join(map(str, self.pids))],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)     # attached before fio starts
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()

    @staticmethod
    def _read(path):
        counts = {}
        with open(path) as f:
            for line in f:
                p = line.strip().split(',')
                if len(p) > 2 and p[0].replace('.', '', 1).isdigit():
                    counts[p[2].replace('syscalls:sys_enter_', '')] = float(p[0])
        return counts

    def line(self, requests):
        n = max(requests, 1)
        out = []
        for who, path in (('fio', self.fio_out), ('server', self.srv_out)):
            c = self._read(path)
            out.append('%s: cs %.2f %s' % (who, c.get('context-switches', 0) / n,
                                           ' '.join('%s %.2f' % (k, c[k] / n)
                                                    for k in SYSCALLS if c.get(k))))
        shutil.rmtree(self.dir, ignore_errors=True)
        return 'per request: ' + '; '.join(out)
