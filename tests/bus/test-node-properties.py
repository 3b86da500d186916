#!/usr/bin/python3
# Node properties: values of a null-co node, and Children / Users of a raw
# node stacked on it (raw forwards its users' permissions to its file).
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="base" size="64M"/>')
        p = d.node_props('base')
        bgtest.check_equal(str(p['NodeName']), 'base')
        bgtest.check_equal(str(p['Driver']), 'null-co')
        bgtest.check_equal(int(p['Size']), 64 << 20, 'Size')
        bgtest.check_equal(bool(p['ReadOnly']), False, 'ReadOnly')
        bgtest.check_equal(bool(p['AutoReadOnly']), False, 'AutoReadOnly')
        bgtest.check_equal(bool(p['Writable']), True, 'Writable')
        bgtest.check_equal(bool(p['Active']), True, 'Active')
        bgtest.check_equal(str(p['Filename']), '', 'Filename')
        bgtest.check_equal(list(p['Children']), [], 'Children')
        bgtest.check_equal(list(p['Users']), [], 'Users')

        d.manager.AddNode('<blockdev driver="null-co" node-name="ro" read-only="on"/>')
        p = d.node_props('ro')
        bgtest.check_equal(bool(p['ReadOnly']), True, 'ReadOnly of read-only=on')
        bgtest.check_equal(bool(p['Writable']), False, 'Writable of read-only=on')

        d.manager.AddNode('<blockdev driver="raw" node-name="top" offset="1M" size="8M">'
                          '<file ref="base"/></blockdev>')
        top = d.node_props('top')
        bgtest.check_equal(int(top['Size']), 8 << 20, 'raw Size')
        children = [(str(r), str(n), str(o)) for r, n, o in top['Children']]
        bgtest.check_equal(children, [('file', 'base', d.node_path('base'))], 'Children')

        # raw forwards what its own users take (none yet); a window keeps resize.
        users = d.node_props('base')['Users']
        bgtest.check_equal(len(users), 1, 'Users count')
        user, role, taken, shared = users[0]
        bgtest.check_equal(str(user), 'node:top', 'user')
        bgtest.check_equal(str(role), 'file', 'role')
        bgtest.check_equal([str(t) for t in taken], [], 'raw with no users takes nothing')
        bgtest.check_equal([str(s) for s in shared], ['consistent-read', 'write', 'write-unchanged'],
                           'raw window shares all but resize')

        d.manager.AddExport('<export type="nbd" id="e0" node-name="top" writable="on">'
                            '<server type="unix" path="%s"/></export>'
                            % os.path.join(d.tmpdir, 'e0.sock'))
        user, role, taken, shared = d.node_props('base')['Users'][0]
        bgtest.check_equal([str(t) for t in taken], ['consistent-read', 'write'],
                           'raw takes what its writable export takes')
        bgtest.check_equal([str(s) for s in shared], ['consistent-read', 'write', 'write-unchanged'],
                           'and shares what it shares')

bgtest.run(main)
