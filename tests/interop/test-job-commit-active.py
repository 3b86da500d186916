#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Active commit (QEMU iotest 040's checks): committing the active layer
# needs `ready` (PropertiesChanged on Status) and then Complete(); an NBD
# client writes through an export of the top before, during and after the
# job and stays connected across the pivot: the export then names the base,
# and its later writes land there.  The base then equals what `qemu-img
# commit` makes of a copy of the chain with the same writes, and qemu-img
# check is clean.  A soft Cancel once ready leaves the top in use and the
# base consistent.  Bad input and verbs in the wrong state change nothing.
import os

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

LAYERS = ['base', 'mid', 'top']
WRITES = {'base': ['write -P 0x11 0 16M'], 'mid': ['write -P 0x22 1M 3M', 'write -z 6M 1M'],
          'top': ['write -P 0x33 2M 512k', 'write -P 0x34 9M 1M']}
# (pattern, offset, length) the client writes while the job runs, once ready, after the pivot
DURING = [(0x41, 0, 4096), (0x42, 3 * MiB + 4096, 1 * MiB), (0x43, 8 * MiB - 512, 8192)]
READY = [(0x51, 2 * MiB + 65536, 65536), (0x52, 15 * MiB, 4096)]
AFTER = [(0x61, 12 * MiB, 65536)]


def write_all(client, writes):
    for pattern, off, length in writes:
        bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0,
                           'client write 0x%02x' % pattern)


def users(d, node):
    return sorted(str(u[0]) for u in d.node_props(node)['Users'])


def check_bad_input(d):
    before = d.graph_xml()
    for name, xml in [
            ('InvalidArgument', 'node-name="top" base-node="top"'),
            ('InvalidArgument', 'node-name="mid" base-node="top"'),
            ('InvalidArgument', 'node-name="top" top-node="top" base-node="other"'),
            ('InvalidArgument', 'node-name="base"'),
            ('NotFound', 'node-name="top" base-node="nosuch"')]:
        bgtest.expect_error(name, d.manager.StartJob, '<job type="commit" id="c" %s/>' % xml)
    bgtest.check_equal(d.graph_xml(), before, 'graph after refused commits')


def check_active_commit(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    jobtest.add_chain(d, LAYERS, paths)
    d.manager.AddNode('<blockdev driver="null-co" node-name="other" size="16M"/>')
    check_bad_input(d)
    ref_base = jobtest.reference_commit(d, paths, LAYERS, guest_writes=DURING + READY + AFTER)
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    nbdtest.add_export(d, 'e0', 'top', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'top')
    sig = d.signals()
    d.manager.StartJob('<job type="commit" id="c0" node-name="top" base-node="base" '
                       'speed="1M" auto-dismiss="off"/>')
    jobtest.wait_status(d, 'c0', 'running')
    j = jobtest.job(d, 'c0')
    e = bgtest.expect_error('InvalidState', j.Complete)
    bgtest.check_equal(e.get_dbus_message(),
                       "Job 'c0' in state 'running' cannot accept command verb 'complete'")
    write_all(client, DURING)
    running = str(jobtest.job_props(d, 'c0')['Status'])
    j.SetSpeed(jobtest.dbus_u64(0))
    jobtest.wait_status(d, 'c0', 'ready')
    bgtest.check(running == 'running', 'the writes overlapped the copy (was %s)' % running)
    sig.wait_for(lambda items: any(str(i[2]).endswith('/job/c0') and
                                   str(i[3][1].get('Status', '')) == 'ready'
                                   for i in items if i[1] == 'PropertiesChanged'))
    bgtest.expect_error('InvalidState', j.Finalize)
    write_all(client, READY)
    bgtest.check_equal(str(jobtest.job_props(d, 'c0')['Status']), 'ready', 'still ready')
    j.Complete()
    p = jobtest.wait_status(d, 'c0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'active commit succeeded')
    j.Dismiss()
    bgtest.check_equal(str(nbdtest.export_props(d, 'e0')['NodeName']), 'base', 'export moved')
    bgtest.check('export:e0' in users(d, 'base'), 'base used by the export: %r' % users(d, 'base'))
    bgtest.check('export:e0' not in users(d, 'top'), 'top released: %r' % users(d, 'top'))
    write_all(client, AFTER)       # the same connection, now on the base
    for pattern, off, length in DURING + READY + AFTER:
        err, data = client.read(off, length)
        bgtest.check(err == 0 and data == bytes([pattern]) * length,
                     'client reads back 0x%02x at %d' % (pattern, off))
    bgtest.check_equal(client.simple(nbdwire.CMD_FLUSH), 0, 'flush through the client')
    client.disconnect()
    p = run(['qemu-img', 'compare', '-U', '-f', 'qcow2', '-F', 'qcow2', ref_base,
             paths['base']], check=False)
    bgtest.check(p.returncode == 0, 'base equals qemu-img commit: ' + p.stdout + p.stderr)
    jobtest.check_clean(paths['base'])
    # The old top, read by nobody, does not hold the base still: reopening
    # it checks its chain's permissions against the export writing the base.
    d.node('top').Reopen('<blockdev driver="qcow2" node-name="top"><file ref="top-file"/>'
                         '<backing ref="mid"/></blockdev>')
    d.manager.RemoveNode('top')     # nobody uses the old top any more
    d.manager.RemoveNode('mid')


def check_cancel_when_ready(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    jobtest.add_chain(d, LAYERS, paths)
    ref = jobtest.reference(d, paths['top'])
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    nbdtest.add_export(d, 'e0', 'top', sock, writable=True)
    d.manager.StartJob('<job type="commit" id="c1" node-name="top" auto-dismiss="off"/>')
    jobtest.wait_status(d, 'c1', 'ready')
    jobtest.job(d, 'c1').Cancel(False)
    p = jobtest.wait_status(d, 'c1', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'a soft cancel once ready ends the job')
    bgtest.check_equal(str(nbdtest.export_props(d, 'e0')['NodeName']), 'top', 'no pivot')
    children = {str(c[0]): str(c[1]) for c in d.node_props('top')['Children']}
    bgtest.check_equal(children.get('backing'), 'mid', 'top keeps its chain')
    bgtest.check('job:c1' not in users(d, 'base'), 'base released')
    d.node('base').Flush()
    jobtest.check_clean(paths['base'])
    ok, out = jobtest.compare(ref, paths['base'])
    bgtest.check(ok, 'the base holds what the top shows: ' + out)
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, 'the top is unchanged: ' + out)


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_active_commit(d)
    with bgtest.Daemon() as d:
        check_cancel_when_ready(d)


bgtest.run(main)
