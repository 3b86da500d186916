#!/usr/bin/python3
# A real polkitd on a private system-type bus decides: the installed action
# file plus a rules file that grants the blockgraph actions to a throw-away
# group.  A caller in that group may AddNode, RemoveNode and Flush, and is
# told that AddExport needs interactive authorization (the rules ask for a
# password there) when the call does not allow it; 'nobody'
# is refused with AccessDenied naming the action and the graph stays as it
# was; reads stay open to 'nobody'.  Needs root (polkitd, useradd, files in
# /usr/share/polkit-1/actions and /etc/polkit-1/rules.d for the test's
# duration, removed at the end also on failure).
import os
import shutil
import subprocess
import sys
import time
import uuid
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

SRC = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
POLICY = os.path.join(SRC, 'data', 'org.blockgraph.BlockGraph1.conf')
ACTIONS = os.path.join(SRC, 'data', 'org.blockgraph.BlockGraph1.policy')
POLKITD = '/usr/lib/polkit-1/polkitd'
POLKIT_BUS_POLICY = '/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf'
ACTIONS_DIR = '/usr/share/polkit-1/actions'
RULES_DIR = '/etc/polkit-1/rules.d'
ROOT = bgtest.ROOT_PATH
NAME = bgtest.BUS_NAME

RULES = '''polkit.addRule(function(action, subject) {
    if (!subject.isInGroup("%s"))
        return polkit.Result.NOT_HANDLED;
    if (action.id == "org.blockgraph.BlockGraph1.manage-exports")
        return polkit.Result.AUTH_ADMIN;
    if (action.id.indexOf("org.blockgraph.BlockGraph1.") == 0)
        return polkit.Result.YES;
});
'''


class Cleanup:
    def __init__(self):
        self.steps = []

    def add(self, fn, *args):
        self.steps.append((fn, args))

    def run(self):
        for fn, args in reversed(self.steps):
            try:
                fn(*args)
            except Exception as e:      # clean up as much as possible
                sys.stderr.write('cleanup %s%r: %s\n' % (fn.__name__, args, e))


def run_cmd(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def make_user(cleanup, tag):
    """A throw-away group and a user in it; returns the group name."""
    group = user = 'bgt' + tag
    run_cmd('groupadd', '--system', group)
    cleanup.add(run_cmd, 'groupdel', group)
    run_cmd('useradd', '--system', '--no-create-home', '--gid', group,
            '--shell', '/usr/sbin/nologin', user)
    cleanup.add(run_cmd, 'userdel', user)
    return user


def install_file(cleanup, src_text, path):
    with open(path, 'w') as f:
        f.write(src_text)
    os.chmod(path, 0o644)
    cleanup.add(os.unlink, path)


def start_polkitd(cleanup, d):
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=d.address)
    log = open(os.path.join(d.tmpdir, 'polkitd.log'), 'w')
    proc = subprocess.Popen([POLKITD, '--no-debug'], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)

    def stop():
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    cleanup.add(stop)
    end = time.monotonic() + 30
    while not d.bus.name_has_owner('org.freedesktop.PolicyKit1'):
        if proc.poll() is not None or time.monotonic() > end:
            raise bgtest.TestFailure('polkitd did not start: %s'
                                     % open(log.name, errors='replace').read())
        time.sleep(0.05)


def busctl_as(d, user, *args):
    ids = (['--reuid=65534', '--regid=65534', '--clear-groups'] if user is None
           else ['--reuid=' + user, '--regid=' + user, '--init-groups'])
    cmd = ['setpriv'] + ids + ['busctl', '--address=' + d.address] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def node_names(d):
    return sorted(str(p).rsplit('/', 1)[1] for p in d.managed_objects() if '/node/' in p)


def check_calls(d, user):
    add = ('call', NAME, ROOT, bgtest.MANAGER, 'AddNode', 's',
           '<blockdev driver="null-co" node-name="mine" size="1M"/>')
    p = busctl_as(d, user, *add)
    bgtest.check(p.returncode == 0, 'the allowed group may AddNode: %s' % p.stderr)
    p = busctl_as(d, user, 'call', NAME, d.node_path('mine'), bgtest.NODE, 'Flush')
    bgtest.check(p.returncode == 0, 'the allowed group may Flush: %s' % p.stderr)

    for args in [add, ('call', NAME, ROOT, bgtest.MANAGER, 'RemoveNode', 's', 'mine')]:
        p = busctl_as(d, None, *args)
        bgtest.check(p.returncode != 0 and
                     'Not authorized: org.blockgraph.BlockGraph1.manage-nodes' in p.stderr,
                     'nobody must not %s: rc %d %s' % (args[4], p.returncode, p.stderr))
    made = os.path.join(d.tmpdir, 'made.qcow2')
    p = busctl_as(d, None, 'call', NAME, ROOT, bgtest.MANAGER, 'CreateImage', 's',
                  '<create driver="qcow2" filename="%s" size="1M"/>' % made)
    bgtest.check(p.returncode != 0 and
                 'Not authorized: org.blockgraph.BlockGraph1.create-image' in p.stderr and
                 not os.path.exists(made), 'CreateImage asks create-image: %s' % p.stderr)
    p = busctl_as(d, None, 'call', NAME, ROOT, bgtest.MANAGER, 'GetGraph', 's', 'xml')
    bgtest.check(p.returncode == 0 and 'mine' in p.stdout, 'nobody may read: %s' % p.stderr)
    bgtest.check_equal(node_names(d), ['mine'], 'graph after the refused calls')

    # manage-exports needs a password: without interaction the caller is told so.
    p = busctl_as(d, user, '--allow-interactive-authorization=no', 'call', NAME, ROOT,
                  bgtest.MANAGER, 'AddExport', 's',
                  '<export type="nbd" id="e0" node-name="mine">'
                  '<server type="unix" path="%s/e.sock"/></export>' % d.tmpdir)
    bgtest.check(p.returncode != 0 and 'Interactive authorization required: '
                 'org.blockgraph.BlockGraph1.manage-exports' in p.stderr,
                 'AddExport without interaction: rc %d %s' % (p.returncode, p.stderr))

    p = busctl_as(d, user, 'call', NAME, ROOT, bgtest.MANAGER, 'RemoveNode', 's', 'mine')
    bgtest.check(p.returncode == 0, 'the allowed group may RemoveNode: %s' % p.stderr)
    bgtest.check_equal(node_names(d), [], 'graph after RemoveNode')


def main():
    if os.geteuid() != 0:
        bgtest.skip('needs root (polkitd, a throw-away user, polkit action and rules files)')
    for tool in ('setpriv', 'busctl', 'useradd', 'groupadd'):
        bgtest.need_tool(tool)
    if not os.access(POLKITD, os.X_OK) or not os.path.isdir(RULES_DIR):
        bgtest.skip('polkitd is not installed (apt-get install polkitd)')
    tag = uuid.uuid4().hex[:8]
    cleanup = Cleanup()
    try:
        user = make_user(cleanup, tag)
        # Names of their own: several runs of the suite may overlap.
        install_file(cleanup, open(ACTIONS).read(),
                     os.path.join(ACTIONS_DIR, 'org.blockgraph.BlockGraph1.test-%s.policy' % tag))
        install_file(cleanup, RULES % user, os.path.join(RULES_DIR, '50-bgtest-%s.rules' % tag))
        with bgtest.Daemon(policy_file=[POLICY, POLKIT_BUS_POLICY],
                           args=['--authorize=polkit']) as d:
            os.chmod(d.tmpdir, 0o755)
            start_polkitd(cleanup, d)
            check_calls(d, user)
            cleanup.run()       # polkitd goes before the daemon's checks at exit
            cleanup.steps = []
    finally:
        cleanup.run()


bgtest.run(main)
