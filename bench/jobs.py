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
  Active commit is to come with the active commit job.
- guest: fio (ioengine=nbd) 4k random writes at iodepth 32 through an NBD
  export of the overlay, into its written half (so that the clusters the
  stream allocates do not make the guest's writes cheaper), idle and while
  a stream runs (no speed limit); the fio run lasts 40% of the idle
  stream's time so that the stream covers it.
  Reports the rate during the stream as a fraction of the idle rate, and
  whether the stream was still running when fio stopped.

  bench/jobs.py [--reps 1] [--blockgraphd PATH] [--tests stream,commit,guest]

Build blockgraphd without sanitizers (meson setup build-rel
--buildtype=release).  A measurement, never a test assertion.
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
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
sys.path.insert(0, HERE)
from fiolib import run_fio, wait_for_socket  # noqa: E402
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


def copy_images(workdir, masters, name, active=False):
    """Fresh copies of base and top for one run; top's header names its base
    copy.  active: an empty overlay 'act' over top as the chain's top."""
    base = os.path.join(workdir, name + '-base.qcow2')
    top = os.path.join(workdir, name + '-top.qcow2')
    shutil.copyfile(masters[0], base)
    shutil.copyfile(masters[1], top)
    subprocess.run(['qemu-img', 'rebase', '-u', '-b', base, '-F', 'qcow2', top], check=True)
    if not active:
        return base, top
    act = os.path.join(workdir, name + '-act.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', top, '-F', 'qcow2',
                    act, '1G'], check=True)
    return base, top, act


# ---- blockgraphd ---------------------------------------------------------------------

@contextlib.contextmanager
def blockgraph(imgs, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n')
        below = None
        for name, img in zip(LAYERS, imgs):
            f.write('  <blockdev driver="qcow2" node-name="%s">\n'
                    '    <file driver="file" filename="%s" aio="threads"/>\n'
                    '    <backing%s/>\n  </blockdev>\n'
                    % (name, img, ' ref="%s"' % below if below else ''))
            below = name
        f.write('  <export type="nbd" id="e0" node-name="%s" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (below, sock))
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
        self.sig = d.signals()

    def start_stream(self):
        self.d.manager.StartJob('<job type="stream" id="j0" node-name="top"/>')

    def start_commit(self):
        self.d.manager.StartJob('<job type="commit" id="j0" node-name="act" top-node="top" '
                                'base-node="base"/>')

    def running(self):
        path = self.d.manager_path('job', 'j0')
        try:
            return str(self.d.props(path, JOB)['Status']) != 'concluded'
        except Exception:
            return False        # dismissed: it ended

    def wait_done(self):
        self.sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=600)
        ok, err = self.sig.named('Completed')[0][3][:2]
        if not ok:
            sys.exit('blockgraphd job failed: %s' % err)


# ---- qemu-storage-daemon -------------------------------------------------------------

@contextlib.contextmanager
def qsd(imgs, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    qmp_sock = os.path.join(workdir, 'qmp.sock')
    cmd = ['qemu-storage-daemon']
    below = None
    for name, img in zip(LAYERS, imgs):
        cmd += ['--blockdev', 'driver=file,node-name=%s-file,filename=%s,aio=threads' % (name, img),
                '--blockdev', 'driver=qcow2,node-name=%s,file=%s-file%s'
                % (name, name, ',backing=' + below if below else '')]
        below = name
    proc = subprocess.Popen(
        cmd + [
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=%s,name=disk0,writable=on' % below,
         '--chardev', 'socket,id=m,path=%s,server=on,wait=off' % qmp_sock,
         '--monitor', 'chardev=m'], stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, 'qemu-storage-daemon')
        wait_for_socket(qmp_sock, proc, 'qemu-storage-daemon')
        yield QsdJobs(Qmp(qmp_sock)), 'nbd+unix:///disk0?socket=' + sock
    finally:
        proc.terminate()
        proc.wait()
        for p in (sock, qmp_sock):
            if os.path.exists(p):
                os.unlink(p)


class QsdJobs:
    def __init__(self, qmp):
        self.qmp = qmp

    def start_stream(self):
        self.qmp.cmd('block-stream', **{'job-id': 'j0', 'device': 'top'})

    def start_commit(self):
        self.qmp.cmd('block-commit', **{'job-id': 'j0', 'device': 'act', 'top-node': 'top',
                                        'base-node': 'base'})

    def running(self):
        return any(j['id'] == 'j0' and j['status'] != 'concluded'
                   for j in self.qmp.cmd('query-jobs'))

    def wait_done(self):
        e = self.qmp.wait_event('BLOCK_JOB_COMPLETED')
        if 'error' in e['data']:
            sys.exit('qemu-storage-daemon job failed: %s' % e['data']['error'])


SERVERS = [('blockgraph', blockgraph), ('qsd', qsd)]


# ---- the measurements ----------------------------------------------------------------

def time_job(server, masters, workdir, args, name, job):
    imgs = copy_images(workdir, masters, name, active=job == 'commit')
    with server(imgs, workdir, args) as (jobs, _):
        t0 = time.monotonic()
        getattr(jobs, 'start_' + job)()
        jobs.wait_done()
        elapsed = time.monotonic() - t0
    check_data(imgs[-1], masters[1], name)
    return elapsed


def check_data(top, master_top, name):
    """The job must not change what the guest sees (a bench of a wrong copy is void)."""
    p = subprocess.run(['qemu-img', 'compare', '-q', top, master_top])
    if p.returncode != 0:
        sys.exit('%s: data after the job differs from the original chain' % name)


def guest_rate(server, masters, workdir, args, name, runtime_ms, during):
    imgs = copy_images(workdir, masters, name)
    with server(imgs, workdir, args) as (jobs, uri):
        if during:
            jobs.start_stream()
        iops, _ = run_fio(uri, 'randwrite', '4k', 32, '%dms' % runtime_ms, GiB // 2)
        still = jobs.running() if during else None
    return iops, still


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--reps', type=int, default=1, help='runs per server (best counts)')
    ap.add_argument('--tests', default='stream,commit,guest')
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
        times = {}
        for job in [j for j in ('stream', 'commit') if j in tests]:
            for name, server in SERVERS:
                for _ in range(args.reps):
                    t = time_job(server, masters, workdir, args, name, job)
                    best = times.setdefault(job, {})
                    best[name] = min(best.get(name, t), t)
                    print('  %-10s %-24s %10.3f s' % (name, job + ' 512 MiB', t), flush=True)
        print('\n%-28s %14s %14s %8s' % ('job', 'blockgraph s', 'qsd s', 'ratio'))
        for job, t in times.items():
            print('%-28s %14.3f %14.3f %7.2fx' % (job, t['blockgraph'], t['qsd'],
                                                   t['qsd'] / t['blockgraph']))
        stream = times.get('stream', {})
        if 'guest' not in tests or not stream:
            return
        print()
        rows = []
        for name, server in SERVERS:
            runtime_ms = max(500, int(stream[name] * 1000 * 0.4))
            idle, _ = guest_rate(server, masters, workdir, args, name, runtime_ms, False)
            busy, still = guest_rate(server, masters, workdir, args, name, runtime_ms, True)
            print('  %-10s randwrite-4k-qd32 %5d ms: idle %10.1f IOPS, during stream %10.1f IOPS%s'
                  % (name, runtime_ms, idle, busy,
                     '' if still else ' (stream ended before fio)'), flush=True)
            rows.append((name, idle, busy, still))
        print('\n%-12s %12s %14s %10s' % ('server', 'idle IOPS', 'stream IOPS', 'fraction'))
        for name, idle, busy, still in rows:
            print('%-12s %12.1f %14.1f %9.0f%%%s' % (name, idle, busy, 100 * busy / idle,
                                                      '' if still else ' *'))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
