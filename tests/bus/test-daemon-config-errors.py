#!/usr/bin/python3
# A configuration path that is missing or not a folder: the daemon says so
# and serves an empty graph; malformed XML in a file names file and line.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import tempfile


def main():
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, 'plain-file')
        with open(plain, 'w') as f:
            f.write('<blockgraph/>')
        with bgtest.Daemon(config_dir=plain) as d:
            nodes = [p for p in d.managed_objects() if '/node/' in p]
            bgtest.check_equal(nodes, [], 'nodes from a non-directory')
            bgtest.check(plain in d.stderr() and 'not a directory' in d.stderr(),
                         'error names the path:\n' + d.stderr())

        missing = os.path.join(tmp, 'missing')
        with bgtest.Daemon(config_dir=missing) as d:
            bgtest.check(missing in d.stderr(), 'error names the path:\n' + d.stderr())

        conf = os.path.join(tmp, 'conf')
        os.mkdir(conf)
        with open(os.path.join(conf, 'broken.xml'), 'w') as f:
            f.write('<blockgraph>\n  <blockdev driver="null-co" node-name="n0"/>\n  <blockdev\n')
        with bgtest.Daemon(config_dir=conf) as d:
            nodes = [p for p in d.managed_objects() if '/node/' in p]
            bgtest.check_equal(nodes, [], 'nodes from a malformed file')
            bgtest.check(os.path.join(conf, 'broken.xml') in d.stderr() and 'line' in d.stderr(),
                         'error names file and line:\n' + d.stderr())


bgtest.run(main)
