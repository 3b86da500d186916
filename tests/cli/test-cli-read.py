#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl's reading commands against a daemon with a small graph and an
# export: status, list (tables, --quiet, --json), tree, show, graph.  The
# --json output parsed back equals the daemon's own properties.
import os

import clitest
from clitest import bgtest, json_of, ok, fails, plain


def setup(d):
    d.manager.AddNode('<blockdev driver="raw" node-name="disk0">'
                      '<file driver="null-co" node-name="disk0-file" size="64M"/></blockdev>')
    d.manager.AddNode('<blockdev driver="null-co" node-name="lone" size="1M" read-only="on"/>')
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    d.manager.AddExport('<export type="nbd" id="e0" node-name="disk0" name="disk0">'
                        '<server type="unix" path="%s"/></export>' % sock)


def check_status(d):
    manager = plain(d.props(bgtest.ROOT_PATH, bgtest.MANAGER))
    status = json_of(d, 'status')
    bgtest.check_equal(status['Version'], manager['Version'], 'Version')
    bgtest.check_equal(status['Features'], manager['Features'], 'Features')
    bgtest.check_equal((status['Nodes'], status['Exports'], status['Jobs']), (3, 1, 0))
    text = ok(d, 'status')
    bgtest.check('Version:   %s' % manager['Version'] in text, text)
    bgtest.check('nbd-export' in text, text)


def check_list(d):
    listed = json_of(d, 'list')
    bgtest.check_equal(sorted(listed), ['exports', 'jobs', 'nodes'])
    names = [n['NodeName'] for n in listed['nodes']]
    bgtest.check_equal(names, ['disk0', 'disk0-file', 'lone'])
    for n in listed['nodes']:
        bgtest.check_equal(n, plain(d.node_props(n['NodeName'])), 'node %s' % n['NodeName'])
    export = plain(d.props(d.manager_path('export', 'e0'), bgtest.EXPORT))
    bgtest.check_equal(listed['exports'], [export], 'exports')
    bgtest.check_equal(listed['jobs'], [], 'jobs')
    bgtest.check_equal(json_of(d, 'list', 'exports'), {'exports': [export]})

    table = ok(d, 'list').splitlines()
    head = table[0].split()
    bgtest.check_equal(head, ['NODE', 'DRIVER', 'SIZE', 'ACCESS', 'ACTIVE', 'USERS', 'FILENAME'])
    # aligned: each column starts at the same place on every line
    col = table[0].index('DRIVER')
    bgtest.check_equal([line[col:col + 7].strip() for line in table[1:4]],
                       ['raw', 'null-co', 'null-co'])
    lone = [line for line in table if line.startswith('lone')][0].split()
    bgtest.check_equal(lone[:5], ['lone', 'null-co', '1', 'MiB', 'ro'])
    bgtest.check(any(line.startswith('EXPORT') for line in table), 'export table: %r' % table)
    bgtest.check(not any(line.startswith('JOB') for line in table), 'no empty job table')
    bgtest.check_equal(ok(d, 'list', 'nodes', '-q').split(), ['disk0', 'disk0-file', 'lone'])
    bgtest.check_equal(ok(d, 'list', 'exports', '--quiet').split(), ['e0'])
    bgtest.check_equal(ok(d, 'list', 'jobs').splitlines()[0].split()[0], 'JOB')
    fails(d, 2, "'list' takes nodes, exports or jobs", 'list', 'widgets')


def check_tree(d):
    tree = json_of(d, 'tree')
    bgtest.check_equal(tree, [
        {'NodeName': 'disk0', 'Driver': 'raw', 'Children': [
            {'NodeName': 'disk0-file', 'Driver': 'null-co', 'Role': 'file', 'Children': []}]},
        {'NodeName': 'lone', 'Driver': 'null-co', 'Children': []}])
    lines = ok(d, 'tree').splitlines()
    bgtest.check(lines[0].startswith('disk0 (raw, 64 MiB, '), lines)
    bgtest.check('export:e0' in lines[0], lines)
    bgtest.check('file: disk0-file (null-co' in lines[1], lines)
    bgtest.check(lines[2].startswith('lone (null-co, 1 MiB, ro'), lines)


def check_show(d):
    shown = json_of(d, 'show', 'disk0')
    bgtest.check_equal(shown['Node'], plain(d.node_props('disk0')), 'show disk0')
    bgtest.check_equal(shown['XML'], str(d.node('disk0').GetXML()))
    bgtest.check_equal(shown['Options']['driver'], 'raw')
    bgtest.check_equal(shown['Options']['cache.direct'], 'off')
    text = ok(d, 'show', 'disk0-file')
    bgtest.check('size            67108864' in text.replace('  ', '  '), text)
    bgtest.check('node:disk0' in text and 'consistent-read' in text, 'users: ' + text)
    text = ok(d, 'show', 'disk0')
    bgtest.check('file  disk0-file' in text, 'children: ' + text)
    bgtest.check('export:e0' in text, 'users: ' + text)
    export = json_of(d, 'show', 'e0')
    bgtest.check_equal(export['Export'], plain(d.props(d.manager_path('export', 'e0'),
                                                         bgtest.EXPORT)))
    bgtest.check('Uri' in ok(d, 'show', 'e0'), 'show e0')
    fails(d, 1, "No node, export or job 'nosuch' known", 'show', 'nosuch')


def check_graph(d):
    dot = ok(d, 'graph')
    bgtest.check_equal(dot, str(d.manager.GetGraph('dot')))
    bgtest.check_equal(json_of(d, 'graph'), {'Dot': dot})
    bgtest.need_tool('dot')
    svg = os.path.join(d.tmpdir, 'graph.svg')
    ok(d, 'graph', '--svg', svg)
    with open(svg) as f:
        text = f.read()
    bgtest.check('<svg' in text and '>lone<' in text, 'svg: ' + text[:200])
    fails(d, 1, 'cannot write', 'graph', '--svg', os.path.join(d.tmpdir, 'no', 'x.svg'))


def main():
    with bgtest.Daemon() as d:
        setup(d)
        check_status(d)
        check_list(d)
        check_tree(d)
        check_show(d)
        check_graph(d)


bgtest.run(main)
