#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Mirror (QEMU iotest 041's checks), with qemu-img/qemu-io as oracles:
# - sync=full to a fresh qcow2 while an NBD client writes through an export
#   of the source before, during and after the copy: after Complete() the
#   target is in use (the export names it) and equals the source; the same
#   connection keeps working and its later writes land in the target.
# - Cancel(false) once ready leaves the source in use, the target a copy.
# - sync=top copies only what the top holds; sync=none only new writes.
# - copy-mode=write-blocking: a guest write is in the target when it
#   completes, while the background copy is still far away (raw target);
#   fio writing at queue depth 16 during the copy and after ready leaves
#   the target equal to the source.
# - a read error with on-source-error=report fails the job without ready;
#   stop pauses it showing the error; the same for write errors of the
#   target with on-target-error.
# - kill -9 during a mirror leaves both images passing qemu-img check.
# - bad input (the source itself, a smaller target, a node of the source's
#   chain, bad sync/granularity/copy-mode, a read-only target) changes nothing.
import json
import os
import subprocess
import time

import jobtest
import nbdtest
import nbdwire
from jobtest import bgtest, run, MiB

SIZE = 16 * MiB
SRC_WRITES = ['write -P 0x11 0 5M', 'write -z 6M 1M', 'write -P 0x12 9M 3M']
DURING = [(0x41, 0, 4096), (0x42, 3 * MiB + 4096, MiB), (0x43, 8 * MiB - 512, 8192)]
READY = [(0x51, 2 * MiB + 65536, 65536), (0x52, 15 * MiB, 4096)]
AFTER = [(0x61, 12 * MiB, 65536)]


def qcow2(d, name, writes=(), backing=None):
    p = os.path.join(d.tmpdir, name + '.qcow2')
    cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
    if backing:
        cmd += ['-b', backing, '-F', 'qcow2']
    run(cmd + [p, str(SIZE)])
    for w in writes:
        run(['qemu-io', '-f', 'qcow2', '-c', w, p])
    return p


def add_qcow2(d, name, path, backing_ref=None, read_only=False):
    ro = ' read-only="on"' if read_only else ''
    backing = '<backing ref="%s"/>' % backing_ref if backing_ref else '<backing/>'
    d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"%s><file driver="file" '
                      'node-name="%s-file" filename="%s"%s/>%s</blockdev>'
                      % (name, ro, name, path, ro, backing))


def write_all(client, writes):
    for pattern, off, length in writes:
        bgtest.check_equal(client.write(off, bytes([pattern]) * length), 0,
                           'client write 0x%02x' % pattern)


def apply_raw(path, writes):
    for pattern, off, length in writes:
        run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x%02x %d %d' % (pattern, off, length), path])


def statuses(sig, jid):
    return [str(i[3][1]['Status']) for i in sig.named('PropertiesChanged')
            if str(i[2]).endswith('/job/' + jid) and 'Status' in i[3][1]]


def start(d, jid, attrs):
    d.manager.StartJob('<job type="mirror" id="%s" %s/>' % (jid, attrs))
    return jobtest.job(d, jid)


def check_bad_input(d):
    small = os.path.join(d.tmpdir, 'small.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', small, '8M'])
    add_qcow2(d, 'small', small)
    add_qcow2(d, 'ro', qcow2(d, 'ro'), read_only=True)
    before = d.graph_xml()
    for name, attrs, words in [
            ('InvalidArgument', 'node-name="src" target="src" sync="full"', 'into itself'),
            ('InvalidArgument', 'node-name="src" target="src-file" sync="full"', 'same size'),
            ('InvalidArgument', 'node-name="src" target="small" sync="full"', 'same size'),
            ('InvalidArgument', 'node-name="top" target="base" sync="full"', 'backing chain'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="most"', 'sync'),
            ('InvalidArgument', 'node-name="src" target="dst"', 'sync'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" granularity="1000"',
             'granularity'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" copy-mode="fast"',
             'copy-mode'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" '
             'on-source-error="maybe"', 'on-source-error'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" replaces="top"',
             'replaces'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" speed="fast"', 'speed'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" buf-size="2G"',
             'buf-size'),
            ('InvalidArgument', 'node-name="src" target="dst" sync="full" '
             'on-target-error="maybe"', 'on-target-error'),
            ('NotFound', 'node-name="src" target="nosuch" sync="full"', 'nosuch')]:
        e = bgtest.expect_error(name, d.manager.StartJob,
                                '<job type="mirror" id="m" %s/>' % attrs)
        bgtest.check(words in e.get_dbus_message(), e.get_dbus_message())
    e = bgtest.expect_error('ReadOnly', d.manager.StartJob,
                            '<job type="mirror" id="m" node-name="src" target="ro" sync="full"/>')
    bgtest.check("'ro'" in e.get_dbus_message(), e.get_dbus_message())
    bgtest.check_equal(d.graph_xml(), before, 'graph after refused mirrors')
    d.manager.RemoveNode('small')
    d.manager.RemoveNode('ro')


def check_complete(d):
    """sync=full across writes, Complete, the client on the target afterwards."""
    src = qcow2(d, 'src', SRC_WRITES)
    dst = qcow2(d, 'dst')
    add_qcow2(d, 'src', src)
    add_qcow2(d, 'dst', dst)
    base, top = qcow2(d, 'base', ['write -P 0x21 0 1M']), None
    top = qcow2(d, 'top', ['write -P 0x22 1M 1M'], backing=base)
    add_qcow2(d, 'base', base)
    add_qcow2(d, 'top', top, backing_ref='base')
    check_bad_input(d)
    ref = jobtest.reference(d, src)
    apply_raw(ref, DURING + READY + AFTER)
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    nbdtest.add_export(d, 'e0', 'src', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'src')
    sig = d.signals()
    j = start(d, 'm0', 'node-name="src" target="dst" sync="full" granularity="64K" '
              'buf-size="4M" speed="2M" auto-dismiss="off"')
    jobtest.wait_status(d, 'm0', 'running')
    bgtest.expect_error('InvalidState', j.Complete)
    users = [str(u[0]) for u in d.node_props('dst')['Users']]
    bgtest.check('job:m0' in users, 'the job uses the target: %r' % users)
    bgtest.expect_error('PermissionConflict', nbdtest.add_export, d, 'ex', 'dst',
                        os.path.join(d.tmpdir, 'x.sock'), False)
    write_all(client, DURING)
    running = str(jobtest.job_props(d, 'm0')['Status'])
    j.SetSpeed(jobtest.dbus_u64(0))
    jobtest.wait_status(d, 'm0', 'ready')
    bgtest.check(running == 'running', 'the writes overlapped the copy (was %s)' % running)
    write_all(client, READY)
    j.Complete()
    p = jobtest.wait_status(d, 'm0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'mirror succeeded')
    sig.wait_for(lambda items: 'ready' in statuses(sig, 'm0'))
    j.Dismiss()
    bgtest.check_equal(str(nbdtest.export_props(d, 'e0')['NodeName']), 'dst', 'export moved')
    users = [str(u[0]) for u in d.node_props('src')['Users']]
    bgtest.check_equal(users, [], 'the source is used by nobody')
    d.node('dst').Flush()
    d.node('src').Flush()
    ok, out = jobtest.compare(jobtest.reference(d, src, 'src-now.raw'), dst)
    bgtest.check(ok, 'after Complete the target equals the source: ' + out)
    write_all(client, AFTER)        # the same connection, now on the target
    for pattern, off, length in DURING + READY + AFTER:
        err, data = client.read(off, length)
        bgtest.check(err == 0 and data == bytes([pattern]) * length,
                     'client reads back 0x%02x at %d' % (pattern, off))
    bgtest.check_equal(client.simple(nbdwire.CMD_FLUSH), 0, 'flush through the client')
    client.disconnect()
    ok, out = jobtest.compare(ref, dst)
    bgtest.check(ok, 'the target holds every write: ' + out)
    jobtest.check_clean(dst)
    d.manager.RemoveNode('src')


def check_cancel_when_ready(d):
    src = qcow2(d, 'src2', SRC_WRITES)
    dst = qcow2(d, 'dst2')
    add_qcow2(d, 'src2', src)
    add_qcow2(d, 'dst2', dst)
    sock = os.path.join(d.tmpdir, 'nbd2.sock')
    nbdtest.add_export(d, 'e2', 'src2', sock, writable=True)
    j = start(d, 'm2', 'node-name="src2" target="dst2" sync="full" auto-dismiss="off"')
    jobtest.wait_status(d, 'm2', 'ready')
    j.Cancel(False)
    p = jobtest.wait_status(d, 'm2', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'a soft cancel once ready ends the job')
    bgtest.check_equal(str(nbdtest.export_props(d, 'e2')['NodeName']), 'src2', 'no pivot')
    users = [str(u[0]) for u in d.node_props('dst2')['Users']]
    bgtest.check_equal(users, [], 'target released')
    d.node('dst2').Flush()
    d.node('src2').Flush()
    jobtest.check_clean(dst)
    ok, out = jobtest.compare(jobtest.reference(d, src, 'src2.raw'), dst)
    bgtest.check(ok, 'the target is a copy of the source: ' + out)


def check_replaces(d):
    """replaces: the filter above the source is what its users leave for the target."""
    src = qcow2(d, 'rsrc', SRC_WRITES)
    dst = qcow2(d, 'rdst')
    add_qcow2(d, 'rsrc', src)
    add_qcow2(d, 'rdst', dst)
    d.manager.AddNode('<blockdev driver="copy-on-read" node-name="rcor"><file ref="rsrc"/>'
                      '</blockdev>')
    sock = os.path.join(d.tmpdir, 'nbdr.sock')
    nbdtest.add_export(d, 'er', 'rcor', sock, writable=True)
    j = start(d, 'r0', 'node-name="rsrc" target="rdst" sync="full" replaces="rcor" '
              'auto-dismiss="off"')
    jobtest.wait_status(d, 'r0', 'ready')
    j.Complete()
    p = jobtest.wait_status(d, 'r0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'mirror with replaces succeeded')
    j.Dismiss()
    bgtest.check_equal(str(nbdtest.export_props(d, 'er')['NodeName']), 'rdst',
                       'the export left the filter for the target')
    children = {str(c[0]): str(c[1]) for c in d.node_props('rcor')['Children']}
    bgtest.check_equal(children.get('file'), 'rsrc', 'the filter itself stays on the source')


def check_sync_top_and_none(d):
    # top: the target, backed by the same base, gets only what the top holds.
    base = qcow2(d, 'tbase', ['write -P 0x31 0 4M'])
    top = qcow2(d, 'ttop', ['write -P 0x32 1M 1M', 'write -P 0x33 10M 64k'], backing=base)
    tdst = qcow2(d, 'tdst', backing=base)
    add_qcow2(d, 'tbase', base)
    add_qcow2(d, 'ttop', top, backing_ref='tbase')
    add_qcow2(d, 'tdst', tdst, backing_ref='tbase')
    j = start(d, 't0', 'node-name="ttop" target="tdst" sync="top"')
    jobtest.wait_status(d, 't0', 'ready')
    j.Complete()
    deadline = time.monotonic() + 60
    while any(str(o).endswith('/job/t0') for o in d.managed_objects()):
        bgtest.check(time.monotonic() < deadline, 'sync=top job did not end')
        time.sleep(0.02)
    d.node('tdst').Flush()
    bgtest.check_equal(jobtest.allocated_ranges(tdst), jobtest.allocated_ranges(top),
                       'sync=top copies what the top holds, nothing of the base')
    p = run(['qemu-img', 'compare', '-U', top, tdst], check=False)
    bgtest.check(p.returncode == 0, 'sync=top target reads like the top: ' + p.stdout)
    # none: nothing is copied but what is written during the job.
    src = qcow2(d, 'nsrc', SRC_WRITES)
    ndst = qcow2(d, 'ndst')
    add_qcow2(d, 'nsrc', src)
    add_qcow2(d, 'ndst', ndst)
    sock = os.path.join(d.tmpdir, 'nbdn.sock')
    nbdtest.add_export(d, 'en', 'nsrc', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'nsrc')
    j = start(d, 'n0', 'node-name="nsrc" target="ndst" sync="none" auto-dismiss="off"')
    jobtest.wait_status(d, 'n0', 'ready')
    write_all(client, [(0x71, 4 * MiB, 65536)])
    client.disconnect()
    j.Cancel(False)
    jobtest.wait_status(d, 'n0', 'concluded')
    d.node('ndst').Flush()
    bgtest.check_equal(data_ranges(ndst), [(4 * MiB, 65536)],
                       'sync=none copies only the new write')
    run(['qemu-io', '-r', '-U', '-f', 'qcow2', '-c', 'read -P 0x71 4M 64k', ndst])


def data_ranges(path):
    out = json.loads(run(['qemu-img', 'map', '-U', '--output=json', path]).stdout)
    return [(e['start'], e['length']) for e in out if e['data']]


def target_has(path, pattern, off, length):
    """Whether the raw file holds the pattern (read past the daemon's image locks)."""
    with open(path, 'rb') as f:
        f.seek(off)
        return f.read(length) == bytes([pattern]) * length


def check_write_blocking(d):
    """A guest write is in the (raw) target as soon as it completes.  Parts of
    granules still to be copied are left to the background copy (QEMU)."""
    src = qcow2(d, 'wsrc', SRC_WRITES)
    add_qcow2(d, 'wsrc', src)
    sock = os.path.join(d.tmpdir, 'nbdw.sock')
    nbdtest.add_export(d, 'ew', 'wsrc', sock, writable=True)
    client = nbdwire.Client(sock, timeout=60)
    client.go(b'wsrc')
    seen = {}
    for mode, pattern in (('background', 0x81), ('write-blocking', 0x82)):
        tgt = os.path.join(d.tmpdir, mode + '.raw')
        nbdtest.make_image(tgt, SIZE)
        d.manager.AddNode('<blockdev driver="raw" node-name="w-%s"><file driver="file" '
                          'filename="%s"/></blockdev>' % (mode, tgt))
        j = start(d, 'w-' + mode, 'node-name="wsrc" target="w-%s" sync="full" copy-mode="%s" '
                  'speed="64K" granularity="64K" buf-size="64K" auto-dismiss="off"'
                  % (mode, mode))
        jobtest.wait_status(d, 'w-' + mode, 'running')
        # Whole granules: a write-blocking mirror copies them at once, dirty or not.
        write_all(client, [(pattern, 14 * MiB, 65536)])
        seen[mode] = target_has(tgt, pattern, 14 * MiB, 65536)
        bgtest.check_equal(str(jobtest.job_props(d, 'w-' + mode)['Status']), 'running',
                           'the copy is still far from the write (%s)' % mode)
        j.SetSpeed(jobtest.dbus_u64(0))
        jobtest.wait_status(d, 'w-' + mode, 'ready')
        write_all(client, [(pattern + 8, 15 * MiB, 4096)])
        bgtest.check(target_has(tgt, pattern + 8, 15 * MiB, 4096) or mode == 'background',
                     'a write once ready is in the write-blocking target at once')
        j.Cancel(False)
        jobtest.wait_status(d, 'w-' + mode, 'concluded')
        j.Dismiss()
        d.node('wsrc').Flush()
        ok, out = jobtest.compare(tgt, src, 'qcow2')
        bgtest.check(ok, '%s target equals the source after the job: %s' % (mode, out))
    client.disconnect()
    bgtest.check_equal(seen, {'background': False, 'write-blocking': True},
                       'which mode had the write in the target while the copy ran')


def check_write_blocking_under_load(d):
    """Guest writes at queue depth 16 (fio, random offsets and sizes) while
    the background copy runs, as the job turns ready and after: the target
    equals the source at the end."""
    src = os.path.join(d.tmpdir, 'lsrc.raw')
    tgt = os.path.join(d.tmpdir, 'ltgt.raw')
    nbdtest.make_image(src, SIZE, [(i * MiB, bytes([0x30 + i]) * MiB) for i in range(16)])
    nbdtest.make_image(tgt, SIZE)
    for name, path in (('lsrc', src), ('ltgt', tgt)):
        d.manager.AddNode('<blockdev driver="raw" node-name="%s"><file driver="file" '
                          'filename="%s"/></blockdev>' % (name, path))
    _, uri = nbdtest.add_export(d, 'el', 'lsrc', os.path.join(d.tmpdir, 'nbdl.sock'))
    j = start(d, 'load', 'node-name="lsrc" target="ltgt" sync="full" copy-mode="write-blocking" '
              'speed="2M" granularity="64K" buf-size="256K" auto-dismiss="off"')
    jobtest.wait_status(d, 'load', 'running')
    fio = subprocess.Popen(
        ['fio', '--name=load', '--ioengine=nbd', '--uri=' + uri, '--rw=randwrite',
         '--bsrange=512-64k', '--iodepth=16', '--rate=1m', '--size=%d' % SIZE, '--time_based',
         '--runtime=3', '--output-format=terse'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=d.tmpdir)
    time.sleep(1.5)
    bgtest.check_equal(str(jobtest.job_props(d, 'load')['Status']), 'running',
                       'the copy is still running while fio writes')
    j.SetSpeed(jobtest.dbus_u64(0))     # ready while fio goes on writing
    out, _ = fio.communicate(timeout=120)
    bgtest.check_equal(fio.returncode, 0, 'fio exit status\n' + out)
    bgtest.check_equal(out.strip().splitlines()[-1].split(';')[4], '0', 'fio error field')
    jobtest.wait_status(d, 'load', 'ready')
    j.Cancel(False)
    jobtest.wait_status(d, 'load', 'concluded')
    j.Dismiss()
    d.node('lsrc').Flush()
    ok, out = jobtest.compare(tgt, src, 'raw')
    bgtest.check(ok, 'target equals the source after writes during the copy: %s' % out)


def check_read_error(d):
    d.manager.AddNode('<blockdev driver="error" node-name="bad" size="16M"/>')
    d.manager.AddNode('<blockdev driver="null-co" node-name="sink" size="16M"/>')
    sig = d.signals()
    start(d, 'e0', 'node-name="bad" target="sink" sync="full" on-source-error="report" '
          'auto-dismiss="off"')
    p = jobtest.wait_status(d, 'e0', 'concluded')
    bgtest.check('read error' in str(p['Error']) and "'bad'" in str(p['Error']), str(p['Error']))
    sig.wait_for(lambda items: 'concluded' in statuses(sig, 'e0'))
    bgtest.check('ready' not in statuses(sig, 'e0'), 'never ready: %r' % statuses(sig, 'e0'))
    sig.wait_for(lambda items: any(i[1] == 'IOError' and str(i[2]).endswith('/job/e0')
                                   for i in items))
    err = [i[3] for i in sig.named('IOError') if str(i[2]).endswith('/job/e0')][0]
    bgtest.check_equal([str(err[0]), str(err[1])], ['read', 'report'], 'IOError')
    jobtest.job(d, 'e0').Dismiss()
    j = start(d, 'e1', 'node-name="bad" target="sink" sync="full" on-source-error="stop"')
    p = jobtest.wait_status(d, 'e1', 'paused')
    bgtest.check('read error' in str(p['Error']), str(p['Error']))
    j.Cancel(True)
    sig.wait_for(lambda items: any(i[1] == 'Completed' and str(i[2]).endswith('/job/e1')
                                   for i in items), timeout=30)


def check_target_error(d):
    """A target that fails every write: on-target-error=report fails the job
    without ready, naming the write; stop pauses it with IOError(write, stop)."""
    d.manager.AddNode('<blockdev driver="null-co" node-name="good" size="16M" read-zeroes="off"/>')
    d.manager.AddNode('<blockdev driver="error" node-name="wbad" size="16M"/>')
    sig = d.signals()
    start(d, 't0', 'node-name="good" target="wbad" sync="full" on-target-error="report" '
          'auto-dismiss="off"')
    p = jobtest.wait_status(d, 't0', 'concluded')
    bgtest.check('write error' in str(p['Error']) and "'wbad'" in str(p['Error']),
                 str(p['Error']))
    bgtest.check('ready' not in statuses(sig, 't0'), 'never ready: %r' % statuses(sig, 't0'))
    jobtest.job(d, 't0').Dismiss()
    j = start(d, 't1', 'node-name="good" target="wbad" sync="full" on-target-error="stop" '
              'on-source-error="report"')
    p = jobtest.wait_status(d, 't1', 'paused')
    bgtest.check('write error' in str(p['Error']), str(p['Error']))
    sig.wait_for(lambda items: any(i[1] == 'IOError' and str(i[2]).endswith('/job/t1') and
                                   [str(x) for x in i[3]] == ['write', 'stop'] for i in items))
    j.Cancel(True)
    sig.wait_for(lambda items: any(i[1] == 'Completed' and str(i[2]).endswith('/job/t1')
                                   for i in items), timeout=30)


def check_kill(d):
    src = qcow2(d, 'ksrc', ['write -P 0x11 0 16M'])
    dst = qcow2(d, 'kdst')
    add_qcow2(d, 'ksrc', src)
    add_qcow2(d, 'kdst', dst)
    start(d, 'k0', 'node-name="ksrc" target="kdst" sync="full" speed="4M" buf-size="1M"')
    jobtest.wait_progress(d, 'k0', 0.1)
    jobtest.kill9(d)
    jobtest.check_images({'source': src, 'target': dst}, 'kill -9 during mirror')


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_complete(d)
        check_cancel_when_ready(d)
        check_replaces(d)
        check_sync_top_and_none(d)
        check_write_blocking(d)
        check_write_blocking_under_load(d)
        check_read_error(d)
        check_target_error(d)
    with bgtest.Daemon() as d:
        check_kill(d)


bgtest.run(main)
