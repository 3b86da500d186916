#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# stream (QEMU iotest 030's checks): streaming mid into top with base-node
# leaves top holding what mid held, the data unchanged (qemu-img compare with
# what the chain showed before), top's header and backing link naming base;
# the whole chain (no base) leaves top without a backing file; bottom means
# the last node streamed.  The job shows in Node.Users while it runs.
import jobtest
from jobtest import bgtest, run, MiB

LAYERS = ['base', 'mid', 'top']
WRITES = {
    'base': ['write -P 0x11 0 8M'],
    'mid': ['write -P 0x22 1M 2M', 'write -z 6M 1M'],
    'top': ['write -P 0x33 2M 512k'],
}


def start(d, xml):
    return d.manager.StartJob(xml)


def test_base_node(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    jobtest.add_chain(d, LAYERS, paths)
    ref = jobtest.reference(d, paths['top'])
    start(d, '<job type="stream" id="s0" node-name="top" base-node="base" auto-dismiss="off"/>')
    p = jobtest.wait_status(d, 's0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'no error')
    bgtest.check_equal(int(p['CurrentProgress']), int(p['TotalProgress']), 'progress at the end')
    bgtest.check_equal(str(p['Type']), 'stream')
    jobtest.job(d, 's0').Dismiss()
    children = {str(c[0]): str(c[1]) for c in d.node_props('top')['Children']}
    bgtest.check_equal(children.get('backing'), 'base', 'top now backed by base')
    users = [str(u[0]) for u in d.node_props('top')['Users']]
    bgtest.check('job:s0' not in users, 'the job let go of top: %r' % users)
    bgtest.check_equal(jobtest.backing_of(paths['top'])[0], paths['base'], 'header backing file')
    d.node('top').Flush()
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, 'data unchanged after stream: ' + out)
    held = jobtest.allocated_ranges(paths['top'])
    for start_, length in ((1 * MiB, 2 * MiB), (6 * MiB, MiB), (2 * MiB, 512 * 1024)):
        bgtest.check(jobtest.covers(held, start_, length),
                     'top holds [%d, +%d): %r' % (start_, length, held))
    bgtest.check(not any(s < MiB for s, n in held),
                 'what only base held stays in base: %r' % held)
    jobtest.check_clean(paths['top'])


def test_whole_chain(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    jobtest.add_chain(d, LAYERS, paths)
    ref = jobtest.reference(d, paths['top'])
    sig = d.signals()     # before the job starts: it may be over at once
    start(d, '<job type="stream" id="s1" node-name="top"/>')
    sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=60)
    done = sig.named('Completed')[0][3]
    bgtest.check(bool(done[0]), 'Completed(success): %r' % (done,))
    children = {str(c[0]) for c in d.node_props('top')['Children']}
    bgtest.check('backing' not in children, 'no backing node after a whole-chain stream')
    bgtest.check_equal(jobtest.backing_of(paths['top'])[0], None, 'no backing file in the header')
    d.node('top').Flush()
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, 'data unchanged after a whole-chain stream: ' + out)
    jobtest.check_clean(paths['top'])


def test_bottom(d):
    layers = ['b0', 'b1', 'b2', 'b3']
    paths = jobtest.make_chain(d, layers, writes={
        'b0': ['write -P 0x10 0 4M'], 'b1': ['write -P 0x11 1M 1M'],
        'b2': ['write -P 0x12 2M 1M'], 'b3': ['write -P 0x13 3M 64k']})
    jobtest.add_chain(d, layers, paths)
    ref = jobtest.reference(d, paths['b3'], 'ref3.raw')
    start(d, '<job type="stream" id="s2" node-name="b3" bottom="b2" backing-file="b1.qcow2"'
             ' auto-dismiss="off"/>')
    jobtest.wait_status(d, 's2', 'concluded')
    jobtest.job(d, 's2').Dismiss()
    children = {str(c[0]): str(c[1]) for c in d.node_props('b3')['Children']}
    bgtest.check_equal(children.get('backing'), 'b1', 'bottom=b2 streams b2 only')
    bgtest.check_equal(jobtest.backing_of(paths['b3'])[0], 'b1.qcow2', 'backing-file written')
    d.node('b3').Flush()
    ok, out = jobtest.compare(ref, paths['b3'])
    bgtest.check(ok, 'data unchanged: ' + out)


def main():
    jobtest.need_qemu()
    for t in (test_base_node, test_whole_chain, test_bottom):
        with bgtest.Daemon() as d:
            t(d)


bgtest.run(main)
