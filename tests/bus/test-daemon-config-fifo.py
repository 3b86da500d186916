#!/usr/bin/python3
# A FIFO in the configuration folder does not hang start-up: neither a
# configuration file whose `file` node names a FIFO (that file is not
# applied, its error names the node and the path) nor a FIFO named *.xml
# (skipped with a warning).  The other files are applied and the daemon
# serves.
import os
import sys
import tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def write(folder, name, text):
    with open(os.path.join(folder, name), 'w') as f:
        f.write(text)


def main():
    with tempfile.TemporaryDirectory() as conf:
        fifo = os.path.join(conf, 'pipe')
        os.mkfifo(fifo)
        os.mkfifo(os.path.join(conf, '20-fifo.xml'))
        write(conf, '10-uses-fifo.xml', '<blockgraph><blockdev driver="file" node-name="p" '
              'filename="%s"/></blockgraph>\n' % fifo)
        write(conf, '30-good.xml', '<blockgraph><blockdev driver="null-co" node-name="n0"/>'
              '</blockgraph>\n')
        with bgtest.Daemon(config_dir=conf) as d:
            names = sorted(str(p['NodeName']) for o in d.managed_objects().values()
                           for i, p in o.items() if i == bgtest.NODE)
            bgtest.check_equal(names, ['n0'], 'nodes after start')
            err = d.stderr()
            bgtest.check(any("'p'" in l and fifo in l and 'FIFO' in l for l in err.splitlines()),
                         'error names node and path:\n' + err)
            bgtest.check(os.path.join(conf, '20-fifo.xml') + ': not a regular file' in err,
                         'FIFO named *.xml skipped with a warning:\n' + err)


bgtest.run(main)
