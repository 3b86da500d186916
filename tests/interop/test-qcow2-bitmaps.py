#!/usr/bin/python3
# Persistent bitmaps in qcow2's bitmaps extension, with qemu-img, qemu-io
# and qemu-nbd as oracles: a bitmap QEMU wrote loads here with its bits; the
# bitmaps written here show in `qemu-img info` with their flags and
# granularity, `qemu-img check` is clean, and qemu-nbd serves the bits the
# daemon recorded; the in-use flag is set while the image is open writable,
# so after SIGKILL the bitmaps load inconsistent and can only be removed.
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import nbdtest
from nbdtest import bgtest, MiB
import dbus

KiB = 1024


def qemu_bitmaps(img):
    info = json.loads(nbdtest.run(['qemu-img', 'info', '-U', '--output=json', img]).stdout)
    data = info.get('format-specific', {}).get('data', {})
    return {b['name']: (b['granularity'], sorted(b['flags'])) for b in data.get('bitmaps', [])}


def check_clean(img, what):
    p = nbdtest.run(['qemu-img', 'check', img], check=False)
    bgtest.check(p.returncode == 0 and 'leaked' not in p.stdout,
                 '%s: qemu-img check (exit %d):\n%s%s' % (what, p.returncode, p.stdout, p.stderr))


def bitmaps(d, node='disk0'):
    return {str(b[0]): (int(b[1]), int(b[2]), bool(b[3]), bool(b[4]), bool(b[6]))
            for b in d.node_props(node)['Bitmaps']}


def add_qcow2(d, img):
    d.manager.AddNode('<blockdev driver="qcow2" node-name="disk0">'
                      '<file driver="file" filename="%s"/></blockdev>' % img)


def dirty_ranges(extents):
    out = []
    for e in extents:
        if e['type'] & 1:
            if out and out[-1][1] == e['offset']:
                out[-1] = (out[-1][0], e['offset'] + e['length'])
            else:
                out.append((e['offset'], e['offset'] + e['length']))
    return out


def qemu_nbd_map(img, bitmap, tmp):
    """The bits as QEMU reads them from the file: qemu-nbd -B, then nbdinfo --map."""
    sock = os.path.join(tmp, 'qemu-nbd.sock')
    p = subprocess.Popen(['qemu-nbd', '-r', '-f', 'qcow2', '-k', sock, '-B', bitmap, img],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        out = nbdtest.run(['nbdinfo', '--map=qemu:dirty-bitmap:' + bitmap, '--json',
                           'nbd+unix:///?socket=' + sock]).stdout
        return dirty_ranges(json.loads(out))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


def main():
    for tool in ('qemu-img', 'qemu-io', 'qemu-nbd', 'nbdinfo'):
        bgtest.need_tool(tool)
    tmp = tempfile.mkdtemp(prefix='bgtest-qcow2-bitmaps-')
    try:
        run_checks(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_checks(tmp):
    img = os.path.join(tmp, 'disk.qcow2')
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '64M'])
    nbdtest.run(['qemu-img', 'bitmap', '--add', '-g', '64K', img, 'q1'])
    nbdtest.run(['qemu-io', '-f', 'qcow2', img, '-c', 'write 1M 64k', '-c', 'write 10M 4k'])
    q1 = [(MiB, MiB + 64 * KiB), (10 * MiB, 10 * MiB + 64 * KiB)]

    with bgtest.Daemon() as d:
        add_qcow2(d, img)
        bgtest.check_equal(bitmaps(d), {'q1': (64 * KiB, 128 * KiB, True, True, False)},
                           "QEMU's bitmap loads with its bits")
        bgtest.check_equal(qemu_bitmaps(img), {'q1': (64 * KiB, ['auto', 'in-use'])},
                           'in use while open writable')
        n = d.node('disk0')
        n.AddBitmap('mine', dbus.UInt32(4 * KiB), True, False)
        n.AddBitmap('off', dbus.UInt32(0), True, True)
        n.AddBitmap('temp', dbus.UInt32(0), False, False)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        nbdtest.add_export(d, 'e0', 'disk0', sock)
        nbdtest.run(['qemu-io', '-f', 'raw', 'nbd+unix:///disk0?socket=' + sock,
                     '-c', 'write 20M 8k', '-c', 'write -z 30M 1M'])
        bgtest.remove_export_safe(d, d.manager_path('export', 'e0'))
        before = bitmaps(d)
        # Inactivation stores them (not in use); activation loads them again.
        n.SetActive(False)
        bgtest.check_equal(qemu_bitmaps(img)['mine'], (4 * KiB, ['auto']), 'stored on inactivate')
        n.SetActive(True)
        bgtest.check_equal(bitmaps(d), before, 'the same bitmaps after activation')
        bgtest.check_equal(qemu_bitmaps(img)['mine'], (4 * KiB, ['auto', 'in-use']),
                           'in use again once active')
        # A reopen read-only stores them too; persistent ones then refuse changes.
        xml = str(n.GetXML()).replace('read-only="off"', 'read-only="on"', 1)
        n.Reopen(xml)
        bgtest.check_equal(qemu_bitmaps(img)['q1'], (64 * KiB, ['auto']), 'stored on reopen ro')
        bgtest.expect_error('ReadOnly', n.ClearBitmap, 'q1')
        n.Reopen(xml.replace('read-only="on"', 'read-only="off"', 1))
        bgtest.check_equal(bitmaps(d), before, 'the same bitmaps after reopen read-write')
        d.manager.RemoveNode('disk0')

    want = {'q1': (64 * KiB, ['auto']), 'mine': (4 * KiB, ['auto']), 'off': (64 * KiB, [])}
    bgtest.check_equal(qemu_bitmaps(img), want, 'qemu-img info after a clean close')
    check_clean(img, 'after a clean close')
    mine = [(20 * MiB, 20 * MiB + 8 * KiB), (30 * MiB, 31 * MiB)]
    bgtest.check_equal(qemu_nbd_map(img, 'mine', tmp), mine, "qemu-nbd reads 'mine'")
    bgtest.check_equal(qemu_nbd_map(img, 'q1', tmp),
                       q1 + [(20 * MiB, 20 * MiB + 64 * KiB), (30 * MiB, 31 * MiB)],
                       "qemu-nbd reads 'q1'")
    bgtest.check_equal(qemu_nbd_map(img, 'off', tmp), [], "'off' recorded nothing")

    # Unclean shutdown: the in-use flag stays; the bitmaps load inconsistent.
    with bgtest.Daemon() as d:
        add_qcow2(d, img)
        bgtest.check_equal(bitmaps(d)['mine'], (4 * KiB, 8 * KiB + MiB, True, True, False),
                           "'mine' loads again")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d._stopped = True
    bgtest.check_equal(qemu_bitmaps(img)['mine'], (4 * KiB, ['auto', 'in-use']),
                       'in use after SIGKILL')
    with bgtest.Daemon() as d:
        add_qcow2(d, img)
        got = bitmaps(d)
        bgtest.check(all(b[4] for b in got.values()), 'all inconsistent: %r' % got)
        n = d.node('disk0')
        bgtest.expect_error('InvalidState', n.ClearBitmap, 'mine')
        bgtest.expect_error('InvalidState', n.EnableBitmap, 'off')
        bgtest.expect_error('InvalidState', n.MergeBitmaps, 'q1', ['mine'])
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        bgtest.expect_error('InvalidState', d.manager.AddExport,
                            '<export type="nbd" id="e0" node-name="disk0"><server type="unix" '
                            'path="%s"/><bitmap name="mine"/></export>' % sock)
        n.RemoveBitmap('mine')
        d.manager.RemoveNode('disk0')
    bgtest.check_equal(sorted(qemu_bitmaps(img)), ['off', 'q1'], 'removed for good')
    bgtest.check_equal(qemu_bitmaps(img)['q1'][1], ['auto', 'in-use'],
                       'an inconsistent bitmap stays in use')
    check_clean(img, 'after removing an inconsistent bitmap')

    # A raw node cannot persist a bitmap; a v2 qcow2 image cannot either.
    raw = os.path.join(tmp, 'disk.raw')
    v2 = os.path.join(tmp, 'v2.qcow2')
    nbdtest.make_image(raw, MiB)
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', v2, '1M'])
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="raw" node-name="r0"><file driver="file" '
                          'filename="%s"/></blockdev>' % raw)
        e = bgtest.expect_error('NotSupported', d.node('r0').AddBitmap, 'p', dbus.UInt32(0),
                                True, False)
        bgtest.check("'raw'" in e.get_dbus_message(), e.get_dbus_message())
        d.manager.AddNode('<blockdev driver="qcow2" node-name="v2"><file driver="file" '
                          'filename="%s"/></blockdev>' % v2)
        e = bgtest.expect_error('NotSupported', d.node('v2').AddBitmap, 'p', dbus.UInt32(0),
                                True, False)
        bgtest.check('version 3' in e.get_dbus_message(), e.get_dbus_message())
        bgtest.check_equal(bitmaps(d, 'v2'), {}, 'nothing added')


bgtest.run(main)
