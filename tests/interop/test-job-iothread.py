#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Jobs on nodes bound to an iothread (io1) run there and give what they give
# on the main loop, qemu-img as the oracle: stream, intermediate commit,
# active commit and mirror (with an NBD client writing through an export on
# io1 while they copy), backup.  A mirror or backup target on the main loop
# comes into io1 with its subtree (as QEMU moves it into the source's
# AioContext); one that something ties to its loop (an iothread option, an
# export, a parent) is refused, naming the binding.  The copy runs on io1's thread: a test hook
# (BLOCKGRAPHD_TEST_NULL_CO_STALL, drivers/null-co.c) holds the job's read of
# a null-co source, and the bus still answers, the job's own properties
# included (on the main loop, the held read would hold the bus too).
import os
import shutil
import tempfile
import time

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

IO = 'io1'
LAYERS = ['base', 'mid', 'top']
WRITES = {
    'base': ['write -P 0x11 0 8M'],
    'mid': ['write -P 0x22 1M 2M', 'write -z 6M 1M'],
    'top': ['write -P 0x33 2M 512k'],
}
DURING = [(0x41, 0, 4096), (0x42, 3 * MiB + 4096, 65536), (0x43, 8 * MiB - 512, 8192)]


def chain(d, prefix):
    layers = [prefix + n for n in LAYERS]
    writes = {prefix + n: w for n, w in WRITES.items()}
    paths = jobtest.make_chain(d, layers, writes=writes)
    jobtest.add_chain(d, layers, paths, iothread=IO)
    return layers, paths


def new_qcow2(d, name, iothread=IO):
    """A qcow2 target with its file node; on the main loop if iothread is None."""
    p = os.path.join(d.tmpdir, name + '.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', p, str(16 * MiB)])
    bind = ' iothread="%s"' % iothread if iothread else ''
    d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"%s><file driver="file" '
                      'node-name="%s-file" filename="%s"/><backing/></blockdev>'
                      % (name, bind, name, p))
    return p


def export(d, eid, node):
    sock = os.path.join(d.tmpdir, eid + '.sock')
    d.manager.AddExport('<export type="nbd" id="%s" node-name="%s" writable="on" '
                        'iothread="%s"><server type="unix" path="%s"/></export>'
                        % (eid, node, IO, sock))
    c = nbdwire.Client(sock, timeout=60)
    c.go(node.encode())
    return c


def write_during(d, c, jid, ref):
    """Writes DURING through the client while the job copies (slowly), then lets it go."""
    jobtest.wait_status(d, jid, 'running')
    for pattern, off, length in DURING:
        bgtest.check_equal(c.write(off, bytes([pattern]) * length), 0, 'write 0x%02x' % pattern)
        if ref:
            run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x%02x %d %d' % (pattern, off, length),
                 ref])
    running = str(jobtest.job_props(d, jid)['Status'])
    jobtest.job(d, jid).SetSpeed(jobtest.dbus_u64(0))
    bgtest.check_equal(running, 'running', 'the writes overlapped the copy')


def done(d, jid):
    p = jobtest.wait_status(d, jid, 'concluded')
    bgtest.check_equal(str(p['Error']), '', '%s succeeded' % jid)
    jobtest.job(d, jid).Dismiss()


def check_data(d, ref, node, path, what):
    d.node(node).Flush()
    ok, out = jobtest.compare(ref, path)
    bgtest.check(ok, what + ': ' + out)
    jobtest.check_clean(path)


def check_chain_job(d, prefix, what, job_attrs):
    """stream or commit on a chain in io1: the top keeps its data, its backing file is base."""
    (base, mid, top), paths = chain(d, prefix)
    ref = jobtest.reference(d, paths[top], prefix + '.raw')
    d.manager.StartJob('<job type="%s" id="%s" %s auto-dismiss="off"/>'
                       % (what, prefix, job_attrs % {'base': base, 'mid': mid, 'top': top}))
    done(d, prefix)
    bgtest.check_equal(jobtest.backing_of(paths[top])[0], paths[base], what + ': backing file')
    check_data(d, ref, top, paths[top], what + ': data unchanged')


def check_stream(d):
    check_chain_job(d, 's', 'stream', 'node-name="%(top)s" base-node="%(base)s"')


def check_commit(d):
    check_chain_job(d, 'c', 'commit',
                    'node-name="%(top)s" top-node="%(mid)s" base-node="%(base)s"')


def check_active_commit(d):
    (base, mid, top), paths = chain(d, 'a')
    ref = jobtest.reference(d, paths[top], 'a.raw')
    c = export(d, 'ea', top)
    d.manager.StartJob('<job type="commit" id="a" node-name="%s" base-node="%s" speed="1M" '
                       'auto-dismiss="off"/>' % (top, base))
    write_during(d, c, 'a', ref)
    jobtest.wait_status(d, 'a', 'ready')
    jobtest.job(d, 'a').Complete()
    done(d, 'a')
    c.disconnect()
    bgtest.check_equal(str(nbdtest.export_props(d, 'ea')['NodeName']), base, 'export moved')
    check_data(d, ref, base, paths[base], 'active commit: base holds everything')


def node_iothread(d, node):
    """The iothread attribute of node's <blockdev> in the graph's XML, or None."""
    import xml.etree.ElementTree as ET
    for e in ET.fromstring(d.graph_xml()).iter('blockdev'):
        if e.get('node-name') == node:
            return e.get('iothread')
    raise AssertionError('node %s not in the graph XML' % node)


def check_mirror(d, prefix='m', target_iothread=IO):
    (base, mid, top), paths = chain(d, prefix)
    ref = jobtest.reference(d, paths[top], prefix + '.raw')
    tgt = prefix + 'dst'
    dst = new_qcow2(d, tgt, target_iothread)
    c = export(d, 'e' + prefix, top)
    d.manager.StartJob('<job type="mirror" id="%s" node-name="%s" target="%s" sync="full" '
                       'speed="1M" auto-dismiss="off"/>' % (prefix, top, tgt))
    # a target on the main loop came into io1 with its file node (as QEMU does)
    bgtest.check_equal((node_iothread(d, tgt), node_iothread(d, tgt + '-file')), (IO, IO),
                       'mirror: the target is in the job\'s loop')
    write_during(d, c, prefix, ref)
    jobtest.wait_status(d, prefix, 'ready')
    jobtest.job(d, prefix).Complete()
    done(d, prefix)
    c.disconnect()
    bgtest.check_equal(str(nbdtest.export_props(d, 'e' + prefix)['NodeName']), tgt,
                       'export moved')
    check_data(d, ref, tgt, dst, 'mirror: the target holds everything')


def check_backup(d, prefix='b', target_iothread=IO):
    (base, mid, top), paths = chain(d, prefix)
    ref = jobtest.reference(d, paths[top], prefix + '.raw')
    tgt = prefix + 'dst'
    dst = new_qcow2(d, tgt, target_iothread)
    c = export(d, 'e' + prefix, top)
    d.manager.StartJob('<job type="backup" id="%s" node-name="%s" target="%s" sync="full" '
                       'speed="1M" auto-dismiss="off"/>' % (prefix, top, tgt))
    write_during(d, c, prefix, None)
    done(d, prefix)
    c.disconnect()
    bgtest.check_equal(node_iothread(d, tgt), IO, 'backup: the target stays in io1')
    check_data(d, ref, tgt, dst, 'backup: the target holds the point in time')


def check_target_from_main_loop(d):
    """Targets on the main loop that nothing ties there come into the source's iothread."""
    check_mirror(d, 'mm', None)
    check_backup(d, 'mb', None)


def refused(d, target, binding):
    before = d.graph_xml()
    e = bgtest.expect_error('InvalidArgument', d.manager.StartJob,
                            '<job type="mirror" id="x" node-name="onio" target="%s" '
                            'sync="full"/>' % target)
    msg = e.get_dbus_message()
    bgtest.check("'%s'" % target in msg and 'one loop' in msg and binding in msg, msg)
    bgtest.check_equal(d.graph_xml(), before, 'graph after the refused job')


def check_two_loops(d):
    """A target that something ties to its loop is refused, naming the binding."""
    null = '<blockdev driver="null-co" node-name="%s" size="%d"%s/>'
    d.manager.AddIOThread('<iothread id="io2"/>')
    d.manager.AddNode(null % ('onio', 16 * MiB, ' iothread="%s"' % IO))
    d.manager.AddNode(null % ('onio2', 16 * MiB, ' iothread="io2"'))
    refused(d, 'onio2', "bound to iothread 'io2'")
    d.manager.AddNode(null % ('exported', 16 * MiB, ''))
    d.manager.AddExport('<export type="nbd" id="ex" node-name="exported"><server type="unix" '
                        'path="%s"/></export>' % os.path.join(d.tmpdir, 'ex.sock'))
    refused(d, 'exported', "export 'ex' serves it")
    d.manager.AddNode(null % ('child', 16 * MiB, ''))
    d.manager.AddNode('<blockdev driver="raw" node-name="parent"><file ref="child"/></blockdev>')
    refused(d, 'child', "node 'parent' links it")


def wait_for_file(path):
    end = time.monotonic() + 30
    while not os.path.exists(path):
        bgtest.check(time.monotonic() < end, 'the job never read the node (%s)' % path)
        time.sleep(0.01)


def check_runs_on_iothread(d, stall):
    for n in ('n1', 'n2'):
        d.manager.AddNode('<blockdev driver="null-co" node-name="%s" size="%d" iothread="%s"/>'
                          % (n, MiB, IO))
    open(stall, 'w').close()
    try:
        d.manager.StartJob('<job type="backup" id="h" node-name="n1" target="n2" sync="full" '
                           'auto-dismiss="off"/>')
        wait_for_file(stall + '.entered')
        # the read is held on the job's thread; the bus answers meanwhile
        status = str(jobtest.job_props(d, 'h')['Status'])
        size = int(d.node_props('n1')['Size'])
        held = os.path.exists(stall)
    finally:
        if os.path.exists(stall):
            os.unlink(stall)
    bgtest.check_equal((status, size, held), ('running', MiB, True), 'the bus during the copy')
    done(d, 'h')


def main():
    jobtest.need_qemu()
    stall_dir = tempfile.mkdtemp(prefix='bgtest-stall-')
    os.environ['BLOCKGRAPHD_TEST_NULL_CO_STALL'] = os.path.join(stall_dir, 'stall')
    try:
        with bgtest.Daemon() as d:
            d.manager.AddIOThread('<iothread id="%s"/>' % IO)
            check_runs_on_iothread(d, os.path.join(stall_dir, 'stall'))
            check_two_loops(d)
            for t in (check_stream, check_commit, check_active_commit, check_mirror,
                      check_backup, check_target_from_main_loop):
                t(d)
    finally:
        del os.environ['BLOCKGRAPHD_TEST_NULL_CO_STALL']
        shutil.rmtree(stall_dir, ignore_errors=True)


if __name__ == '__main__':
    bgtest.run(main)
