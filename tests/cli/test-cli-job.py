#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl's job commands on a stream held back by its speed limit: start,
# list (table and --json against the daemon's properties), pause, resume,
# speed, cancel, dismiss, finalize, a verb the state does not take (the
# daemon's message, exit 1), and job wait away from a terminal: one line a
# second, exit 0 for a job that succeeded or waits in pending, 1 for a
# cancelled one.
import os
import re
import subprocess
import sys
import time

import clitest
from clitest import bgtest, json_of, ok, fails, plain

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'interop'))
import jobtest  # noqa: E402

MiB = 1 << 20


def chain(d, prefix):
    """base <- top, base full of data; returns the top's node-name."""
    layers = [prefix + 'base', prefix + 'top']
    paths = jobtest.make_chain(d, layers, size=4 * MiB,
                               writes={layers[0]: ['write -P 0x11 0 4M']})
    jobtest.add_chain(d, layers, paths)
    return layers[1]


def start(d, jid, top, extra=''):
    snippet = '<job type="stream" id="%s" node-name="%s" %s/>' % (jid, top, extra)
    bgtest.check_equal(ok(d, 'job', 'start', '-', input=snippet), "Added job '%s'.\n" % jid)


def check_control(d):
    top = chain(d, 'a')
    start(d, 'j0', top, 'speed="64k" auto-dismiss="off"')
    jobtest.wait_status(d, 'j0', 'running')
    fails(d, 1, "Job 'j0' in state 'running' cannot accept command verb 'complete'",
          'job', 'complete', 'j0')
    fails(d, 1, "Job 'j0' in state 'running' cannot accept command verb 'dismiss'",
          'job', 'dismiss', 'j0')
    ok(d, 'job', 'pause', 'j0')
    jobtest.wait_status(d, 'j0', 'paused')
    listed = json_of(d, 'job', 'list')
    bgtest.check_equal(listed, {'jobs': [plain(jobtest.job_props(d, 'j0'))]})
    table = ok(d, 'job', 'list').splitlines()
    bgtest.check_equal(table[0].split()[:3], ['JOB', 'TYPE', 'STATUS'])
    bgtest.check_equal(table[1].split()[:3], ['j0', 'stream', 'paused'])
    bgtest.check_equal(ok(d, 'job', 'list', '-q'), 'j0\n')
    ok(d, 'job', 'speed', 'j0', '128k')
    bgtest.check_equal(int(jobtest.job_props(d, 'j0')['Speed']), 128 * 1024)
    fails(d, 2, "'12q' is not a speed", 'job', 'speed', 'j0', '12q')
    ok(d, 'job', 'resume', 'j0')
    jobtest.wait_status(d, 'j0', 'running')
    ok(d, 'job', 'cancel', 'j0')
    p = clitest.bgctl(d, 'job', 'wait', 'j0', check=1)
    bgtest.check("job 'j0' failed: Job was cancelled" in p.stderr, p.stderr)
    bgtest.check('job j0: concluded' in p.stdout, p.stdout)
    ok(d, 'job', 'dismiss', 'j0')
    fails(d, 1, "No job 'j0' known", 'job', 'pause', 'j0')
    fails(d, 1, "No job 'j0' known", 'job', 'wait', 'j0')
    fails(d, 1, "expected <job>, not <export>", 'job', 'start', '-', input='<export/>')
    fails(d, 1, "No node 'nosuch' known", 'job', 'start', '-',
          input='<job type="stream" id="x" node-name="nosuch"/>')


def check_wait(d):
    """Two and a bit seconds of stream at 1 MiB/s: a line a second, exit 0."""
    top = chain(d, 'b')
    start(d, 'j1', top, 'speed="1M"')
    p = clitest.bgctl(d, 'job', 'wait', 'j1', check=0)
    lines = p.stdout.splitlines()
    for line in lines:
        bgtest.check(re.match(r'job j1: \w+ \d+% [\d.]+ \w?i?B / 4 MiB, [\d.]+ \w?i?B/s, '
                              r'(\S+|\?) left$', line), 'line %r' % line)
    bgtest.check(len(lines) >= 2, 'a line a second and a last one: %r' % lines)
    bgtest.check(lines[-1].startswith('job j1: concluded 100% 4 MiB / 4 MiB'), lines[-1])

    # --json: the final state, Success true
    top = chain(d, 'c')
    start(d, 'j2', top, 'speed="8M" auto-dismiss="off"')
    out = json_of(d, 'job', 'wait', 'j2')
    bgtest.check_equal((out['Success'], out['Error']), (True, ''))
    bgtest.check_equal(out['Job']['Status'], 'concluded')
    bgtest.check_equal(out['Job']['CurrentProgress'], 4 * MiB)
    ok(d, 'job', 'dismiss', 'j2')

    # auto-finalize off: job wait returns at pending and says what to do
    top = chain(d, 'e')
    start(d, 'j3', top, 'speed="8M" auto-finalize="off"')
    out = ok(d, 'job', 'wait', 'j3')
    bgtest.check("Job 'j3' is pending: 'bgctl job finalize j3' finishes it." in out, out)
    bgtest.check_equal(str(jobtest.job_props(d, 'j3')['Status']), 'pending')
    ok(d, 'job', 'finalize', 'j3')
    end = time.monotonic() + 30
    while ok(d, 'job', 'list', '--quiet') != '':   # concluded, then dismissed
        bgtest.check(time.monotonic() < end, 'j3 still listed after finalize')
        time.sleep(0.1)


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_control(d)
        check_wait(d)


bgtest.run(main)
