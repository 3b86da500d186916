#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Backups with dirty bitmaps.
# - An incremental chain (QEMU's docs/interop/bitmaps): a full backup that
#   clears a persistent bitmap, then two incremental backups into images
#   backed by the one before, while an NBD client writes; the chain,
#   collapsed with qemu-img commit, equals the source (qemu-img compare).
# - iotest 257's matrix: bitmap-mode on-success / never / always, the job
#   succeeding or failing (cancelled after its first copy), with a write
#   during the job that lands in the successor: which bits stay.
# - Manager.Transaction: two backups and their bitmap clears at one point
#   in time; a failing action leaves nothing started or changed.
import os

import dbus

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

KiB = 1024
SIZE = 16 * MiB
CLUSTER = 64 * KiB


def new_image(d, name, backing=None):
    p = os.path.join(d.tmpdir, name + '.qcow2')
    cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    if backing:
        cmd += ['-b', backing, '-F', 'qcow2']
    run(cmd + [p, str(SIZE)])
    return p


def add_target(d, name, path):
    """The target opened without its backing: a backup writes whole clusters."""
    d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"><file driver="file" '
                      'node-name="%s-file" filename="%s"/><backing/></blockdev>'
                      % (name, name, path))


def connect(d, node, sock_name):
    sock = os.path.join(d.tmpdir, sock_name)
    nbdtest.add_export(d, 'e-' + node, node, sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(node.encode())
    return client


def write(client, pattern, off, length):
    bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0,
                       'client write 0x%02x at %d' % (pattern, off))


def bitmap(d, node, name):
    for b in d.node_props(node)['Bitmaps']:
        if str(b[0]) == name:
            return b
    raise bgtest.TestFailure('no bitmap %s on %s' % (name, node))


def run_backup(d, xml, jid, during=None):
    d.manager.StartJob(xml)
    if during:
        during()
        jobtest.job(d, jid).SetSpeed(dbus.UInt64(0))
    p = jobtest.wait_status(d, jid, 'concluded')
    jobtest.job(d, jid).Dismiss()
    return str(p['Error'])


def check_incremental_chain(d):
    paths = jobtest.make_chain(d, ['src'], size=SIZE, writes={'src': ['write -P 0x11 0 8M']})
    jobtest.add_chain(d, ['src'], paths)
    d.node('src').AddBitmap('daily', dbus.UInt32(CLUSTER), True, False)
    client = connect(d, 'src', 'src.sock')
    write(client, 0x12, 9 * MiB, MiB)
    full = new_image(d, 'full')
    add_target(d, 'full', full)
    err = run_backup(d, '<job type="backup" id="f" node-name="src" target="full" sync="full" '
                     'bitmap="daily" bitmap-mode="on-success" speed="1M" auto-dismiss="off"/>',
                     'f', lambda: write(client, 0x13, 12 * MiB, 4096))
    bgtest.check_equal(err, '', 'full backup')
    bgtest.check_equal(int(bitmap(d, 'src', 'daily')[2]), CLUSTER,
                       'after the full backup only the write during it is dirty')
    below = full
    for i, writes in enumerate([[(0x21, 0, 4096), (0x22, 5 * MiB, 2 * MiB)],
                                [(0x31, 5 * MiB + 4096, 4096), (0x32, 15 * MiB, MiB)]]):
        for w in writes:
            write(client, *w)
        inc = new_image(d, 'inc%d' % i, backing=below)
        add_target(d, 'inc%d' % i, inc)
        err = run_backup(d, '<job type="backup" id="i%d" node-name="src" target="inc%d" '
                         'sync="incremental" bitmap="daily" auto-dismiss="off"/>' % (i, i),
                         'i%d' % i)
        bgtest.check_equal(err, '', 'incremental backup %d' % i)
        bgtest.check_equal(int(bitmap(d, 'src', 'daily')[2]), 0, 'the bitmap is clear')
        d.manager.RemoveNode('inc%d' % i)
        below = inc
    d.node('src').Flush()
    d.manager.RemoveNode('full')
    ref = jobtest.reference(d, paths['src'])
    ok, out = jobtest.compare(ref, below)
    bgtest.check(ok, 'the chain full <- inc0 <- inc1 shows the source: ' + out)
    # Restore: commit the increments down into the full backup.
    run(['qemu-img', 'commit', '-q', below])
    run(['qemu-img', 'commit', '-q', os.path.join(d.tmpdir, 'inc0.qcow2')])
    ok, out = jobtest.compare(ref, full)
    bgtest.check(ok, 'the full backup with the increments committed is the source: ' + out)
    for p in (full, below):
        jobtest.check_clean(p)
    client.disconnect()


# bitmap-mode, job succeeds -> dirty bytes after the job (A1, A2 before, W during)
MATRIX = {('on-success', True): 1, ('never', True): 3, ('always', True): 1,
          ('on-success', False): 3, ('never', False): 3, ('always', False): 2}


def check_matrix(d):
    """A1 (copied first), A2 dirty before the job, W written during it."""
    paths = jobtest.make_chain(d, ['m'], size=SIZE)
    jobtest.add_chain(d, ['m'], paths)
    tgt = new_image(d, 'mt')
    add_target(d, 'mt', tgt)
    d.node('m').AddBitmap('b', dbus.UInt32(CLUSTER), False, False)
    client = connect(d, 'm', 'm.sock')
    for (mode, success), clusters in sorted(MATRIX.items()):
        d.node('m').ClearBitmap('b')
        write(client, 0xa1, 0, CLUSTER)
        write(client, 0xa2, 8 * MiB, CLUSTER)
        jid = 'j-%s-%s' % (mode, success)
        # speed 1: after the first copy the job sleeps until SetSpeed or Cancel
        d.manager.StartJob('<job type="backup" id="%s" node-name="m" target="mt" '
                           'sync="bitmap" bitmap="b" bitmap-mode="%s" speed="1" '
                           'auto-dismiss="off"/>' % (jid, mode))
        jobtest.wait_progress(d, jid, 0.5)
        bgtest.check(bool(bitmap(d, 'm', 'b')[5]), 'busy during the job')
        write(client, 0xee, 12 * MiB, 4096)
        if success:
            jobtest.job(d, jid).SetSpeed(dbus.UInt64(0))
        else:
            jobtest.job(d, jid).Cancel(True)
        p = jobtest.wait_status(d, jid, 'concluded')
        bgtest.check_equal(str(p['Error']) == '', success, '%s: job outcome' % jid)
        jobtest.job(d, jid).Dismiss()
        b = bitmap(d, 'm', 'b')
        bgtest.check(not bool(b[5]), '%s: not busy after the job' % jid)
        bgtest.check_equal(int(b[2]), clusters * CLUSTER, '%s: dirty bytes after the job' % jid)
    client.disconnect()


def check_transaction(d):
    """Backups of two disks and clears of their bitmaps at one point in time."""
    paths = jobtest.make_chain(d, ['d1'], size=SIZE, writes={'d1': ['write -P 0x61 0 16M']})
    paths.update(jobtest.make_chain(d, ['d2'], size=SIZE,
                                    writes={'d2': ['write -P 0x62 0 16M']}))
    jobtest.add_chain(d, ['d1'], paths)
    jobtest.add_chain(d, ['d2'], paths)
    refs = {n: jobtest.reference(d, paths[n], n + '.raw') for n in ('d1', 'd2')}
    for n in ('d1', 'd2'):
        d.node(n).AddBitmap('bm', dbus.UInt32(CLUSTER), False, False)
        add_target(d, n + 't', new_image(d, n + 't'))
    clients = {n: connect(d, n, n + '.sock') for n in ('d1', 'd2')}
    for n in ('d1', 'd2'):
        write(clients[n], 0x70, 0, CLUSTER)
    before = (d.graph_xml(), [d.node_props(n)['Bitmaps'] for n in ('d1', 'd2')])

    def actions(bad_last=False):
        acts = []
        for n in ('d1', 'd2'):
            acts += ['<job type="backup" id="t%s" node-name="%s" target="%st" sync="full" '
                     'speed="1M" auto-dismiss="off"/>' % (n, n, n),
                     '<bitmap-clear node-name="%s" name="bm"/>' % n]
        if bad_last:
            acts.append('<bitmap-clear node-name="d2" name="nosuch"/>')
        return acts

    e = bgtest.expect_error('NotFound', d.manager.Transaction, actions(bad_last=True))
    bgtest.check('nothing was changed' in e.get_dbus_message(), e.get_dbus_message())
    bgtest.check_equal((d.graph_xml(), [d.node_props(n)['Bitmaps'] for n in ('d1', 'd2')]),
                       before, 'a failed transaction changed nothing')
    bgtest.check_equal(jobtest.job_path(d, 'td1') in
                       [str(p) for p in d.managed_objects()], False, 'no job started')
    bgtest.expect_error('Exists', d.manager.Transaction,
                        [actions()[0], actions()[0].replace('node-name="d1"', 'node-name="d2"')])
    bgtest.expect_error('Busy', d.manager.Transaction, [
        actions()[0], actions()[0].replace('id="td1"', 'id="other"')])
    d.manager.Transaction(actions())
    for n in ('d1', 'd2'):
        bgtest.check_equal(int(bitmap(d, n, 'bm')[2]), 0, '%s: bitmap cleared' % n)
        write(clients[n], 0x71, 4 * MiB, CLUSTER)       # after the point in time
    for n in ('d1', 'd2'):
        jobtest.job(d, 't' + n).SetSpeed(dbus.UInt64(0))
        p = jobtest.wait_status(d, 't' + n, 'concluded')
        bgtest.check_equal(str(p['Error']), '', 'backup of %s' % n)
        bgtest.check_equal(int(bitmap(d, n, 'bm')[2]), CLUSTER, '%s: the later write' % n)
        d.manager.RemoveNode(n + 't')
        run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x70 0 %d' % CLUSTER, refs[n]])
        ok, out = jobtest.compare(refs[n], os.path.join(d.tmpdir, n + 't.qcow2'))
        bgtest.check(ok, '%s: the backup is the disk at the transaction: %s' % (n, out))
        clients[n].disconnect()


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_matrix(d)
    with bgtest.Daemon() as d:
        check_incremental_chain(d)
    with bgtest.Daemon() as d:
        check_transaction(d)


bgtest.run(main)
