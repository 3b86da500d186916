#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl's changing commands: add (a snippet from a file or stdin, a whole
# <blockgraph> document, all or nothing), remove, reopen NAME opt=value,
# export add|remove.  A refusal exits 1 with the daemon's message (not only
# the error's name) on stderr and changes nothing.
import os

import clitest
from clitest import bgtest, json_of, ok, fails

DOC = '''<blockgraph>
  <blockdev driver="null-co" node-name="base" size="16M"/>
  <blockdev driver="raw" node-name="disk1"><file ref="base"/></blockdev>
  <export type="nbd" id="e1" node-name="disk1" name="disk1">
    <server type="unix" path="%s"/>
  </export>
</blockgraph>
'''


def write(d, name, text):
    path = os.path.join(d.tmpdir, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def check_add(d):
    f = write(d, 'one.xml', '<blockdev driver="null-co" node-name="n0" size="8M"/>')
    bgtest.check_equal(ok(d, 'add', f), "Added node 'n0'.\n")
    bgtest.check_equal(int(d.node_props('n0')['Size']), 8 << 20)
    out = json_of(d, 'add', '-', input='<blockdev driver="raw" node-name="r0">'
                  '<file driver="null-co"/></blockdev>')
    added = out['Added']
    bgtest.check_equal(len(added), 1)
    bgtest.check_equal((added[0]['Kind'], added[0]['Name']), ('node', 'r0'))
    bgtest.check_equal(added[0]['Path'], d.node_path('r0'))

    # Errors: the daemon's message, exit 1, nothing changed.
    before = d.graph_xml()
    fails(d, 1, "exists", 'add', f)
    fails(d, 1, "Unknown driver", 'add', '-', input='<blockdev driver="frob" node-name="x"/>')
    fails(d, 1, "stdin: line 1", 'add', '-', input='<blockdev driver="raw"')
    fails(d, 1, 'No such file', 'add', os.path.join(d.tmpdir, 'none.xml'))
    fails(d, 1, "<frob> is not something to add", 'add', '-', input='<frob/>')
    bgtest.check_equal(d.graph_xml(), before, 'graph after refused adds')


def check_document(d):
    sock = os.path.join(d.tmpdir, 'e1.sock')
    doc = write(d, 'doc.xml', DOC % sock)
    out = ok(d, 'add', doc)
    bgtest.check_equal(out, "Added node 'base'.\nAdded node 'disk1'.\nAdded export 'e1'.\n")
    bgtest.check_equal(str(d.props(d.manager_path('export', 'e1'), bgtest.EXPORT)['NodeName']),
                       'disk1')
    # A document failing at its third element takes back the first two.
    before = d.graph_xml()
    bad = write(d, 'bad.xml', '<blockgraph>\n<blockdev driver="null-co" node-name="b1"/>\n'
                '<blockdev driver="raw" node-name="b2"><file ref="b1"/></blockdev>\n'
                '<blockdev driver="raw" node-name="b3"><file ref="nosuch"/></blockdev>\n'
                '</blockgraph>\n')
    p = fails(d, 1, "bad.xml line 4: ", 'add', bad)
    bgtest.check("nosuch" in p.stderr, p.stderr)
    bgtest.check_equal(d.graph_xml(), before, 'graph after a failed document')
    return sock


def check_remove(d):
    e = fails(d, 1, "in use by node 'disk1'", 'remove', 'base')
    bgtest.check('Busy' not in e.stderr, 'the message, not the name: %r' % e.stderr)
    fails(d, 1, "No node 'nosuch' known", 'remove', 'nosuch')
    ok(d, 'remove', 'n0')
    names = [str(o) for o in d.managed_objects()]
    bgtest.check(d.node_path('n0') not in names, 'n0 removed')


def check_reopen(d):
    ok(d, 'reopen', 'base', 'read-only=on', 'detect-zeroes=on')
    bgtest.check_equal(bool(d.node_props('base')['ReadOnly']), True)
    xml = str(d.node('base').GetXML())
    bgtest.check('detect-zeroes="on"' in xml and 'size="16777216"' in xml, xml)
    ok(d, 'reopen', 'base', 'read-only=', 'detect-zeroes=')   # back to defaults
    bgtest.check_equal(bool(d.node_props('base')['ReadOnly']), False)
    bgtest.check('detect-zeroes="off"' in str(d.node('base').GetXML()), 'back to off')
    ok(d, 'reopen', 'disk1', 'cache.no-flush=on')            # an option group
    bgtest.check('no-flush="on"' in str(d.node('disk1').GetXML()), 'cache.no-flush=on')
    ok(d, 'reopen', 'disk1', 'cache.no-flush=')
    # a child link: disk1's file from base to another node and back
    d.manager.AddNode('<blockdev driver="null-co" node-name="other" size="16M"/>')
    ok(d, 'reopen', 'disk1', 'file=other')
    bgtest.check_equal(str(d.node_props('disk1')['Children'][0][1]), 'other')
    ok(d, 'reopen', 'disk1', 'file=base')
    before = str(d.node('base').GetXML())
    fails(d, 1, "Unknown option 'frob' for node 'base'", 'reopen', 'base', 'frob=1')
    fails(d, 1, "No node 'nosuch' known", 'reopen', 'nosuch', 'read-only=on')
    fails(d, 2, "'read-only' is not OPTION=VALUE", 'reopen', 'base', 'read-only')
    fails(d, 2, "needs NAME OPTION=VALUE", 'reopen', 'base')
    bgtest.check_equal(str(d.node('base').GetXML()), before, 'refused reopens change nothing')


def check_exports(d, sock):
    sock2 = os.path.join(d.tmpdir, 'e2.sock')
    snippet = ('<export type="nbd" id="e2" node-name="other" name="other">'
               '<server type="unix" path="%s"/></export>' % sock2)
    bgtest.check_equal(ok(d, 'export', 'add', '-', input=snippet), "Added export 'e2'.\n")
    fails(d, 1, "exists", 'export', 'add', '-', input=snippet)
    fails(d, 1, "expected <export>, not <blockdev>", 'export', 'add', '-',
          input='<blockdev driver="null-co" node-name="z"/>')
    ok(d, 'export', 'remove', 'e2')
    ok(d, 'export', 'remove', '--hard', 'e1')
    bgtest.check_equal(json_of(d, 'list', 'exports'), {'exports': []})
    fails(d, 1, "No export 'e1' known", 'export', 'remove', 'e1')
    fails(d, 2, "'export add' does not take --hard", 'export', 'add', '--hard', '-')


def main():
    with bgtest.Daemon() as d:
        check_add(d)
        sock = check_document(d)
        check_remove(d)
        check_reopen(d)
        check_exports(d, sock)


bgtest.run(main)
