#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A read-only base (commit) or read-only top (stream) is reopened
# read-write for the job and back when it ends, as QEMU's commit_start and
# stream_start do.  The format node has read-only="on", its file
# auto-read-only="on": the file switches to read-write when the job
# attaches and back to read-only when it ends, and its Writable property
# follows with PropertiesChanged.  The data afterwards is what the chain
# showed, and qemu-img check is clean.  A mirror of a read-only source:
# after Complete() the target takes its place read-only (QEMU's
# mirror_exit_common), its file back to read-only, a writer refused; the
# same for the base of an active commit of a read-only top.
import os

import jobtest
import nbdtest
from jobtest import bgtest

LAYERS = ['base', 'mid', 'top']
WRITES = {'base': ['write -P 0x11 0 16M'], 'mid': ['write -P 0x22 1M 4M'],
          'top': ['write -P 0x33 2M 512k']}


def add_chain(d, paths, read_only):
    """The chain, the layers in read_only as read-only="on" over an auto-read-only file."""
    below = None
    for name in LAYERS:
        ro = ' read-only="on"' if name in read_only else ''
        backing = '<backing ref="%s"/>' % below if below else '<backing/>'
        d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"%s><file driver="file" '
                          'node-name="%s-file" filename="%s" auto-read-only="on"/>%s</blockdev>'
                          % (name, ro, name, paths[name], backing))
        below = name


def writable_changes(sig, node):
    path = bgtest.encode_path_label(node)
    return [bool(i[3][1]['Writable']) for i in sig.named('PropertiesChanged')
            if str(i[2]).endswith('/node/' + path) and 'Writable' in i[3][1]]


def run_job(d, node, xml, jid):
    """Starts the job held back by its speed; returns the file's Writable while it ran."""
    sig = d.signals()
    bgtest.check(not bool(d.node_props(node + '-file')['Writable']), node + '-file read-only')
    bgtest.check(bool(d.node_props(node)['ReadOnly']), node + ' read-only')
    d.manager.StartJob(xml)
    during = bool(d.node_props(node + '-file')['Writable'])
    jobtest.job(d, jid).SetSpeed(jobtest.dbus_u64(0))
    p = jobtest.wait_status(d, jid, 'concluded')
    bgtest.check_equal(str(p['Error']), '', '%s succeeded' % jid)
    jobtest.job(d, jid).Dismiss()
    bgtest.check(during, '%s-file writable while the job ran' % node)
    bgtest.check(not bool(d.node_props(node + '-file')['Writable']),
                 '%s-file read-only again' % node)
    bgtest.check(bool(d.node_props(node)['ReadOnly']), '%s read-only again' % node)
    sig.wait_for(lambda items: writable_changes(sig, node + '-file') == [True, False])


def check_commit(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    ref = jobtest.reference(d, paths['top'])
    add_chain(d, paths, read_only=('base', 'mid'))
    run_job(d, 'base', '<job type="commit" id="c0" node-name="top" top-node="mid" '
            'base-node="base" speed="1M" auto-dismiss="off"/>', 'c0')
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, 'top shows the same data after the commit: ' + out)
    jobtest.check_clean(paths['base'])


def check_stream(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    ref = jobtest.reference(d, paths['top'])
    add_chain(d, paths, read_only=('base', 'mid', 'top'))
    run_job(d, 'top', '<job type="stream" id="s0" node-name="top" base-node="base" '
            'speed="1M" auto-dismiss="off"/>', 's0')
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, 'top shows the same data after the stream: ' + out)
    bgtest.check_equal(jobtest.backing_of(paths['top'])[0], paths['base'], 'top header')
    jobtest.check_clean(paths['top'])


def check_mirror(d):
    paths = jobtest.make_chain(d, ['msrc'], writes={'msrc': ['write -P 0x44 0 3M']})
    paths.update(jobtest.make_chain(d, ['mdst']))
    for name, ro in (('msrc', ' read-only="on"'), ('mdst', '')):
        d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"%s><file driver="file" '
                          'node-name="%s-file" filename="%s" auto-read-only="on"/><backing/>'
                          '</blockdev>' % (name, ro, name, paths[name]))
    sock = os.path.join(d.tmpdir, 'm.sock')
    nbdtest.add_export(d, 'em', 'msrc', sock, writable=False)
    d.manager.StartJob('<job type="mirror" id="m0" node-name="msrc" target="mdst" sync="full" '
                       'auto-dismiss="off"/>')
    jobtest.wait_status(d, 'm0', 'ready')
    jobtest.job(d, 'm0').Complete()
    p = jobtest.wait_status(d, 'm0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'the mirror succeeded')
    jobtest.job(d, 'm0').Dismiss()
    bgtest.check_equal(str(nbdtest.export_props(d, 'em')['NodeName']), 'mdst', 'export moved')
    bgtest.check(bool(d.node_props('mdst')['ReadOnly']), 'the target took the read-only place')
    bgtest.check(not bool(d.node_props('mdst-file')['Writable']), 'mdst-file read-only again')
    bgtest.expect_error('ReadOnly', nbdtest.add_export, d, 'ew', 'mdst',
                        os.path.join(d.tmpdir, 'w.sock'), writable=True)
    ok, out = jobtest.compare(jobtest.reference(d, paths['msrc']), paths['mdst'])
    bgtest.check(ok, 'the target equals the source: ' + out)


def check_active_commit(d):
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    ref = jobtest.reference(d, paths['top'])
    add_chain(d, paths, read_only=('base', 'mid', 'top'))
    nbdtest.add_export(d, 'ea', 'top', os.path.join(d.tmpdir, 'a.sock'), writable=False)
    d.manager.StartJob('<job type="commit" id="a0" node-name="top" base-node="base" '
                       'auto-dismiss="off"/>')
    jobtest.wait_status(d, 'a0', 'ready')
    bgtest.check(bool(d.node_props('base-file')['Writable']), 'base-file writable for the job')
    jobtest.job(d, 'a0').Complete()
    p = jobtest.wait_status(d, 'a0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'the active commit succeeded')
    jobtest.job(d, 'a0').Dismiss()
    bgtest.check_equal(str(nbdtest.export_props(d, 'ea')['NodeName']), 'base', 'export moved')
    bgtest.check(bool(d.node_props('base')['ReadOnly']), 'the base took the read-only place')
    bgtest.check(not bool(d.node_props('base-file')['Writable']), 'base-file read-only again')
    ok, out = jobtest.compare(ref, paths['base'])
    bgtest.check(ok, 'the base shows what the top did: ' + out)


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_mirror(d)
    with bgtest.Daemon() as d:
        check_active_commit(d)
    with bgtest.Daemon() as d:
        check_commit(d)
    with bgtest.Daemon() as d:
        check_stream(d)


bgtest.run(main)
