#!/usr/bin/python3
# --config-dir at start: good files are applied in name order, a bad file is
# not half-applied and its error names the file and line; the daemon serves.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import tempfile

GOOD = '''<blockgraph>
  <blockdev driver="null-co" node-name="a0" size="1M"/>
  <blockdev driver="raw" node-name="a1"><file ref="a0"/></blockdev>
</blockgraph>
'''
# the third item is bad (line 4): the first two must not stay
BAD = '''<blockgraph>
  <blockdev driver="null-co" node-name="b0"/>
  <blockdev driver="raw" node-name="b1"><file ref="b0"/></blockdev>
  <blockdev driver="null-co" node-name="b2" colour="red"/>
</blockgraph>
'''
LATER = '''<blockgraph>
  <blockdev driver="null-co" node-name="c0"/>
</blockgraph>
'''


def write(folder, name, text):
    with open(os.path.join(folder, name), 'w') as f:
        f.write(text)


def node_names(d):
    return sorted(str(p['NodeName']) for o in d.managed_objects().values()
                  for i, p in o.items() if i == bgtest.NODE)


def main():
    with tempfile.TemporaryDirectory() as conf:
        write(conf, '10-good.xml', GOOD)
        write(conf, '20-bad.xml', BAD)
        write(conf, '30-later.xml', LATER)
        write(conf, 'ignored.txt', 'not xml')
        with bgtest.Daemon(config_dir=conf) as d:
            bgtest.check_equal(node_names(d), ['a0', 'a1', 'c0'], 'nodes after start')
            children = [(str(r), str(n)) for r, n, _ in d.node_props('a1')['Children']]
            bgtest.check_equal(children, [('file', 'a0')])
            err = d.stderr()
            bad = os.path.join(conf, '20-bad.xml')
            bgtest.check(bad in err and 'line 4' in err and 'colour' in err,
                         'error names file, line and option:\n' + err)
            # the rolled-back names are free again
            d.manager.AddNode('<blockdev driver="null-co" node-name="b0"/>')
            d.manager.AddNode('<blockdev driver="null-co" node-name="b1"/>')
            d.manager.AddNode('<blockdev driver="null-co" node-name="b2"/>')


bgtest.run(main)
