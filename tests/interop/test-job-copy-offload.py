#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copy offload (node_co_copy_range): intermediate commit, active commit,
# mirror and full backup between qcow2 images on files copy their data with
# copy_file_range(2) (strace counts the calls that copied something), and
# the results equal what qemu-img makes (qemu-img commit on a copy of the
# chain, the mirror and backup source itself: qemu-img compare; qemu-img
# check clean).
# Where offload cannot be used the buffer path does it, with the same
# results: a throttle filter between job and source (no copy_file_range at
# all), compressed clusters in the committed layer.
import os
import re
import signal
import subprocess
import time

import jobtest
from jobtest import bgtest, run, MiB

SIZE = 8 * MiB
TRACE_RE = re.compile(r'copy_file_range\(.*\)\s+=\s+(\d+)')


class Tracer:
    """strace attached to the daemon (all its threads); stop() detaches
    and counts the copy_file_range calls that copied bytes."""

    def __init__(self, d):
        self.path = os.path.join(d.tmpdir, 'strace.out')
        self.proc = subprocess.Popen(['strace', '-f', '-qq', '-e', 'trace=copy_file_range',
                                      '-o', self.path, '-p', str(d.proc.pid)])
        deadline = time.monotonic() + 60
        while not self.attached(d.proc.pid):
            bgtest.check(time.monotonic() < deadline and self.proc.poll() is None,
                         'strace did not attach to the daemon')
            time.sleep(0.02)

    def attached(self, pid):
        return all(t['TracerPid'] == str(self.proc.pid) for t in bgtest.thread_status(pid))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)
        with open(self.path) as f:
            return sum(1 for line in f if (m := TRACE_RE.search(line)) and int(m.group(1)) > 0)


def run_traced(check):
    with bgtest.Daemon() as d:
        tracer = Tracer(d)
        try:
            check(d)
        finally:
            n = tracer.stop()
    return n


def same_qcow2(a, b, what):
    p = run(['qemu-img', 'compare', '-U', '-f', 'qcow2', '-F', 'qcow2', a, b], check=False)
    bgtest.check(p.returncode == 0, what + ': ' + p.stdout + p.stderr)


def finish(d, jid, complete=False):
    if complete:
        jobtest.wait_status(d, jid, 'ready')
        jobtest.job(d, jid).Complete()
    p = jobtest.wait_status(d, jid, 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'job %s succeeded' % jid)
    jobtest.job(d, jid).Dismiss()


def check_commit(d, layers, writes, job_xml, active):
    paths = jobtest.make_chain(d, layers, SIZE, writes)
    # intermediate: the top stays, what is below it goes into the base
    ref = jobtest.reference_commit(d, paths, layers if active else layers[:-1])
    jobtest.add_chain(d, layers, paths)
    d.manager.StartJob(job_xml)
    finish(d, 'c', complete=active)
    d.node(layers[0]).Flush()
    same_qcow2(ref, paths[layers[0]], 'base equals qemu-img commit')
    jobtest.check_clean(paths[layers[0]])


def intermediate(d):
    check_commit(d, ['base', 'mid', 'top'],
                 {'base': ['write -P 0x11 0 8M'], 'mid': ['write -P 0x22 1M 3M'],
                  'top': ['write -P 0x33 64k 2M']},
                 '<job type="commit" id="c" node-name="top" top-node="mid" base-node="base" '
                 'auto-dismiss="off"/>', False)


def active_compressed(d):
    check_commit(d, ['base', 'top'],
                 {'base': ['write -P 0x11 0 8M'],
                  'top': ['write -P 0x33 0 3M', 'write -c -P 0x44 4M 128k']},
                 '<job type="commit" id="c" node-name="top" auto-dismiss="off"/>', True)


def mirror(d, through_throttle):
    src = jobtest.make_chain(d, ['src'], SIZE, {'src': ['write -P 0x55 0 3M',
                                                        'write -P 0x56 5M 1M']})['src']
    dst = os.path.join(d.tmpdir, 'dst.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', dst, str(SIZE)])
    jobtest.add_chain(d, ['src'], {'src': src})
    jobtest.add_chain(d, ['dst'], {'dst': dst})
    node = 'src'
    if through_throttle:
        d.manager.SetThrottleGroup('<throttle-group id="g" iops-total="100000"/>')
        d.manager.AddNode('<blockdev driver="throttle" node-name="thr" throttle-group="g">'
                          '<file ref="src"/></blockdev>')
        node = 'thr'
    d.manager.StartJob('<job type="mirror" id="m" node-name="%s" target="dst" sync="full" '
                       'auto-dismiss="off"/>' % node)
    finish(d, 'm', complete=True)
    d.node('dst').Flush()
    same_qcow2(src, dst, 'mirror target equals the source')
    jobtest.check_clean(dst)


def backup(d):
    """A full backup of a chain into a fresh qcow2 (zeroes and both layers'
    data); the copy-before-write side is test-job-backup's."""
    paths = jobtest.make_chain(d, ['base', 'top'], SIZE,
                               {'base': ['write -P 0x11 0 8M'],
                                'top': ['write -P 0x33 1M 2M', 'write -z 5M 1M']})
    bk = os.path.join(d.tmpdir, 'bk.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', bk, str(SIZE)])
    jobtest.add_chain(d, ['base', 'top'], paths)
    jobtest.add_chain(d, ['bk'], {'bk': bk})
    d.manager.StartJob('<job type="backup" id="b" node-name="top" target="bk" sync="full" '
                       'auto-dismiss="off"/>')
    finish(d, 'b')
    d.node('bk').Flush()
    same_qcow2(paths['top'], bk, 'backup equals the source')
    jobtest.check_clean(bk)


def main():
    jobtest.need_qemu()
    bgtest.need_tool('strace')
    for name, check in [('intermediate commit', intermediate),
                        ('active commit (with compressed clusters)', active_compressed),
                        ('mirror', lambda d: mirror(d, False)),
                        ('full backup', backup)]:
        n = run_traced(check)
        bgtest.check(n > 0, '%s: no copy_file_range copied anything' % name)
    n = run_traced(lambda d: mirror(d, True))
    bgtest.check_equal(n, 0, 'copy_file_range calls with a throttle between')


bgtest.run(main)
