#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# An NBD export after the pivot of an active commit into a larger base: a
# client connected before keeps the size it negotiated (a read past it
# fails), a new client sees the base's size and reads the base's data.
# The export's qemu:dirty-bitmap context follows the pivot: with a bitmap
# of that name on the base it comes from the base (a write after the pivot
# shows dirty); without one it is offered no more to new clients, and the
# client that selected it before sees everything dirty.
import os
import struct

import dbus
import jobtest
import nbdwire
from jobtest import bgtest, run, MiB

KiB = 1024
BITMAP = b'qemu:dirty-bitmap:b0'


def make_chain(d):
    """A 32 MiB base (0x11) under a 16 MiB top (0x22 in its first MiB)."""
    base = os.path.join(d.tmpdir, 'base.qcow2')
    top = os.path.join(d.tmpdir, 'top.qcow2')
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '32M'])
    run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x11 0 32M', base])
    run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top, '16M'])
    run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x22 0 1M', top])
    paths = {'base': base, 'top': top}
    jobtest.add_chain(d, ['base', 'top'], paths)
    return paths


def connect(sock, queries):
    """A client on export disk0 with the meta contexts queries selected:
    (client, negotiated size, {context: id})."""
    c = nbdwire.Client(sock, timeout=60)
    c.greet()
    c.structured_reply()
    contexts = c.set_meta_context(b'disk0', queries)
    c.option(nbdwire.OPT_GO, struct.pack('>I', 5) + b'disk0' + struct.pack('>H', 0))
    size = None
    while True:
        _, rtype, payload = c.option_reply()
        if rtype == nbdwire.REP_INFO and struct.unpack('>H', payload[:2])[0] == 0:
            size = struct.unpack('>Q', payload[2:10])[0]
        elif rtype == nbdwire.REP_ACK:
            return c, size, contexts
        else:
            raise AssertionError('GO failed: %x' % rtype)


def dirty(extents, off, length):
    """Whether every byte of [off, off + length) is dirty in extents from 0."""
    pos = 0
    for ext_len, flags in extents:
        if pos < off + length and off < pos + ext_len and not flags & 1:
            return False
        pos += ext_len
    return pos >= off + length


def export_and_commit(d, base_bitmap):
    paths = make_chain(d)
    d.node('top').AddBitmap('b0', dbus.UInt32(64 * KiB), False, False)
    if base_bitmap:
        d.node('base').AddBitmap('b0', dbus.UInt32(64 * KiB), False, False)
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    d.manager.AddExport('<export type="nbd" id="e0" node-name="top" name="disk0" writable="on">'
                        '<server type="unix" path="%s"/><bitmap name="b0"/></export>' % sock)
    old, size, contexts = connect(sock, (BITMAP,))
    bgtest.check_equal(size, 16 * MiB, 'size before the pivot')
    bgtest.check(BITMAP in contexts, 'the bitmap context before the pivot: %r' % contexts)
    bgtest.check_equal(old.write(0, b'\x33' * 4096), 0, 'write before the job')
    d.manager.StartJob('<job type="commit" id="c0" node-name="top" base-node="base" '
                       'auto-dismiss="off"/>')
    jobtest.wait_status(d, 'c0', 'ready')
    jobtest.job(d, 'c0').Complete()
    p = jobtest.wait_status(d, 'c0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'active commit succeeded')
    bgtest.check_equal(str(jobtest.nbdtest.export_props(d, 'e0')['NodeName']), 'base',
                       'export moved')
    return paths, sock, old


def check_size(d):
    _, sock, old = export_and_commit(d, base_bitmap=False)
    err, _ = old.read(20 * MiB, 4096)
    bgtest.check(err != 0, 'a read past the negotiated size fails for the old client')
    err, data = old.read(0, 4096)
    bgtest.check(err == 0 and data == b'\x33' * 4096, 'the old client reads its write')
    new, size, contexts = connect(sock, (b'base:allocation', BITMAP))
    bgtest.check_equal(size, 32 * MiB, "a new client sees the base's size")
    err, data = new.read(20 * MiB, 4096)
    bgtest.check(err == 0 and data == b'\x11' * 4096, "a new client reads the base's data")
    # The top's bitmap is not in the base's chain: offered no more.
    bgtest.check(BITMAP not in contexts, 'no bitmap context for new clients: %r' % contexts)
    ext = old.block_status(0, 1 * MiB)
    bgtest.check(isinstance(ext, list) and dirty(ext, 0, 1 * MiB),
                 'the old client sees everything dirty: %r' % (ext,))
    new.disconnect()
    old.disconnect()
    # The top's bitmap is free again: nothing exports it.
    d.node('top').RemoveBitmap('b0')


def check_bitmap_moves(d):
    _, sock, old = export_and_commit(d, base_bitmap=True)
    bgtest.check_equal(old.write(10 * MiB, b'\x44' * 4096), 0, 'write after the pivot')
    ext = old.block_status(10 * MiB - 64 * KiB, 256 * KiB)
    bgtest.check(isinstance(ext, list) and dirty(ext, 64 * KiB, 4096),
                 "the write after the pivot is dirty in the base's bitmap: %r" % (ext,))
    new, _, contexts = connect(sock, (BITMAP,))
    bgtest.check(BITMAP in contexts, "new clients get the base's bitmap: %r" % contexts)
    new.disconnect()
    old.disconnect()


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_size(d)
    with bgtest.Daemon() as d:
        check_bitmap_moves(d)


bgtest.run(main)
