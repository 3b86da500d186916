#!/usr/bin/python3
# blockgraphd --check-config: exit 0 for a good folder (and the shipped
# examples), nonzero naming file and line for a bad one, without a bus.
# It is a dry run of start-up itself: whatever start-up refuses, the check
# refuses (a raw node without its file, NBD names clashing on one socket,
# a writable export of a read-only node), and it binds no socket.
# --session: files in a temporary folder are outside the system bus's
# default allowed paths (test-daemon-allow-path checks those).
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
    # start-up refused these while the old separate validator passed them
    ('<blockgraph>\n<blockdev driver="raw" node-name="r"/>\n</blockgraph>',
     ['line 2', "'r'", "'file' child"]),
    ('<blockgraph>\n<blockdev driver="null-co" node-name="n0"/>\n'
     '<export type="nbd" id="e0" node-name="n0"><server type="unix" path="@SOCK@"/></export>\n'
     '<export type="nbd" id="e1" node-name="n0"><server type="unix" path="@SOCK@"/></export>\n'
     '</blockgraph>', ['line 4', "'n0'"]),
    ('<blockgraph>\n<blockdev driver="null-co" node-name="n0" read-only="on"/>\n'
     '<export type="nbd" id="e0" node-name="n0" writable="on">'
     '<server type="unix" path="@SOCK@"/></export>\n</blockgraph>', ['line 3', 'read-only']),
    ('<blockgraph>\n<blockdev driver="raw" node-name="r0">\n'
     '<file driver="null-co" node-name="f0" size="1M"/>\n</blockdev>\n'
     '<blockdev driver="raw" node-name="r1" offset="2M"><file ref="f0"/></blockdev>\n'
     '</blockgraph>', ['line 5', 'r1']),
]
GOOD = ('<blockgraph>\n<blockdev driver="raw" node-name="r0">\n'
        '<file driver="null-co" node-name="f0" size="1M"/>\n</blockdev>\n'
        '<export type="nbd" id="e0" node-name="r0" writable="on">'
        '<server type="unix" path="@SOCK@"/></export>\n</blockgraph>')
FILE_CASE = ('<blockgraph>\n<blockdev driver="file" node-name="f0" filename="/nonexistent/x.img"/>'
             '\n</blockgraph>', ['/nonexistent/x.img'])


def main():
    cases = list(CASES)
    with bgtest.Daemon() as d:
        if d.manager_path('driver', 'file') in d.managed_objects():
            cases.append(FILE_CASE)
    rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' +
                                           os.path.join(SRC, 'data', 'examples')])
    bgtest.check_equal(rc, 0, 'examples: ' + err)

    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' + tmp])
        bgtest.check_equal(rc, 0, 'empty folder: ' + err)
        sock = os.path.join(tmp, 'nbd.sock')
        good = os.path.join(tmp, 'good')
        os.mkdir(good)
        with open(os.path.join(good, 'good.xml'), 'w') as f:
            f.write(GOOD.replace('@SOCK@', sock))
        rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' + good])
        bgtest.check_equal(rc, 0, 'good folder: ' + err)
        bgtest.check(not os.path.exists(sock), 'the check left a socket behind')

        for i, (text, words) in enumerate(cases):
            conf = os.path.join(tmp, 'case%d' % i)
            os.mkdir(conf)
            path = os.path.join(conf, 'bad.xml')
            with open(path, 'w') as f:
                f.write(text.replace('@SOCK@', sock))
            rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' + conf])
            bgtest.check(rc != 0, 'case %d accepted' % i)
            for w in [path] + words:
                bgtest.check(w in err, 'case %d: error lacks %r:\n%s' % (i, w, err))

        plain = os.path.join(tmp, 'plain')
        open(plain, 'w').close()
        rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' + plain])
        bgtest.check(rc != 0 and plain in err, 'non-directory: rc %d, %s' % (rc, err))


bgtest.run(main)
