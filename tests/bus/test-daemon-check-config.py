#!/usr/bin/python3
# blockgraphd --check-config: exit 0 for a good folder (and the shipped
# examples), nonzero naming file and line for a bad one, without a bus.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import tempfile

SRC = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

CASES = [
    # (text, words in the error)
    ('<blockgraph>\n<blockdev driver="null-co" node-name="n0" colour="red"/>\n</blockgraph>',
     ['line 2', 'colour']),
    ('<blockgraph>\n\n<blockdev driver="nope" node-name="n0"/>\n</blockgraph>',
     ['line 3', 'nope']),
    ('<blockgraph>\n<blockdev driver="raw" node-name="r0">\n<file ref="ghost"/>\n'
     '</blockdev>\n</blockgraph>', ['ghost']),
    ('<blockgraph>\n<blockdev driver="null-co" node-name="n0"/>\n'
     '<blockdev driver="null-co" node-name="n0"/>\n</blockgraph>', ['line 3', 'n0']),
    ('<blockgraph>\n<blockdev driver="null-co"', ['line']),
]
FILE_CASE = ('<blockgraph>\n<blockdev driver="file" node-name="f0" filename="/nonexistent/x.img"/>'
             '\n</blockgraph>', ['/nonexistent/x.img'])


def main():
    cases = list(CASES)
    with bgtest.Daemon() as d:
        if d.manager_path('driver', 'file') in d.managed_objects():
            cases.append(FILE_CASE)
    rc, out, err = bgtest.run_daemon_once(['--check-config', '--config-dir=' +
                                           os.path.join(SRC, 'data', 'examples')])
    bgtest.check_equal(rc, 0, 'examples: ' + err)

    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = bgtest.run_daemon_once(['--check-config', '--config-dir=' + tmp])
        bgtest.check_equal(rc, 0, 'empty folder: ' + err)

        for i, (text, words) in enumerate(cases):
            conf = os.path.join(tmp, 'case%d' % i)
            os.mkdir(conf)
            path = os.path.join(conf, 'bad.xml')
            with open(path, 'w') as f:
                f.write(text)
            rc, out, err = bgtest.run_daemon_once(['--check-config', '--config-dir=' + conf])
            bgtest.check(rc != 0, 'case %d accepted' % i)
            for w in [path] + words:
                bgtest.check(w in err, 'case %d: error lacks %r:\n%s' % (i, w, err))

        plain = os.path.join(tmp, 'plain')
        open(plain, 'w').close()
        rc, out, err = bgtest.run_daemon_once(['--check-config', '--config-dir=' + plain])
        bgtest.check(rc != 0 and plain in err, 'non-directory: rc %d, %s' % (rc, err))


bgtest.run(main)
