#!/usr/bin/python3
# The daemon's side of polkit, against a stand-in Authority that logs every
# question (tests/tools/fake-polkit-authority.py): the question names the
# caller's unique bus name as a 'system-bus-name' subject and the action,
# with AllowUserInteraction exactly when the call allows interactive
# authorization.  A Transaction needs what each of its actions needs alone:
# bitmap actions manage-nodes, a <job> manage-jobs too (refused here, and
# nothing of the transaction happens).  A call whose answer never comes is held without holding
# the loop: reads and root's calls go on; SIGTERM then ends the daemon
# cleanly (no leak of the held call).  Needs root (to call as 'nobody').
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

SRC = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
POLICY = os.path.join(SRC, 'data', 'org.blockgraph.BlockGraph1.conf')
FAKE = os.path.join(SRC, 'tests', 'tools', 'fake-polkit-authority.py')
ROOT = bgtest.ROOT_PATH
NAME = bgtest.BUS_NAME
A = 'org.blockgraph.BlockGraph1.'
FAKE_POLICY = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root"><allow own="org.freedesktop.PolicyKit1"/></policy>
  <policy context="default"><allow send_destination="org.freedesktop.PolicyKit1"/></policy>
</busconfig>
'''


def busctl_as_nobody(d, *args, wait=True):
    cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
           'busctl', '--address=' + d.address] + list(args)
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def questions(log):
    if not os.path.exists(log):
        return []
    with open(log) as f:
        return [json.loads(line) for line in f]


def wait_for(pred, what, timeout=30):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise bgtest.TestFailure('timed out waiting for ' + what)
        time.sleep(0.05)


def check_questions(d, log):
    add = ('call', NAME, ROOT, bgtest.MANAGER, 'AddNode', 's',
           '<blockdev driver="null-co" node-name="n1" size="1M"/>')
    p = busctl_as_nobody(d, *add)
    bgtest.check(p.returncode == 0, 'AddNode allowed by the Authority: %s' % p.stderr)
    q = questions(log)[-1]
    bgtest.check_equal((q['kind'], q['action'], q['flags']),
                       ('system-bus-name', A + 'manage-nodes', 1), 'interactive question')
    bgtest.check(q['name'].startswith(':'), 'subject is a unique name: %r' % q)

    p = busctl_as_nobody(d, '--allow-interactive-authorization=no', 'call', NAME,
                         d.node_path('n1'), bgtest.NODE, 'Flush')
    bgtest.check(p.returncode == 0, 'Flush: %s' % p.stderr)
    bgtest.check_equal(questions(log)[-1]['flags'], 0, 'flags without interaction')

    p = busctl_as_nobody(d, 'call', NAME, ROOT, bgtest.MANAGER, 'StartJob', 's', '<job/>')
    bgtest.check(p.returncode != 0 and 'Not authorized: ' + A + 'manage-jobs' in p.stderr,
                 'StartJob refused: %s' % p.stderr)
    count = len(questions(log))
    p = busctl_as_nobody(d, 'call', NAME, ROOT, bgtest.MANAGER, 'GetGraph', 's', 'xml')
    bgtest.check(p.returncode == 0, 'GetGraph: %s' % p.stderr)
    bgtest.check_equal(len(questions(log)), count, 'questions after a read')


def check_transaction(d, log):
    bitmap = '<bitmap-add node-name="n1" name="b1"/>'
    job = ('<job type="backup" id="j1" node-name="n1" target="n1t" sync="full"/>')
    count = len(questions(log))
    p = busctl_as_nobody(d, 'call', NAME, ROOT, bgtest.MANAGER, 'Transaction', 'as', '1', bitmap)
    bgtest.check(p.returncode == 0, 'a bitmap Transaction: %s' % p.stderr)
    bgtest.check_equal([q['action'] for q in questions(log)[count:]], [A + 'manage-nodes'],
                       'the questions of a bitmap Transaction')
    d.manager.AddNode('<blockdev driver="null-co" node-name="n1t" size="1M"/>')
    count = len(questions(log))
    p = busctl_as_nobody(d, 'call', NAME, ROOT, bgtest.MANAGER, 'Transaction', 'as', '2',
                         '<bitmap-add node-name="n1" name="b2"/>', job)
    bgtest.check(p.returncode != 0 and 'Not authorized: ' + A + 'manage-jobs' in p.stderr,
                 'a Transaction with a <job> needs manage-jobs: rc %d %s'
                 % (p.returncode, p.stderr))
    bgtest.check_equal(sorted(q['action'] for q in questions(log)[count:]),
                       [A + 'manage-jobs', A + 'manage-nodes'],
                       'the questions of a Transaction with a <job>')
    names = [str(b[0]) for b in d.node_props('n1')['Bitmaps']]
    bgtest.check_equal(names, ['b1'], 'bitmaps after the refused Transaction')
    bgtest.check_equal([p for p in d.managed_objects() if '/job/' in p], [], 'no job')


def check_held(d, log):
    held = busctl_as_nobody(d, 'call', NAME, ROOT, bgtest.MANAGER, 'AddExport', 's',
                            '<export type="nbd" id="e0" node-name="n1">'
                            '<server type="unix" path="%s/e.sock"/></export>' % d.tmpdir,
                            wait=False)
    try:
        wait_for(lambda: any(q['action'] == A + 'manage-exports' for q in questions(log)),
                 'the AddExport question')
        # The loop is free: root changes things, nobody reads.
        d.manager.AddNode('<blockdev driver="null-co" node-name="n2"/>')
        p = busctl_as_nobody(d, 'call', NAME, d.node_path('n2'), bgtest.NODE, 'GetXML')
        bgtest.check(p.returncode == 0, 'GetXML while a call is held: %s' % p.stderr)
        bgtest.check(held.poll() is None, 'the held call has no answer yet')
        bgtest.check(not os.path.exists(os.path.join(d.tmpdir, 'e.sock')), 'nothing exported')
        d.stop()                        # SIGTERM with the call held: exit 0, no leak
    finally:
        if held.poll() is None:
            held.kill()
        held.communicate()


def main():
    if os.geteuid() != 0:
        bgtest.skip('needs root to run a client as another user')
    for tool in ('setpriv', 'busctl'):
        bgtest.need_tool(tool)
    if bgtest.GLib is None:
        bgtest.skip('python3-gi is not installed (the stand-in Authority needs it)')
    # The stand-in may own the Authority's name: a policy file of the test's own.
    conf_dir = tempfile.mkdtemp(prefix='bgtest-fakepk-')
    try:
        extra = os.path.join(conf_dir, 'fake-polkit.conf')
        with open(extra, 'w') as f:
            f.write(FAKE_POLICY)
        os.chmod(conf_dir, 0o755)
        with bgtest.Daemon(policy_file=[POLICY, extra], args=['--authorize=polkit']) as d:
            os.chmod(d.tmpdir, 0o755)
            log = os.path.join(conf_dir, 'questions.log')
            fake = subprocess.Popen(['/usr/bin/python3', FAKE, d.address, log,
                                     A + 'manage-nodes', A + 'manage-exports'],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = fake.stdout.readline()
                if line.strip() != 'ready':
                    raise bgtest.TestFailure('fake Authority: %s' % fake.stderr.read())
                check_questions(d, log)
                check_transaction(d, log)
                check_held(d, log)
            finally:
                fake.terminate()
                fake.communicate(timeout=30)
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)


bgtest.run(main)
