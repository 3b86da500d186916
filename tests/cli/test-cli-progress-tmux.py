#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl job wait in a real terminal (a tmux pane): on a slow stream job the
# pane shows one progress bar, redrawn in place, with percent, bytes, rate
# and time left.  Ctrl-C ends the line, says the job goes on and exits 130
# (the job still runs); waiting again, the bar stays at 100% when the job
# ends and bgctl exits 0.
import os
import re
import shlex
import subprocess
import sys
import time

import clitest
from clitest import bgtest, ok

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'interop'))
import jobtest  # noqa: E402

MiB = 1 << 20
BAR = re.compile(r'\[[#.]+\] +(\d+)%  \S+ \w?i?B / 32 MiB  ([\d.]+) (\w?i?B)/s  (\S+) left  (\w+)')


class Tmux:
    def __init__(self, d, command):
        self.sock = os.path.join(d.tmpdir, 'tmux.sock')
        self.run('new-session', '-d', '-x', '120', '-y', '20', command)

    def run(self, *args):
        return subprocess.run(['tmux', '-S', self.sock] + list(args), capture_output=True,
                              text=True, timeout=30, check=True).stdout

    def screen(self):
        return [line for line in self.run('capture-pane', '-p').splitlines() if line.strip()]

    def wait_for(self, predicate, what, timeout=60):
        end = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            if time.monotonic() > end:
                raise bgtest.TestFailure('tmux pane never showed %s: %r' % (what, lines))
            time.sleep(0.1)

    def close(self):
        subprocess.run(['tmux', '-S', self.sock, 'kill-server'], capture_output=True)


def moving_bar(lines, n=1):
    """The pane's line n is a bar of a running job with a measured rate."""
    if len(lines) != n:
        return False
    m = BAR.search(lines[n - 1])
    return bool(m) and m.group(5) == 'running' and float(m.group(2)) > 0


def main():
    bgtest.need_tool('tmux')
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        layers = ['base', 'top']
        paths = jobtest.make_chain(d, layers, size=32 * MiB,
                                   writes={'base': ['write -P 0x11 0 32M']})
        jobtest.add_chain(d, layers, paths)
        ok(d, 'job', 'start', '-',
           input='<job type="stream" id="slow" node-name="top" speed="1M"/>')
        wait = '%s --address %s job wait slow; echo EXIT=$?' % (
            shlex.quote(clitest.BGCTL), shlex.quote(d.address))
        command = '%s; %s; sleep 60' % (wait, wait)
        tmux = Tmux(d, command)
        try:
            lines = tmux.wait_for(moving_bar, 'a bar with a rate')
            m = BAR.search(lines[0])
            bgtest.check(0 <= int(m.group(1)) < 100, 'percent of a running job: %r' % lines)
            bgtest.check(lines[0].startswith('['), 'the bar starts the line: %r' % lines)
            # Ctrl-C: the job goes on; the second wait draws its bar below.
            tmux.run('send-keys', 'C-c')
            lines = tmux.wait_for(lambda ls: moving_bar(ls, 4), 'a second bar')
            bgtest.check_equal(lines[1:3], ["bgctl: stopped waiting; job 'slow' goes on",
                                            'EXIT=130'])
            bgtest.check_equal(str(jobtest.job_props(d, 'slow')['Status']), 'running')
            # Lift the limit: the job ends, the bar stays at 100%, bgctl exits 0.
            d.iface(jobtest.job_path(d, 'slow'), jobtest.JOB).SetSpeed(jobtest.dbus_u64(0))
            lines = tmux.wait_for(lambda ls: ls[-1].startswith('EXIT=') and len(ls) == 5,
                                  'the exit')
            bgtest.check_equal(lines[-1], 'EXIT=0')
            bgtest.check_equal(len(lines), 5, 'one bar, redrawn in place: %r' % lines)
            m = BAR.search(lines[3])
            bgtest.check(m and m.group(1) == '100' and m.group(5) == 'concluded',
                         'final bar: %r' % lines)
        finally:
            tmux.close()


bgtest.run(main)
