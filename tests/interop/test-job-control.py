#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Job API on a stream held back by its speed limit: bad StartJob input
# changes nothing; verbs a state does not take fail with InvalidState and
# QEMU's message; Pause keeps the progress still and Resume goes on;
# SetSpeed lifts the limit; auto-finalize off waits in pending for Finalize,
# auto-dismiss off in concluded for Dismiss.  While it runs the job is a user
# of its nodes: RemoveNode is Busy and a Reopen of a frozen link is Frozen,
# both naming the job; an overlapping job is refused naming it.  Cancel
# leaves the chain as it was; a job running at SIGTERM does not keep the
# daemon from exiting cleanly.
import time

import dbus

import jobtest
from jobtest import bgtest, MiB

LAYERS = ['base', 'mid', 'top']
WRITES = {'base': ['write -P 0x11 0 16M'], 'mid': ['write -P 0x22 0 8M'],
          'top': ['write -P 0x33 0 64k']}
SLOW = 'speed="256k"'


def check_bad_input(d):
    before = d.graph_xml()
    cases = [
        ('InvalidArgument', '<job type="mirror-ish" id="x" node-name="top"/>', "Unknown job type"),
        ('InvalidArgument', '<job type="stream" node-name="top"/>', "'id'"),
        ('NotFound', '<job type="stream" id="x" node-name="nosuch"/>', "No node 'nosuch'"),
        ('NotFound', '<job type="stream" id="x" node-name="top" base-node="nosuch"/>',
         "No node 'nosuch'"),
        ('InvalidArgument', '<job type="stream" id="x" node-name="mid" base-node="top"/>',
         "not below"),
        ('InvalidArgument', '<job type="stream" id="x" node-name="top" base-node="base" '
         'bottom="mid"/>', 'cannot both'),
        ('InvalidArgument', '<job type="stream" id="x" node-name="top" on-error="maybe"/>',
         'on-error'),
        ('InvalidArgument', '<job type="stream" id="x" node-name="top" target="t"/>',
         "unknown attribute 'target'"),
        ('InvalidArgument', '<job type="stream" id="9x" node-name="top"/>', 'Invalid job id'),
        ('InvalidXml', '<job type="stream"', ''),
    ]
    for name, xml, text in cases:
        e = bgtest.expect_error(name, d.manager.StartJob, xml)
        bgtest.check(text in e.get_dbus_message(), '%s: %s' % (xml, e.get_dbus_message()))
    bgtest.check_equal(d.graph_xml(), before, 'graph after bad StartJob calls')
    objs = [str(p) for p in d.managed_objects() if '/job/' in str(p)]
    bgtest.check_equal(objs, [], 'no job objects after bad input')


def invalid_state(fn, jid, state, verb, *args):
    e = bgtest.expect_error('InvalidState', fn, *args)
    bgtest.check_equal(e.get_dbus_message(),
                       "Job '%s' in state '%s' cannot accept command verb '%s'"
                       % (jid, state, verb))


def check_running_job(d):
    d.manager.StartJob('<job type="stream" id="s0" node-name="top" base-node="base" %s '
                       'auto-finalize="off" auto-dismiss="off"/>' % SLOW)
    j = jobtest.job(d, 's0')
    p = jobtest.wait_status(d, 's0', 'running')
    bgtest.check_equal(int(p['Speed']), 256 * 1024)
    bgtest.check_equal(sorted(str(n) for n in p['Nodes']), ['mid', 'top'])
    bgtest.check(int(p['StartTime']) > 0, 'StartTime set')
    invalid_state(j.Complete, 's0', 'running', 'complete')
    invalid_state(j.Finalize, 's0', 'running', 'finalize')
    invalid_state(j.Dismiss, 's0', 'running', 'dismiss')
    bgtest.expect_error('InvalidState', j.Resume)
    bgtest.check_equal(str(j.GetXML()).count('id="s0"'), 1, 'GetXML')

    users = {(str(u[0]), str(u[1])) for u in d.node_props('mid')['Users']}
    bgtest.check(('job:s0', 'job') in users, 'the job uses mid: %r' % users)
    e = bgtest.expect_error('Busy', d.manager.RemoveNode, 'mid')
    bgtest.check("job 's0'" in e.get_dbus_message(), e.get_dbus_message())
    e = bgtest.expect_error('Frozen', d.node('top').Reopen,
                            '<blockdev driver="qcow2"><file ref="top-file"/>'
                            '<backing ref="base"/></blockdev>')
    bgtest.check("job 's0'" in e.get_dbus_message(), e.get_dbus_message())
    e = bgtest.expect_error('Busy', d.manager.StartJob,
                            '<job type="stream" id="s1" node-name="top"/>')
    bgtest.check("job 's0'" in e.get_dbus_message(), e.get_dbus_message())
    e = bgtest.expect_error('Exists', d.manager.StartJob,
                            '<job type="stream" id="s0" node-name="base"/>')

    j.Pause()
    p = jobtest.wait_status(d, 's0', 'paused')
    invalid_state(j.Complete, 's0', 'paused', 'complete')
    first = int(p['CurrentProgress'])
    time.sleep(0.5)
    bgtest.check_equal(int(jobtest.job_props(d, 's0')['CurrentProgress']), first,
                       'no progress while paused')
    j.Resume()
    jobtest.wait_status(d, 's0', 'running')
    j.SetSpeed(dbus.UInt64(0))
    p = jobtest.wait_status(d, 's0', 'pending')
    bgtest.check_equal(int(p['CurrentProgress']), int(p['TotalProgress']))
    invalid_state(j.Pause, 's0', 'pending', 'pause')
    j.Finalize()
    p = jobtest.wait_status(d, 's0', 'concluded')
    bgtest.check_equal(str(p['Error']), '')
    bgtest.check_equal(list(p['Nodes']), [], 'nodes released')
    invalid_state(j.Cancel, 's0', 'concluded', 'cancel', False)
    j.Dismiss()
    objs = [str(o) for o in d.managed_objects() if '/job/' in str(o)]
    bgtest.check_equal(objs, [], 'dismissed job gone')


def check_cancel(d):
    sig = d.signals()
    d.manager.StartJob('<job type="stream" id="c0" node-name="top" %s/>' % SLOW)
    jobtest.wait_status(d, 'c0', 'running')
    jobtest.job(d, 'c0').Cancel(False)
    sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=30)
    done = sig.named('Completed')[0][3]
    bgtest.check(not bool(done[0]) and 'cancel' in str(done[1]).lower(), repr(done))
    children = {str(c[0]): str(c[1]) for c in d.node_props('top')['Children']}
    bgtest.check_equal(children.get('backing'), 'mid', 'a cancelled stream changes no link')
    users = [str(u[0]) for u in d.node_props('mid')['Users']]
    bgtest.check('job:c0' not in users, 'released: %r' % users)
    status = [str(i[3][1].get('Status')) for i in sig.named('PropertiesChanged')
              if str(i[2]).endswith('/job/c0') and 'Status' in i[3][1]]
    bgtest.check(status[-2:] == ['aborting', 'concluded'] or 'aborting' in status,
                 'states seen: %r' % status)


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
        jobtest.add_chain(d, LAYERS, paths)
        check_bad_input(d)
        check_cancel(d)
        check_running_job(d)
        # A job still running at SIGTERM is cancelled; the daemon exits cleanly
        # (the harness checks the exit).
        d.manager.StartJob('<job type="stream" id="late" node-name="top" %s/>' % SLOW)
        jobtest.wait_status(d, 'late', 'running')


bgtest.run(main)
