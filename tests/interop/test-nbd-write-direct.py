#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# NBD writes of 32 KiB and more to an image on tmpfs, served by an
# iothread, are received straight into the file's mapped page cache
# (docs/nbd.md, "Zero-copy writes"), on the main loop too; on a disk file
# system they go through a buffer.  They must land as normal writes do:
# the bytes (odd sizes and offsets, through a raw window, many in flight,
# FUA, over TCP), the dirty bitmap; a client that stops halfway through a
# payload must hold no drain back (of its own loop or another), nor a
# hard removal or SIGTERM; a node grown by Resize and a file that another
# program shrank (before a write, or between two) must get every byte; the
# mapping goes with the node, and with the read-write descriptor of an
# auto-read-only node.  Where a first store into a mapped page costs many
# copies, a range is written through a buffer until mapping it pays
# (drivers/file-mem-rent.h).
import os
import random
import shutil
import tempfile
import time
import dbus
import nbdremote
import nbdtest
import nbdwire
import stalled
from nbdtest import bgtest, MiB

KiB = 1 << 10
SIZE = 16 * MiB
WIN_OFF, WIN_SIZE = MiB + 4 * KiB, 8 * MiB
GRAN = 64 * KiB


def mapped(d, path):
    """Whether the daemon has the file mapped."""
    with open('/proc/%d/maps' % d.proc.pid) as f:
        return any(line.split(None, 5)[-1].strip() == path for line in f if len(line.split()) > 5)


def dirty_count(d, node, name):
    return [int(b[2]) for b in d.node_props(node)['Bitmaps'] if str(b[0]) == name][0]


class Image:
    """The image's expected bytes and the bitmap clusters the writes dirtied."""

    def __init__(self, content):
        self.content = bytearray(content)
        self.dirty = set()

    def write(self, off, data):
        self.content[off:off + len(data)] = data
        self.dirty.update(range(off // GRAN, (off + len(data) - 1) // GRAN + 1))

    def check_file(self, path, what):
        with open(path, 'rb') as f:
            on_disk = f.read()
        bgtest.check(on_disk == bytes(self.content), '%s: the file holds what was written' % what)


def write_all(c, writes, flags=0):
    """Sends every (offset, data) before reading a reply: many in flight."""
    cookies = [c.request(nbdwire.CMD_WRITE, off, len(data), flags, data) for off, data in writes]
    errors = {}
    for _ in cookies:
        cookie, error, _, _ = c.reply()
        errors[cookie] = error
    return [errors[k] for k in cookies]


def check_writes(d, img, image, sock_file, sock_win):
    rnd = random.Random(7)
    c = nbdwire.Client(sock_file)
    c.go(b'f')
    writes = [((i * 769 * KiB) % (SIZE - MiB), rnd.randbytes(MiB)) for i in range(24)]
    writes += [(12345, rnd.randbytes(3 * MiB + 517)), (7 * MiB + 3, rnd.randbytes(40000)),
               (SIZE - 96 * KiB, rnd.randbytes(96 * KiB))]
    bgtest.check_equal(write_all(c, writes), [0] * len(writes), 'pipelined writes succeed')
    for off, data in writes:
        image.write(off, data)
    fua = [(5 * MiB + 7, rnd.randbytes(MiB))]
    bgtest.check_equal(write_all(c, fua, nbdwire.FLAG_FUA), [0], 'a FUA write succeeds')
    image.write(*fua[0])
    error, data = c.read(0, SIZE)
    bgtest.check(error == 0 and data == bytes(image.content), 'the export reads what was written')
    c.disconnect()

    c = nbdwire.Client(sock_win)
    c.go(b'w')
    writes = [(3, rnd.randbytes(2 * MiB)), (WIN_SIZE - MiB, rnd.randbytes(MiB)),
              (MiB + 100, rnd.randbytes(64 * KiB))]
    bgtest.check_equal(write_all(c, writes), [0] * len(writes), 'writes through the window')
    for off, data in writes:
        image.write(WIN_OFF + off, data)
    c.disconnect()
    image.check_file(img, 'after the writes')
    bgtest.check(mapped(d, img), 'the image on tmpfs is mapped: its writes took the zero-copy path')


def check_tcp(d, img, image):
    """Over TCP the payload is received into the mapping the same way."""
    port = nbdremote.free_port()
    d.manager.AddExport('<export type="nbd" id="et" node-name="f" name="f" writable="on" '
                        'iothread="io1"><server type="inet" host="127.0.0.1" port="%d"/>'
                        '</export>' % port)
    rnd = random.Random(13)
    writes = [(i * 1031 * KiB, rnd.randbytes(MiB)) for i in range(8)]
    c = nbdwire.Client(host='127.0.0.1', port=port)
    c.go(b'f')
    bgtest.check_equal(write_all(c, writes), [0] * len(writes), 'writes over TCP')
    c.disconnect()
    for off, data in writes:
        image.write(off, data)
    image.check_file(img, 'after the writes over TCP')
    bgtest.remove_export_safe(d, d.manager_path('export', 'et'))


def check_stalled_payload(d, img, image, sock, node='f'):
    """Half a payload, then nothing: a reopen (which drains the node) must not wait for the rest."""
    data = random.Random(8).randbytes(MiB)
    c = nbdwire.Client(sock)
    c.go(node.encode())
    c.request(nbdwire.CMD_WRITE, 2 * MiB, MiB, 0, data[:MiB // 2])
    time.sleep(0.3)
    t = time.monotonic()
    d.node(node).Reopen(str(d.node(node).GetXML()), timeout=10)
    bgtest.check(time.monotonic() - t < 5, '%s: a reopen does not wait for a stalled payload' % node)
    c.send(data[MiB // 2:])
    cookie, error, _, _ = c.reply()
    bgtest.check_equal(error, 0, 'the stalled write succeeds once the payload is in')
    image.write(2 * MiB, data)
    c.disconnect()
    image.check_file(img, '%s: after the stalled write' % node)


def half_payload(sock):
    """A client that sent the header of a 1 MiB write and half its payload."""
    c = nbdwire.Client(sock)
    c.go(b'f')
    c.request(nbdwire.CMD_WRITE, 3 * MiB, MiB, 0, bytes(MiB // 2))
    time.sleep(0.3)
    return c


def check_removed_mid_payload(d, img, sock):
    """Remove('hard') and SIGTERM cut off a client halfway through a payload."""
    path = d.manager_path('export', 'eh')
    add_export(d, 'eh', 'f', 'io1')
    stalled.remove_hard(d, 'eh', half_payload(os.path.join(d.tmpdir, 'eh.sock')),
                        'client halfway through a payload')
    data = random.Random(12).randbytes(MiB)
    c = nbdwire.Client(sock)
    c.go(b'f')
    bgtest.check_equal(c.write(3 * MiB, data), 0, 'the node is written after the removal')
    c.disconnect()
    with open(img, 'rb') as f:
        f.seek(3 * MiB)
        bgtest.check(f.read(MiB) == data, 'the file holds the write after the removal')
    bgtest.check(path not in d.managed_objects(), 'the export is gone')


def unmapped_soon(d, img):
    """Whether the mapping goes (the worker pool unmaps it: not at once)."""
    end = time.monotonic() + 10
    while mapped(d, img) and time.monotonic() < end:
        time.sleep(0.05)
    return not mapped(d, img)


def check_unmapped_on_removal(d, folder):
    """RemoveNode unmaps the file (off the loop thread, so the test waits for it)."""
    img = os.path.join(folder, 'gone.img')
    nbdtest.make_image(img, 4 * MiB)
    d.manager.AddNode('<blockdev driver="file" node-name="gone" filename="%s" iothread="io1"/>'
                      % img)
    sock = add_export(d, 'egone', 'gone', 'io1')
    c = nbdwire.Client(sock)
    c.go(b'gone')
    bgtest.check_equal(c.write(MiB, bytes(range(256)) * 4096), 0, 'a write to be unmapped')
    c.disconnect()
    bgtest.check(mapped(d, img), 'mapped after the write')
    bgtest.remove_export_safe(d, d.manager_path('export', 'egone'))
    d.manager.RemoveNode('gone')
    bgtest.check(unmapped_soon(d, img), 'unmapped after RemoveNode')


def check_auto_read_only(d, folder):
    """auto-read-only: the descriptor turns read-write with the export's write
    permission and back without; each writable export maps the file again."""
    img = os.path.join(folder, 'aro.img')
    nbdtest.make_image(img, 4 * MiB)
    d.manager.AddNode('<blockdev driver="file" node-name="aro" filename="%s" iothread="io1" '
                      'auto-read-only="on"/>' % img)
    for i in range(2):
        sock = add_export(d, 'earo', 'aro', 'io1')
        data = random.Random(14 + i).randbytes(MiB)
        c = nbdwire.Client(sock)
        c.go(b'aro')
        bgtest.check_equal(c.write(MiB, data), 0, 'auto-read-only, export %d: a write' % i)
        c.disconnect()
        with open(img, 'rb') as f:
            f.seek(MiB)
            bgtest.check(f.read(MiB) == data, 'auto-read-only, export %d: the write landed' % i)
        bgtest.check(mapped(d, img), 'auto-read-only, export %d: the file is mapped' % i)
        bgtest.remove_export_safe(d, d.manager_path('export', 'earo'))
        bgtest.check(unmapped_soon(d, img),
                     'auto-read-only, export %d gone: read-only again, unmapped' % i)
    d.manager.RemoveNode('aro')


def check_grown_node(d, img, image, sock):
    """Resize grows the node past what was mapped: a write there lands too."""
    d.node('f').Resize(dbus.UInt64(SIZE + 4 * MiB))
    image.content.extend(bytes(4 * MiB))
    data = random.Random(11).randbytes(MiB)
    c = nbdwire.Client(sock)
    c.go(b'f')
    bgtest.check_equal(c.write(SIZE + 2 * MiB + 5, data), 0, 'a write past the old end')
    image.write(SIZE + 2 * MiB + 5, data)
    c.disconnect()
    image.check_file(img, 'after the node grew')
    bgtest.check(mapped(d, img), 'the grown file is mapped again')


def check_shrunk_file(d, img, image, sock):
    """Another program shrank the file to the middle of a page (past what the read buffer may
    hold of the payload): the writes past its end extend it."""
    os.truncate(img, 5 * MiB + 256 * KiB + 100)
    size = len(image.content)
    del image.content[5 * MiB + 256 * KiB + 100:]
    image.content.extend(bytes(size - len(image.content)))
    rnd = random.Random(9)
    writes = [(5 * MiB, rnd.randbytes(MiB)), (10 * MiB + 5, rnd.randbytes(MiB))]
    c = nbdwire.Client(sock)
    c.go(b'f')
    bgtest.check_equal(write_all(c, writes), [0, 0], 'writes past the end of the shrunk file')
    for off, data in writes:
        image.write(off, data)
        error, back = c.read(off, len(data))
        bgtest.check(error == 0 and back == data, 'the write at %d reads back whole' % off)
    c.disconnect()
    with open(img, 'rb') as f:
        f.seek(5 * MiB)
        bgtest.check(f.read(MiB) == writes[0][1], 'the file holds the write across its old end')


def check_shrunk_between_writes(d, img, sock):
    """A mapped write that ends at 9 MiB; then another program shrinks the file to 100
    bytes into the page at 5 MiB; then a write that ends at that page's end.  The
    file's size is checked for each write, not taken from the write before: mapped,
    the write's last 3996 bytes would go into the rest of the page, past the end of
    the file, which no copy fails, and the file would not grow to hold them."""
    rnd = random.Random(12)
    c = nbdwire.Client(sock)
    c.go(b'f')
    bgtest.check_equal(c.write(8 * MiB, rnd.randbytes(MiB)), 0, 'a mapped write before the shrink')
    bgtest.check(mapped(d, img), 'the file is mapped before the shrink')
    os.truncate(img, 5 * MiB + 100)
    off, data = 4 * MiB + 4096, rnd.randbytes(MiB)
    bgtest.check_equal(c.write(off, data), 0, 'the write after the shrink')
    error, back = c.read(off, MiB)
    bgtest.check(error == 0 and back == data, 'the write after the shrink reads back whole')
    c.disconnect()
    bgtest.check_equal(os.path.getsize(img), off + MiB, 'the file grew to hold the write')


def add_export(d, eid, node, iothread=None):
    sock = os.path.join(d.tmpdir, eid + '.sock')
    d.manager.AddExport('<export type="nbd" id="%s" node-name="%s" writable="on"%s>'
                        '<server type="unix" path="%s"/></export>'
                        % (eid, node, ' iothread="%s"' % iothread if iothread else '', sock))
    return sock


def check_mapping(d, folder, node, iothread, what, expect_mapped):
    """A 1 MiB write lands, received into the mapped file or through a buffer."""
    img = os.path.join(folder, node + '.img')
    nbdtest.make_image(img, 4 * MiB)
    d.manager.AddNode('<blockdev driver="file" node-name="%s" filename="%s"%s/>'
                      % (node, img, ' iothread="%s"' % iothread if iothread else ''))
    sock = add_export(d, 'e' + node, node, iothread)
    data = random.Random(10).randbytes(MiB)
    c = nbdwire.Client(sock)
    c.go(node.encode())
    bgtest.check_equal(c.write(MiB, data), 0, '%s: a write' % what)
    error, back = c.read(MiB, MiB)
    bgtest.check(error == 0 and back == data, '%s: the write reads back' % what)
    c.disconnect()
    bgtest.check_equal(mapped(d, img), expect_mapped, '%s: the file is mapped' % what)


def check_copied_until_paid(shm):
    """With the limit at 2, a range is written through a buffer twice, then mapped."""
    os.environ['BLOCKGRAPHD_TEST_MAP_AFTER'] = '2'
    try:
        with bgtest.Daemon() as d:
            img = os.path.join(shm, 'rent.img')
            nbdtest.make_image(img, 4 * MiB)
            d.manager.AddNode('<blockdev driver="file" node-name="rent" filename="%s"/>' % img)
            c = nbdwire.Client(add_export(d, 'erent', 'rent'))
            c.go(b'rent')
            rnd = random.Random(11)
            for n in range(1, 4):
                data = rnd.randbytes(MiB)
                bgtest.check_equal(c.write(2 * MiB, data), 0, 'write %d of the range' % n)
                error, back = c.read(2 * MiB, MiB)
                bgtest.check(error == 0 and back == data, 'write %d reads back' % n)
                bgtest.check_equal(mapped(d, img), n > 2,
                                   'after write %d of the range: the file is mapped' % n)
            c.disconnect()
            with open(img, 'rb') as f:
                f.seek(2 * MiB)
                bgtest.check(f.read(MiB) == data, 'the file holds the last write')
    finally:
        del os.environ['BLOCKGRAPHD_TEST_MAP_AFTER']


def main():
    if not os.path.isdir('/dev/shm'):
        bgtest.skip('no /dev/shm')
    shm = tempfile.mkdtemp(prefix='bg-write-direct-', dir='/dev/shm')
    try:
        check_copied_until_paid(shm)
        # Mapped from the first write, whatever this host's faults cost.
        os.environ['BLOCKGRAPHD_TEST_MAP_AFTER'] = '0'
        with bgtest.Daemon() as d:
            img = os.path.join(shm, 'direct.img')
            content = os.urandom(SIZE)
            with open(img, 'wb') as f:
                f.write(content)
            image = Image(content)
            d.manager.AddIOThread('<iothread id="io1"/>')
            d.manager.AddNode('<blockdev driver="file" node-name="f" filename="%s" '
                              'iothread="io1"/>' % img)
            d.manager.AddNode('<blockdev driver="raw" node-name="w" offset="%d" size="%d" '
                              'iothread="io1"><file ref="f"/></blockdev>' % (WIN_OFF, WIN_SIZE))
            d.node('f').AddBitmap('b', dbus.UInt32(GRAN), False, False)
            sock_f = add_export(d, 'ef', 'f', 'io1')
            sock_w = add_export(d, 'ew', 'w', 'io1')

            check_writes(d, img, image, sock_f, sock_w)
            bgtest.check_equal(dirty_count(d, 'f', 'b'), len(image.dirty) * GRAN,
                               'the bitmap has every written cluster dirty')
            check_tcp(d, img, image)
            check_stalled_payload(d, img, image, sock_f)
            # The window keeps others from resizing its file.
            bgtest.remove_export_safe(d, d.manager_path('export', 'ew'))
            d.manager.RemoveNode('w')
            check_grown_node(d, img, image, sock_f)
            check_shrunk_file(d, img, image, sock_f)
            check_shrunk_between_writes(d, img, sock_f)
            check_mapping(d, d.tmpdir, 'disk', 'io1', 'a disk file on an iothread', False)
            check_mapping(d, shm, 'main', None, 'a tmpfs file on the main loop', True)
            # The reopen's drain runs on the main loop, where the stalled payload waits.
            main_img = os.path.join(shm, 'main.img')
            with open(main_img, 'rb') as f:
                check_stalled_payload(d, main_img, Image(f.read()),
                                      os.path.join(d.tmpdir, 'emain.sock'), 'main')
            check_removed_mid_payload(d, img, sock_f)
            check_unmapped_on_removal(d, shm)
            check_auto_read_only(d, shm)
            for e in ('edisk', 'emain'):
                bgtest.remove_export_safe(d, d.manager_path('export', e))
            for n in ('disk', 'main'):
                d.manager.RemoveNode(n)
            # SIGTERM with a client halfway through a payload: a clean exit.
            stalled.stop_with(d, half_payload(sock_f), 'client halfway through a payload')
    finally:
        shutil.rmtree(shm, ignore_errors=True)


bgtest.run(main)
