#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Block jobs: blockgraphd vs qemu-storage-daemon on the same images.

A 1 GiB qcow2 base with every cluster written and a qcow2 overlay with
its first half written, both in /dev/shm.  Each run gets its own
copy of both images, made before its daemon starts.

- stream: the whole chain into the overlay (512 MiB copied), no speed
  limit, timed from the start call to the job's end: Manager.StartJob and
  the Job's Completed signal over D-Bus for blockgraphd, block-stream and
  the BLOCK_JOB_COMPLETED event over QMP for qemu-storage-daemon.
- commit (intermediate): an empty overlay 'act' over the two, the overlay
  committed into the base (512 MiB copied), timed the same way
  (block-commit with top-node and base-node for qemu-storage-daemon).
- active: the overlay, exported and the chain's top, committed into the
  base (512 MiB copied): timed from the start call through `ready`, the
  Complete() / block-job-complete call, to the job's end (the pivot).
- mirror: the chain's top (1 GiB, what the guest sees) mirrored with
  sync=full to a fresh 1 GiB qcow2: timed from the start call through
  `ready`, Complete() / block-job-complete, to the job's end (the pivot);
  blockdev-mirror for qemu-storage-daemon.
- backup: a full backup of the overlay (1 GiB through the chain) into a
  fresh qcow2, timed from the start call to the job's end
  (blockdev-backup sync=full for qemu-storage-daemon).
- guest: fio (ioengine=nbd) 4k random writes at iodepth 32 through an NBD
  export of the overlay, into its written half (so that the clusters the
  stream allocates do not make the guest's writes cheaper).  One fio run:
  it writes for a while first (the idle rate is measured over 2 s of
  that), then the stream starts (no speed limit) and the rate during the
  stream is measured over exactly the stream's duration, from fio's
  per-100 ms IOPS log with wall-clock stamps; fio stops after the stream
  (its runtime leaves room for many times the stream's median time from
  the timed runs).  Reports the rate during the stream as a fraction of
  the idle rate.

  bench/jobs.py [--reps 5] [--warmup 1] [--blockgraphd PATH]
               [--tests stream,commit,active,mirror,backup,guest] [--perf DIR]

Each timed job runs --reps times per server, the two servers taking turns
(blockgraphd first on even runs, qemu-storage-daemon first on odd ones), so
that both meet the same load of the machine.  Per job and server it prints
every run (wall seconds, the CPU seconds the daemon process spent over
the timed interval, all its threads, from /proc/PID/stat, and the 1-minute
load average after it), then a table of
the median and the best wall time per side, the ratio of the medians and of
the bests (qemu-storage-daemon's time over blockgraphd's: > 1 means
blockgraphd is faster), and the median CPU seconds per side.  The jobs take
a fraction of a second on an idle machine, so one run swings a lot on a
busy one; the CPU seconds swing less (they grow with load only through
cache effects) and tell which side does more work.

--warmup N (1): each job first runs N times per server (printed,
left out of the table).  The first run of each server writes its images
and target into memory the machine has not touched for a while; in a VM
whose balloon hands freed memory back to the host that run took 4-7 s
(as much CPU as wall) for either daemon in every run of 2026-12-02,
against 0.3-0.6 s later: with 3 reps, that one run decided the median.

--perf DIR: each daemon's timed intervals are recorded with `perf record
-g` into DIR/<server>-<job>-<n>.data (for finding where the time goes).

Build blockgraphd without sanitizers (meson setup build-rel
--buildtype=release).  A measurement, never a test assertion.
"""

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import wait_for_socket  # noqa: E402
from qmp import Qmp  # noqa: E402

LAYERS = ['base', 'top', 'act']
GiB = 1 << 30
MiB = 1 << 20
JOB = 'org.blockgraph.BlockGraph1.Job'


def make_masters(workdir):
    base = os.path.join(workdir, 'master-base.qcow2')
    top = os.path.join(workdir, 'master-top.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '1G'], check=True)
    subprocess.run(['qemu-io', '-c', 'write -P 0x5a 0 1G', base], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2',
                    top, '1G'], check=True)
    subprocess.run(['qemu-io', '-c', 'write -P 0x6b 0 512M', top], check=True,
                   stdout=subprocess.DEVNULL)
    return base, top


def copy_images(workdir, masters, name, act=False):
    """Fresh copies of base and top for one run; top's header names its base
    copy.  act: an empty overlay 'act' over top as the chain's top."""
    base = os.path.join(workdir, name + '-base.qcow2')
    top = os.path.join(workdir, name + '-top.qcow2')
    shutil.copyfile(masters[0], base)
    shutil.copyfile(masters[1], top)
    subprocess.run(['qemu-img', 'rebase', '-u', '-b', base, '-F', 'qcow2', top], check=True)
    if not act:
        return base, top
    act = os.path.join(workdir, name + '-act.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', top, '-F', 'qcow2',
                    act, '1G'], check=True)
    return base, top, act


# ---- blockgraphd ---------------------------------------------------------------------

def layers_of(imgs):
    """(node name, image) of each chain layer, base first; a mirror's target
    comes last as 'dst' (not in the chain)."""
    names = LAYERS[:len(imgs)]
    if imgs and imgs[-1].endswith('-dst.qcow2'):
        names = LAYERS[:len(imgs) - 1] + ['dst']
    return list(zip(names, imgs))


@contextlib.contextmanager
def blockgraph(imgs, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n')
        below = top = None
        for name, img in layers_of(imgs):
            chained = name != 'dst'
            f.write('  <blockdev driver="qcow2" node-name="%s">\n'
                    '    <file driver="file" filename="%s" aio="threads"/>\n'
                    '    <backing%s/>\n  </blockdev>\n'
                    % (name, img, ' ref="%s"' % below if below and chained else ''))
            if chained:
                below = top = name
        f.write('  <export type="nbd" id="e0" node-name="%s" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (top, sock))
    try:
        with bgtest.Daemon(config_dir=conf) as d:
            wait_for_socket(sock, d.proc, 'blockgraphd')
            yield BgJobs(d), 'nbd+unix:///disk0?socket=' + sock
    finally:
        if os.path.exists(sock):
            os.unlink(sock)


class BgJobs:
    def __init__(self, d):
        self.d = d
        self.pid = d.proc.pid
        self.sig = d.signals()

    def start_stream(self):
        self.d.manager.StartJob('<job type="stream" id="j0" node-name="top"/>')

    def start_commit(self):
        self.d.manager.StartJob('<job type="commit" id="j0" node-name="act" top-node="top" '
                                'base-node="base"/>')

    def wait_signal(self, predicate):
        """Blocks in the GLib loop until predicate(signals so far) holds: a
        signal is seen when it arrives, as qemu-storage-daemon's QMP events
        are (SignalRecorder.wait_for polls every 10 ms, too coarse for a job
        of a fraction of a second)."""
        from gi.repository import GLib
        ctx = GLib.MainContext.default()
        end = time.monotonic() + 600
        tick = GLib.timeout_add_seconds(1, lambda: True)    # the deadline is looked at
        try:
            while not predicate(self.sig.items):
                if time.monotonic() > end:
                    sys.exit('blockgraphd: timed out waiting for a job signal')
                ctx.iteration(True)
        finally:
            GLib.source_remove(tick)

    def wait_ready(self):
        self.wait_signal(lambda items: any(
            i[1] == 'PropertiesChanged' and str(i[3][1].get('Status', '')) == 'ready'
            for i in items))

    def start_active(self):
        self.d.manager.StartJob('<job type="commit" id="j0" node-name="top" base-node="base"/>')
        self.wait_ready()
        self.d.iface(self.d.manager_path('job', 'j0'), JOB).Complete()

    def start_mirror(self):
        self.d.manager.StartJob('<job type="mirror" id="j0" node-name="top" target="dst" '
                                'sync="full"/>')
        self.wait_ready()
        self.d.iface(self.d.manager_path('job', 'j0'), JOB).Complete()

    def running(self):
        path = self.d.manager_path('job', 'j0')
        try:
            return str(self.d.props(path, JOB)['Status']) != 'concluded'
        except Exception:
            return False        # dismissed: it ended

    def wait_done(self):
        self.wait_signal(lambda items: any(i[1] == 'Completed' for i in items))
        ok, err = self.sig.named('Completed')[0][3][:2]
        if not ok:
            sys.exit('blockgraphd job failed: %s' % err)


# ---- qemu-storage-daemon -------------------------------------------------------------

@contextlib.contextmanager
def qsd(imgs, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    qmp_sock = os.path.join(workdir, 'qmp.sock')
    cmd = ['qemu-storage-daemon']
    below = top = None
    for name, img in layers_of(imgs):
        chained = name != 'dst'
        cmd += ['--blockdev', 'driver=file,node-name=%s-file,filename=%s,aio=threads' % (name, img),
                '--blockdev', 'driver=qcow2,node-name=%s,file=%s-file%s'
                % (name, name, ',backing=' + below if below and chained else '')]
        if chained:
            below = top = name
    proc = subprocess.Popen(
        cmd + [
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=%s,name=disk0,writable=on' % top,
         '--chardev', 'socket,id=m,path=%s,server=on,wait=off' % qmp_sock,
         '--monitor', 'chardev=m'], stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, 'qemu-storage-daemon')
        wait_for_socket(qmp_sock, proc, 'qemu-storage-daemon')
        yield QsdJobs(Qmp(qmp_sock), proc.pid), 'nbd+unix:///disk0?socket=' + sock
    finally:
        proc.terminate()
        proc.wait()
        for p in (sock, qmp_sock):
            if os.path.exists(p):
                os.unlink(p)


class QsdJobs:
    def __init__(self, qmp, pid):
        self.qmp = qmp
        self.pid = pid

    def start_stream(self):
        self.qmp.cmd('block-stream', **{'job-id': 'j0', 'device': 'top'})

    def start_commit(self):
        self.qmp.cmd('block-commit', **{'job-id': 'j0', 'device': 'act', 'top-node': 'top',
                                        'base-node': 'base'})

    def start_active(self):
        self.qmp.cmd('block-commit', **{'job-id': 'j0', 'device': 'top', 'base-node': 'base'})
        self.qmp.wait_event('BLOCK_JOB_READY')
        self.qmp.cmd('block-job-complete', device='j0')

    def start_mirror(self):
        self.qmp.cmd('blockdev-mirror', **{'job-id': 'j0', 'device': 'top', 'target': 'dst',
                                           'sync': 'full'})
        self.qmp.wait_event('BLOCK_JOB_READY')
        self.qmp.cmd('block-job-complete', device='j0')

    def running(self):
        return any(j['id'] == 'j0' and j['status'] != 'concluded'
                   for j in self.qmp.cmd('query-jobs'))

    def wait_done(self):
        e = self.qmp.wait_event('BLOCK_JOB_COMPLETED')
        if 'error' in e['data']:
            sys.exit('qemu-storage-daemon job failed: %s' % e['data']['error'])


SERVERS = [('blockgraph', blockgraph), ('qsd', qsd)]


# ---- the measurements ----------------------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU seconds of process pid so far, all its threads."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Timed:
    """Wall and daemon CPU seconds of a `with` block; with --perf, the daemon's
    samples in that block are recorded."""

    def __init__(self, jobs, args, label):
        self.jobs, self.args, self.label = jobs, args, label
        self.perf = None

    def __enter__(self):
        if self.args.perf:
            os.makedirs(self.args.perf, exist_ok=True)
            out = os.path.join(self.args.perf, self.label + '.data')
            self.perf = subprocess.Popen(['perf', 'record', '-q', '-g', '-p', str(self.jobs.pid),
                                          '-o', out], stdout=subprocess.DEVNULL)
            time.sleep(0.5)             # perf attaches
        self.cpu0 = cpu_seconds(self.jobs.pid)
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.jobs.pid) - self.cpu0
        if self.perf:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait()
        return False


def time_job(server, masters, workdir, args, name, job, label):
    imgs = list(copy_images(workdir, masters, name, act=job == 'commit'))
    if job == 'mirror':
        dst = os.path.join(workdir, name + '-dst.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', dst, '1G'], check=True)
        imgs.append(dst)
    with server(imgs, workdir, args) as (jobs, _):
        with Timed(jobs, args, label) as t:
            getattr(jobs, 'start_' + job)()
            jobs.wait_done()
    # After an active commit the base is what the guest sees, after a mirror the target.
    check_data(imgs[0] if job == 'active' else imgs[-1], masters[1], name)
    return t.wall, t.cpu


def run_reps(args, job, what, one_run):
    """one_run(server name, server, label) -> (wall, cpu), --reps times per
    server, the servers taking turns; {name: [(wall, cpu)...]}."""
    runs = {name: [] for name, _ in SERVERS}
    for rep in range(-args.warmup, args.reps):
        for name, server in (SERVERS if rep % 2 == 0 else SERVERS[::-1]):
            label = '%s-%s-%s' % (name, job, rep if rep >= 0 else 'warmup%d' % -rep)
            wall, cpu = one_run(name, server, label)
            if rep >= 0:
                runs[name].append((wall, cpu))
            print('  %-10s %-24s %8.3f s wall %8.3f s CPU   load %.1f%s'
                  % (name, what, wall, cpu, os.getloadavg()[0],
                     '   (warm-up, not counted)' if rep < 0 else ''), flush=True)
    return runs


def print_table(rows):
    print('\n%-20s %22s %22s %15s %17s' % ('job', 'blockgraph s', 'qsd s', 'ratio',
                                          'CPU s'))
    print('%-20s %11s %10s %11s %10s %7s %7s %8s %8s' % ('', 'median', 'best', 'median', 'best',
                                                     'median', 'best', 'bg', 'qsd'))
    for what, runs in rows:
        med = {n: statistics.median(w for w, _ in r) for n, r in runs.items()}
        best = {n: min(w for w, _ in r) for n, r in runs.items()}
        cpu = {n: statistics.median(c for _, c in r) for n, r in runs.items()}
        print('%-20s %11.3f %10.3f %11.3f %10.3f %6.2fx %6.2fx %8.3f %8.3f'
              % (what, med['blockgraph'], best['blockgraph'], med['qsd'], best['qsd'],
                 med['qsd'] / med['blockgraph'], best['qsd'] / best['blockgraph'],
                 cpu['blockgraph'], cpu['qsd']), flush=True)
    return rows


def check_data(top, master_top, name):
    """The job must not change what the guest sees (a bench of a wrong copy is void)."""
    p = subprocess.run(['qemu-img', 'compare', '-q', top, master_top])
    if p.returncode != 0:
        sys.exit('%s: data after the job differs from the original chain' % name)


def mean_iops(log, start, end):
    """The mean of fio's per-100 ms IOPS samples stamped within [start, end) (epoch s)."""
    samples = []
    with open(log) as f:
        for line in f:
            t_ms, iops = line.split(',')[:2]
            if start * 1000 <= int(t_ms) < end * 1000:
                samples.append(int(iops))
    if not samples:
        sys.exit('fio logged no IOPS sample within the window')
    return sum(samples) / len(samples)


def guest_rate(server, masters, workdir, args, name, stream_s):
    """(idle IOPS, IOPS during the stream, stream seconds) from one fio run."""
    imgs = copy_images(workdir, masters, name)
    prefix = os.path.join(workdir, name + '-guest')
    with server(imgs, workdir, args) as (jobs, uri):
        fio = subprocess.Popen(
            ['fio', '--name=guest', '--ioengine=nbd', '--uri=' + uri, '--rw=randwrite',
             '--bs=4k', '--iodepth=32', '--size=%d' % (GiB // 2), '--time_based',
             # Long enough for a stream that steps back for the guest (it
             # may take many times its idle time); fio is stopped at the end.
             '--runtime=%d' % (30 + 60 * stream_s), '--write_iops_log=' + prefix,
             '--log_avg_msec=100', '--log_unix_epoch=1'],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)                 # fio connects and writes
        idle_start = time.time()
        time.sleep(2.0)
        stream_start = time.time()
        jobs.start_stream()
        jobs.wait_done()
        stream_end = time.time()
        still = fio.poll() is None
        fio.send_signal(signal.SIGINT)
        _, err = fio.communicate(timeout=60)
        if not still:
            sys.exit('fio stopped before the stream ended:\n' + err)
    log = prefix + '_iops.1.log'
    idle = mean_iops(log, idle_start, stream_start)
    busy = mean_iops(log, stream_start, stream_end)
    return idle, busy, stream_end - stream_start


# ---- backup ---------------------------------------------------------------------------

def start_backup(jobs, target):
    """A full backup of the top (1 GiB through the chain) into a fresh qcow2,
    its node added first (not timed)."""
    if isinstance(jobs, BgJobs):
        jobs.d.manager.AddNode('<blockdev driver="qcow2" node-name="bk"><file driver="file" '
                               'filename="%s" aio="threads"/><backing/></blockdev>' % target)
        return lambda: jobs.d.manager.StartJob(
            '<job type="backup" id="j0" node-name="top" target="bk" sync="full"/>')
    jobs.qmp.cmd('blockdev-add', **{'driver': 'file', 'node-name': 'bk-file',
                                    'filename': target, 'aio': 'threads'})
    jobs.qmp.cmd('blockdev-add', **{'driver': 'qcow2', 'node-name': 'bk', 'file': 'bk-file'})
    return lambda: jobs.qmp.cmd('blockdev-backup', **{'job-id': 'j0', 'device': 'top',
                                                      'target': 'bk', 'sync': 'full'})


def time_backup(server, masters, workdir, args, name, label):
    imgs = copy_images(workdir, masters, name)
    target = os.path.join(workdir, name + '-backup.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', target, '1G'], check=True)
    with server(imgs, workdir, args) as (jobs, _):
        start = start_backup(jobs, target)
        with Timed(jobs, args, label) as t:
            start()
            jobs.wait_done()
    check_data(target, masters[1], name + ' backup')
    os.unlink(target)
    return t.wall, t.cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=5, help='runs per server, taking turns')
    ap.add_argument('--warmup', type=int, default=1,
                    help='runs per server before the timed ones, left out of the table')
    ap.add_argument('--perf', help='record the daemons with perf into this folder')
    ap.add_argument('--tests', default='stream,commit,active,mirror,backup,guest')
    ap.add_argument('--blockgraphd', default=os.environ.get('BLOCKGRAPHD') or
                    os.path.join(HERE, '..', 'build', 'daemon', 'blockgraphd'))
    args = ap.parse_args()
    for tool in ('fio', 'qemu-storage-daemon', 'qemu-img', 'qemu-io', 'dbus-daemon'):
        if not shutil.which(tool):
            print('SKIP: %s not installed' % tool)
            sys.exit(77)
    tests = args.tests.split(',')
    workdir = tempfile.mkdtemp(prefix='bg-jobs-bench-', dir='/dev/shm')
    try:
        masters = make_masters(workdir)
        rows = []
        for job in [j for j in ('stream', 'commit', 'active', 'mirror', 'backup') if j in tests]:
            what = {'mirror': 'mirror 1 GiB', 'backup': 'backup full 1 GiB'}.get(job,
                                                                               job + ' 512 MiB')
            if job == 'backup':
                def one(name, server, label):
                    return time_backup(server, masters, workdir, args, name, label)
            else:
                def one(name, server, label, job=job):
                    return time_job(server, masters, workdir, args, name, job, label)
            rows.append((what, run_reps(args, job, what, one)))
        print_table(rows)
        times = {what.split()[0]: {n: statistics.median(w for w, _ in r) for n, r in runs.items()}
                 for what, runs in rows}
        stream = times.get('stream', {})
        if 'guest' not in tests or not stream:
            return
        print()
        rows = []
        for name, server in SERVERS:
            idle, busy, secs = guest_rate(server, masters, workdir, args, name, stream[name])
            print('  %-10s randwrite-4k-qd32: idle %10.1f IOPS, during the stream (%.2f s) '
                  '%10.1f IOPS' % (name, idle, secs, busy), flush=True)
            rows.append((name, idle, busy))
        print('\n%-12s %12s %14s %10s' % ('server', 'idle IOPS', 'stream IOPS', 'fraction'))
        for name, idle, busy in rows:
            print('%-12s %12.1f %14.1f %9.0f%%' % (name, idle, busy, 100 * busy / idle))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
