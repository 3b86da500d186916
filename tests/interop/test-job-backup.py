#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Backup (QEMU iotest 056's checks): while an NBD client writes the source,
# sync=full and sync=top make a target that qemu-img compare finds equal
# to the source as it was at the job's start; sync=none copies only what
# the writes would have changed, so the target keeps the pre-write data.
# Bad input (the source as target, a smaller target, a missing or busy
# bitmap, bitmap options that mean nothing) is refused with nothing
# changed.
import json
import os

import dbus

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

SIZE = 16 * MiB
WRITES = {'base': ['write -P 0x11 0 16M'], 'top': ['write -P 0x22 1M 3M', 'write -z 6M 1M',
                                                   'write -P 0x23 9M 64k']}
# (pattern, offset, length) the client writes while the job runs
DURING = [(0x41, 0, 4096), (0x42, 3 * MiB + 4096, 1 * MiB), (0x43, 8 * MiB - 512, 8192),
          (0x44, 15 * MiB, 64 * 1024)]


def new_image(d, name, backing=None, size=SIZE):
    p = os.path.join(d.tmpdir, name + '.qcow2')
    cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    if backing:
        cmd += ['-b', backing, '-F', 'qcow2']
    run(cmd + [p, str(size)])
    return p


def add_image(d, name, path, backing_ref=None):
    backing = '<backing ref="%s"/>' % backing_ref if backing_ref else '<backing/>'
    d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"><file driver="file" '
                      'node-name="%s-file" filename="%s"/>%s</blockdev>'
                      % (name, name, path, backing))


def data_ranges(path):
    """[(start, length)] holding data in the image itself."""
    out = json.loads(run(['qemu-img', 'map', '-U', '--output=json', path]).stdout)
    return [(e['start'], e['length']) for e in out if e['depth'] == 0 and e['data']]


def write_all(client, writes):
    for pattern, off, length in writes:
        bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0,
                           'client write 0x%02x' % pattern)


def backup_with_writes(d, client, xml, jid):
    """Starts the backup slowly, writes DURING while it runs, lets it finish."""
    d.manager.StartJob(xml)
    jobtest.wait_status(d, jid, 'running')
    write_all(client, DURING)
    running = str(jobtest.job_props(d, jid)['Status'])
    jobtest.job(d, jid).SetSpeed(jobtest.dbus_u64(0))
    p = jobtest.wait_status(d, jid, 'concluded')
    bgtest.check(running == 'running', 'the writes overlapped the copy (was %s)' % running)
    bgtest.check_equal(str(p['Error']), '', 'backup %s succeeded' % jid)
    jobtest.job(d, jid).Dismiss()


def check_full_and_top(d):
    paths = jobtest.make_chain(d, ['base', 'top'], size=SIZE, writes=WRITES)
    jobtest.add_chain(d, ['base', 'top'], paths)
    ref = jobtest.reference(d, paths['top'])
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    nbdtest.add_export(d, 'e0', 'top', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'top')
    full = new_image(d, 'full')
    add_image(d, 'full', full)
    backup_with_writes(d, client, '<job type="backup" id="b0" node-name="top" target="full" '
                       'sync="full" speed="2M" auto-dismiss="off"/>', 'b0')
    d.manager.RemoveNode('full')
    ok, out = jobtest.compare(ref, full)
    bgtest.check(ok, 'sync=full: the target is the source at the start: ' + out)
    jobtest.check_clean(full)
    # sync=top into an image backed by the same base: the writes of the
    # full backup's run are the new start.
    d.node('top').Flush()
    ref2 = jobtest.reference(d, paths['top'], 'ref2.raw')
    top = new_image(d, 'topcopy', backing=paths['base'])
    add_image(d, 'topcopy', top, backing_ref='base')
    backup_with_writes(d, client, '<job type="backup" id="b1" node-name="top" target="topcopy" '
                       'sync="top" speed="1M" auto-dismiss="off"/>', 'b1')
    d.manager.RemoveNode('topcopy')
    ok, out = jobtest.compare(ref2, top)
    bgtest.check(ok, 'sync=top: the target over the base is the source at the start: ' + out)
    allocated = jobtest.allocated_ranges(top)
    bgtest.check(not jobtest.covers(allocated, 12 * MiB, MiB),
                 'sync=top left what only the base holds: %r' % allocated)
    jobtest.check_clean(top)
    client.disconnect()


def check_none(d):
    """sync=none: the target gets the old data of what is written, nothing else."""
    paths = jobtest.make_chain(d, ['src'], size=SIZE, writes={'src': ['write -P 0x11 0 16M']})
    jobtest.add_chain(d, ['src'], paths)
    sock = os.path.join(d.tmpdir, 'nbd-none.sock')
    nbdtest.add_export(d, 'e1', 'src', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'src')
    tgt = new_image(d, 'none')
    add_image(d, 'none', tgt)
    d.manager.StartJob('<job type="backup" id="b2" node-name="src" target="none" sync="none" '
                       'auto-dismiss="off"/>')
    jobtest.wait_status(d, 'b2', 'running')
    write_all(client, DURING)
    write_all(client, [(0x55, 0, 4096)])     # twice: the old data was copied already
    jobtest.job(d, 'b2').Cancel(False)
    jobtest.wait_status(d, 'b2', 'concluded')
    jobtest.job(d, 'b2').Dismiss()
    d.manager.RemoveNode('none')
    client.disconnect()
    for _, off, length in DURING:
        p = run(['qemu-io', '-f', 'qcow2', '-c', 'read -P 0x11 %d %d' % (off, length), tgt],
                check=False)
        bgtest.check(p.returncode == 0 and 'Pattern verification failed' not in p.stdout,
                     'sync=none kept the old data at %d: %s' % (off, p.stdout))
    allocated = data_ranges(tgt)
    bgtest.check(not jobtest.covers(allocated, 5 * MiB, MiB) and
                 jobtest.covers(allocated, 15 * MiB, 64 * 1024),
                 'sync=none copied only what was written: %r' % allocated)
    jobtest.check_clean(tgt)


def check_bad_input(d):
    paths = jobtest.make_chain(d, ['disk'], size=SIZE)
    jobtest.add_chain(d, ['disk'], paths)
    add_image(d, 'small', new_image(d, 'small', size=SIZE // 2))
    add_image(d, 'tgt', new_image(d, 'tgt'))
    d.node('disk').AddBitmap('b', dbus.UInt32(65536), False, False)
    before = (d.graph_xml(), d.node_props('disk')['Bitmaps'])
    for name, attrs in [
            ('InvalidArgument', 'target="disk" sync="full"'),
            ('InvalidArgument', 'target="small" sync="full"'),
            ('NotFound', 'target="nosuch" sync="full"'),
            ('InvalidArgument', 'target="tgt"'),
            ('InvalidArgument', 'target="tgt" sync="sideways"'),
            ('InvalidArgument', 'target="tgt" sync="incremental"'),
            ('InvalidArgument', 'target="tgt" sync="full" bitmap-mode="always"'),
            ('InvalidArgument', 'target="tgt" sync="none" bitmap="b" bitmap-mode="always"'),
            ('InvalidArgument', 'target="tgt" sync="full" bitmap="b" bitmap-mode="never"'),
            ('InvalidArgument', 'target="tgt" sync="incremental" bitmap="b" bitmap-mode="never"'),
            ('NotFound', 'target="tgt" sync="incremental" bitmap="nosuch"'),
            ('InvalidArgument', 'target="tgt" sync="full" on-target-error="maybe"')]:
        e = bgtest.expect_error(name, d.manager.StartJob,
                                '<job type="backup" id="x" node-name="disk" %s/>' % attrs)
        bgtest.check("'x'" in e.get_dbus_message() or 'nosuch' in e.get_dbus_message(),
                     'the error names the job or node: ' + e.get_dbus_message())
    bgtest.check_equal((d.graph_xml(), d.node_props('disk')['Bitmaps']), before,
                       'nothing changed by refused backups')
    # A bitmap in use by a backup is busy for a second one.
    add_image(d, 'tgt2', new_image(d, 'tgt2'))
    d.manager.StartJob('<job type="backup" id="held" node-name="disk" target="tgt" '
                       'sync="full" bitmap="b" bitmap-mode="on-success" speed="1" auto-dismiss="off"/>')
    busy = [b for b in d.node_props('disk')['Bitmaps'] if str(b[0]) == 'b'][0]
    bgtest.check(bool(busy[5]), 'the bitmap is busy during the job: %r' % (busy,))
    bgtest.expect_error('Busy', d.node('disk').ClearBitmap, 'b')
    bgtest.expect_error('Busy', d.manager.StartJob,
                        '<job type="backup" id="y" node-name="disk" target="tgt2" sync="full"/>')
    jobtest.job(d, 'held').Cancel(True)
    jobtest.wait_status(d, 'held', 'concluded')
    jobtest.job(d, 'held').Dismiss()
    free = [b for b in d.node_props('disk')['Bitmaps'] if str(b[0]) == 'b'][0]
    bgtest.check(not bool(free[5]), 'the bitmap is free after the job: %r' % (free,))


def check_target_errors(d):
    """A target that fails every write: on-target-error=stop pauses the job
    showing the error (IOError signal), the default report fails it; the
    bitmap keeps its bits either way."""
    paths = jobtest.make_chain(d, ['src'], size=SIZE, writes={'src': ['write -P 0x11 0 1M']})
    jobtest.add_chain(d, ['src'], paths)
    d.manager.AddNode('<blockdev driver="error" node-name="err" size="%d"/>' % SIZE)
    d.node('src').AddBitmap('b', dbus.UInt32(65536), False, False)
    d.node('src').Flush()       # a write through the node marks the bitmap
    sig = d.signals()
    d.manager.StartJob('<job type="backup" id="e1" node-name="src" target="err" sync="full" '
                       'bitmap="b" bitmap-mode="on-success" on-target-error="stop" '
                       'auto-dismiss="off"/>')
    p = jobtest.wait_status(d, 'e1', 'paused')
    bgtest.check("write error" in str(p['Error']), 'a stopped job shows the error: %r' % p['Error'])
    sig.wait_for(lambda items: any(i[1] == 'IOError' and str(i[3][0]) == 'write' and
                                   str(i[3][1]) == 'stop' for i in items))
    jobtest.job(d, 'e1').Cancel(True)
    jobtest.wait_status(d, 'e1', 'concluded')
    jobtest.job(d, 'e1').Dismiss()
    d.manager.StartJob('<job type="backup" id="e2" node-name="src" target="err" sync="full" '
                       'bitmap="b" bitmap-mode="on-success" auto-dismiss="off"/>')
    p = jobtest.wait_status(d, 'e2', 'concluded')
    bgtest.check("backup of node 'src' into node 'err' failed" in str(p['Error']),
                 'the failure names the nodes: %r' % p['Error'])
    jobtest.job(d, 'e2').Dismiss()
    b = [b for b in d.node_props('src')['Bitmaps'] if str(b[0]) == 'b'][0]
    bgtest.check(not bool(b[5]), 'the bitmap is free after the failed jobs')


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_bad_input(d)
        check_target_errors(d)
    with bgtest.Daemon() as d:
        check_full_and_top(d)
    with bgtest.Daemon() as d:
        check_none(d)


bgtest.run(main)
