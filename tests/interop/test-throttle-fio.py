#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The throttle filter holds a throttle group's limit: fio reads through an
# NBD export of a throttle node for a few seconds, and the number of reads
# that completed stays within what the group's budget allows for the time
# fio ran (upper bounds only: a slow machine completes fewer, never more).
# Two nodes in one group share its budget, round robin; a limit set while
# the nodes are open takes effect; a drain does not wait for the queue.
import os
import subprocess
import threading
import time
import nbdtest
from nbdtest import bgtest, MiB

SPAN = 16 * MiB


def fio_reads(uri, seconds, tag, iodepth=8):
    """Runs fio randread for `seconds`; returns the number of reads completed."""
    p = subprocess.run(
        ['fio', '--name=' + tag, '--ioengine=nbd', '--uri=' + uri, '--rw=randread',
         '--bs=4k', '--iodepth=%d' % iodepth, '--size=%d' % SPAN, '--time_based',
         '--runtime=%d' % seconds, '--output-format=terse', '--terse-version=3'],
        capture_output=True, text=True, timeout=120)
    bgtest.check_equal(p.returncode, 0, 'fio %s exit status\n%s%s' % (tag, p.stdout, p.stderr))
    fields = p.stdout.strip().splitlines()[-1].split(';')
    return int(fields[5]) // 4  # read: KiB transferred (terse v3 field 6), 4 KiB each


def budget(iops, seconds):
    """Reads a group of `iops` allows in `seconds`: the rate, a tenth of a second's
    burst (QEMU's bucket without -max), and the requests fio had in flight."""
    return iops * seconds + iops / 10 + 1 + 16


def add_disk(d, name, img, group, sock):
    d.manager.AddNode('<blockdev driver="throttle" node-name="%s" throttle-group="%s">'
                      '<file driver="raw"><file driver="file" filename="%s"/></file>'
                      '</blockdev>' % (name, group, img))
    _, uri = nbdtest.add_export(d, 'e-' + name, name, sock)
    return uri


def timed(fn, *args):
    t0 = time.monotonic()
    n = fn(*args)
    return n, time.monotonic() - t0


def one_node(d, img):
    d.manager.SetThrottleGroup('<throttle-group id="g0" iops-total="50"/>')
    uri = add_disk(d, 't0', img, 'g0', os.path.join(d.tmpdir, 't0.sock'))
    n, elapsed = timed(fio_reads, uri, 1, 'one')
    bgtest.check(n >= 5, 'some reads completed through the throttle (%d)' % n)
    bgtest.check(n <= budget(50, elapsed),
                 '%d reads in %.1f s through iops-total=50 (budget %.0f)'
                 % (n, elapsed, budget(50, elapsed)))
    # A lower limit set at run time applies to the open node.
    d.manager.SetThrottleGroup('<throttle-group id="g0" iops-total="10"/>')
    n, elapsed = timed(fio_reads, uri, 1, 'lowered')
    bgtest.check(n <= budget(10, elapsed),
                 '%d reads in %.1f s after lowering to iops-total=10 (budget %.0f)'
                 % (n, elapsed, budget(10, elapsed)))
    return uri


def shared_group(d, img):
    d.manager.SetThrottleGroup('<throttle-group id="g1" iops-total="40"/>')
    uris = [add_disk(d, 's%d' % i, img, 'g1', os.path.join(d.tmpdir, 's%d.sock' % i))
            for i in range(2)]
    counts = [0, 0]

    def run(i):
        counts[i] = fio_reads(uris[i], 2, 'shared%d' % i)

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    total = sum(counts)
    bgtest.check(total <= budget(40, elapsed) + 16,
                 'two nodes in one group did %s reads in %.1f s with iops-total=40 '
                 '(budget %.0f)' % (counts, elapsed, budget(40, elapsed) + 16))
    for i in range(2):
        bgtest.check(counts[i] >= total / 4,
                     'node s%d got a fair share of the group: %s' % (i, counts))


def drain_flushes_queue(d, uri):
    # Requests wait in the queue at one read a second; a reopen drains the
    # node, which lets them go instead of waiting a minute for them.
    d.manager.SetThrottleGroup('<throttle-group id="g0" iops-total="1"/>')
    d.manager.SetThrottleGroup('<throttle-group id="g2"/>')
    fio = threading.Thread(target=fio_reads, args=(uri, 2, 'drain', 64))
    fio.start()
    time.sleep(1)
    node = d.iface(d.node_path('t0'), bgtest.NODE)
    node.Reopen('<blockdev driver="throttle" node-name="t0" throttle-group="g2">'
                '<file ref="%s"/></blockdev>' % d.node_props('t0')['Children'][0][1],
                timeout=30)
    fio.join()
    bgtest.check_equal(str(d.node_props('t0')['Driver']), 'throttle')


def main():
    bgtest.need_tool('fio')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.img')
        # Filled, as QEMU's throttling is measured on data, not holes.
        nbdtest.make_image(img, SPAN, [(0, os.urandom(SPAN))])
        uri = one_node(d, img)
        shared_group(d, img)
        drain_flushes_queue(d, uri)


bgtest.run(main)
