#!/usr/bin/python3
# data/org.blockgraph.BlockGraph1.conf on a system-like bus with
# --authorize=polkit and no polkitd: root owns the name and may change the
# graph without asking polkit; another user's calls reach the daemon, reads
# (introspect, properties, GetManagedObjects, GetGraph, GetXML) succeed, and
# every changing call is refused by the daemon with AccessDenied naming the
# action (polkit cannot be asked, so nothing is allowed).  Needs root (to run
# a client as 'nobody') and busctl.
import os
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

SRC = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
POLICY = os.path.join(SRC, 'data', 'org.blockgraph.BlockGraph1.conf')
ROOT = bgtest.ROOT_PATH
ACTION = 'org.blockgraph.BlockGraph1.'


def busctl_as_nobody(d, *args):
    cmd = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
           'busctl', '--address=' + d.address] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def main():
    if os.geteuid() != 0:
        bgtest.skip('needs root to run a client as another user')
    bgtest.need_tool('setpriv')
    bgtest.need_tool('busctl')
    with bgtest.Daemon(policy_file=POLICY, args=['--authorize=polkit']) as d:
        os.chmod(d.tmpdir, 0o755)
        # uid 0 is allowed without asking (there is no polkitd to ask).
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        name = bgtest.BUS_NAME
        node = d.node_path('n0')
        allowed = [
            ('introspect', '--xml-interface', name, node),
            ('get-property', name, node, bgtest.NODE, 'Size'),
            ('call', name, ROOT, bgtest.MANAGER, 'GetGraph', 's', 'dot'),
            ('call', name, node, bgtest.NODE, 'GetXML'),
            ('call', name, ROOT, bgtest.OBJMGR, 'GetManagedObjects'),
        ]
        for args in allowed:
            p = busctl_as_nobody(d, *args)
            bgtest.check(p.returncode == 0, 'nobody may %s: %s' % (' '.join(args), p.stderr))
        denied = [
            ('manage-nodes', 'call', name, ROOT, bgtest.MANAGER, 'AddNode', 's',
             '<blockdev driver="null-co" node-name="n1"/>'),
            ('manage-nodes', 'call', name, ROOT, bgtest.MANAGER, 'RemoveNode', 's', 'n0'),
            ('manage-nodes', 'call', name, node, bgtest.NODE, 'Flush'),
            ('manage-nodes', 'call', name, node, bgtest.NODE, 'Resize', 't', '4096'),
            ('manage-exports', 'call', name, ROOT, bgtest.MANAGER, 'AddExport', 's',
             '<export type="nbd" node="n0"/>'),
            ('manage-jobs', 'call', name, ROOT, bgtest.MANAGER, 'StartJob', 's', '<job/>'),
        ]
        for action, *args in denied:
            p = busctl_as_nobody(d, *args)
            bgtest.check(p.returncode != 0 and 'Not authorized: ' + ACTION + action in p.stderr,
                         'nobody must not %s: rc %d %s' % (args[4], p.returncode, p.stderr))
        bgtest.check_equal(sorted(str(p).rsplit('/', 1)[1] for p in d.managed_objects()
                                  if '/node/' in p), ['n0'], 'graph after denied calls')
        bgtest.check_equal(int(d.node_props('n0')['Size']), 1 << 20, 'Size after denied Resize')
        # The daemon still serves root after the refusals.
        d.node('n0').Flush()


bgtest.run(main)
