# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the fio benchmarks: the workloads, waiting for a server's socket, one fio run."""

import json
import os
import subprocess
import sys
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


# Latency rows: name, fio rw, block size, iodepth; reported as the p99 completion latency.
LATENCY_WORKLOADS = [
    ('randread-4k-qd1-p99', 'randread', '4k', 1),
]


def run_fio(uri, rw, bs, iodepth, runtime, size, jobs=1):
    """fio (ioengine=nbd) against uri, `jobs` processes with a connection
    each (summed); returns (IOPS, MiB/s).  runtime: seconds, or a string
    with fio's units ('1500ms')."""
    side = fio_side(uri, rw, bs, iodepth, runtime, size, jobs)
    return side['iops'], side['bw'] / 1024.0


def run_fio_p99(uri, rw, bs, iodepth, runtime, size):
    """One fio connection; the 99th percentile completion latency in µs."""
    side = fio_side(uri, rw, bs, iodepth, runtime, size, 1)
    return side['clat_ns']['percentile']['99.000000'] / 1000.0


def fio_side(uri, rw, bs, iodepth, runtime, size, jobs):
    """The read or write half of fio's JSON report for one run."""
    cmd = ['fio', '--name=bench', '--ioengine=nbd', '--uri=' + uri, '--rw=' + rw,
           '--bs=' + bs, '--iodepth=%d' % iodepth, '--runtime=%s' % runtime,
           '--time_based', '--size=%d' % size, '--numjobs=%d' % jobs, '--group_reporting',
           '--output-format=json']
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('fio failed on %s:\n%s%s' % (uri, p.stdout, p.stderr))
    job = json.loads(p.stdout[p.stdout.index('{'):])['jobs'][0]
    side = job['read'] if 'read' in rw else job['write']
    if job['error']:
        sys.exit('fio job error %d on %s' % (job['error'], uri))
    return side
