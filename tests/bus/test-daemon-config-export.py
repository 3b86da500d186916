#!/usr/bin/python3
# Exports in configuration files: a good file's export is served at start
# (an Export object with its Uri); a file whose last element fails loses its
# export and nodes again (all or nothing).
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import tempfile

GOOD = '''<blockgraph>
  <blockdev driver="null-co" node-name="n0" size="4M"/>
  <export type="nbd" id="e0" node-name="n0" name="zero">
    <server type="unix" path="%s"/>
  </export>
</blockgraph>
'''
BAD = '''<blockgraph>
  <blockdev driver="null-co" node-name="m0" size="4M"/>
  <export type="nbd" id="e1" node-name="m0">
    <server type="unix" path="%s"/>
  </export>
  <blockdev driver="raw" node-name="m1"><file ref="nowhere"/></blockdev>
</blockgraph>
'''


def main():
    with tempfile.TemporaryDirectory() as conf:
        sock = os.path.join(conf, 'nbd.sock')
        sock2 = os.path.join(conf, 'nbd2.sock')
        with open(os.path.join(conf, '10-good.xml'), 'w') as f:
            f.write(GOOD % sock)
        with open(os.path.join(conf, '20-bad.xml'), 'w') as f:
            f.write(BAD % sock2)
        with bgtest.Daemon(config_dir=conf) as d:
            objects = d.managed_objects()
            exports = sorted(str(p) for p in objects if '/export/' in p)
            bgtest.check_equal(exports, [d.manager_path('export', 'e0')], 'exports at start')
            e0 = objects[d.manager_path('export', 'e0')][bgtest.EXPORT]
            bgtest.check_equal(str(e0['NodeName']), 'n0')
            bgtest.check('zero' in str(e0['Uri']) and sock in str(e0['Uri']),
                         'Uri names export and socket: %s' % e0['Uri'])
            bgtest.check(os.path.exists(sock), 'listening socket exists')
            nodes = sorted(str(p).rsplit('/', 1)[1] for p in objects if '/node/' in p)
            bgtest.check_equal(nodes, ['n0'], 'nodes at start')
            users = [str(u[0]) for u in d.node_props('n0')['Users']]
            bgtest.check_equal(users, ['export:e0'], 'the export uses n0')
            err = d.stderr()
            bgtest.check(os.path.join(conf, '20-bad.xml') in err and 'nowhere' in err,
                         'error names file and ref:\n' + err)
            bgtest.check(not os.path.exists(sock2), 'rolled-back export still listens')


bgtest.run(main)
