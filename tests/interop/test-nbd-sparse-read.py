#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sparse READ replies: with structured replies, a read of 64 KiB or more
# answers what reads as zeroes with OFFSET_HOLE chunks and the rest with
# OFFSET_DATA chunks carrying the right bytes, in order, DONE on the last;
# DF reads and clients without structured replies get the data in one
# piece; a short read is one chunk, a hole when it read only zeroes.  A qcow2 chain (zero clusters, unallocated clusters over a
# backing file with data) reads back equal in qemu-img compare and nbdcopy;
# a range read as data and then zeroed through the export reads as a hole.
# A failing block status ends the reply with an ERROR chunk.
import os
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

KiB = 1 << 10
DATA, HOLE, ERROR = nbdwire.CHUNK_DATA, nbdwire.CHUNK_HOLE, nbdwire.CHUNK_ERROR


def kinds(chunks):
    return [(t, off, length) for t, off, length in chunks]


def check_read(c, img_bytes, off, length, expect, flags=0):
    error, data, chunks = c.read_chunks(off, length, flags)
    bgtest.check_equal(error, 0, 'read %d+%d' % (off, length))
    bgtest.check_equal(kinds(chunks), expect, 'chunks of read %d+%d' % (off, length))
    bgtest.check(data == img_bytes[off:off + length], 'bytes of read %d+%d' % (off, length))


def raw_file(d):
    chunks = [(0, b'\x11' * MiB), (2 * MiB + 64 * KiB, b'\x33' * (64 * KiB)),
              (8 * MiB, b'\x22' * (2 * MiB))]
    img, uri, sock = nbdtest.setup(d, 16 * MiB, chunks)
    with open(img, 'rb') as f:
        content = f.read()
    c = nbdwire.Client(sock)
    c.go(b'disk0')
    # data then hole; hole, data, hole; all hole; all data
    check_read(c, content, 512 * KiB, MiB, [(DATA, 512 * KiB, 512 * KiB), (HOLE, MiB, 512 * KiB)])
    check_read(c, content, MiB, 2 * MiB, [(HOLE, MiB, MiB + 64 * KiB),
                                          (DATA, 2 * MiB + 64 * KiB, 64 * KiB),
                                          (HOLE, 2 * MiB + 128 * KiB, 896 * KiB)])
    check_read(c, content, 4 * MiB, 64 * KiB, [(HOLE, 4 * MiB, 64 * KiB)])
    check_read(c, content, 8 * MiB, 2 * MiB, [(DATA, 8 * MiB, 2 * MiB)])
    # DF: one data chunk even over a hole; a short read is one chunk: a hole
    # when what it read is all zeroes, else data
    check_read(c, content, MiB, MiB, [(DATA, MiB, MiB)], flags=nbdwire.FLAG_DF)
    check_read(c, content, 4 * MiB, 4 * KiB, [(HOLE, 4 * MiB, 4 * KiB)])
    check_read(c, content, 0, 4 * KiB, [(DATA, 0, 4 * KiB)])
    check_read(c, content, 4 * MiB, 4 * KiB, [(DATA, 4 * MiB, 4 * KiB)], flags=nbdwire.FLAG_DF)
    # written data shows up as data, zeroed data as a hole
    bgtest.check_equal(c.write(5 * MiB, b'\x44' * (64 * KiB)), 0, 'write')
    content = content[:5 * MiB] + b'\x44' * (64 * KiB) + content[5 * MiB + 64 * KiB:]
    check_read(c, content, 5 * MiB - 64 * KiB, 192 * KiB,
               [(HOLE, 5 * MiB - 64 * KiB, 64 * KiB), (DATA, 5 * MiB, 64 * KiB),
                (HOLE, 5 * MiB + 64 * KiB, 64 * KiB)])
    c.disconnect()

    # without structured replies: a simple reply with the bytes
    c = nbdwire.Client(sock)
    c.go(b'disk0', structured=False)
    error, data = c.read(MiB, 2 * MiB)
    bgtest.check_equal(error, 0, 'simple read')
    bgtest.check(data == content[MiB:3 * MiB], 'simple read bytes')
    c.disconnect()


def qcow2_chain(d):
    base = os.path.join(d.tmpdir, 'base.qcow2')
    top = os.path.join(d.tmpdir, 'top.qcow2')
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '16M'])
    nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x55 1M 1M', base])
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2',
                 top, '16M'])
    nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x66 0 256k',
                 '-c', 'write -z 1M 256k', '-c', 'write -P 0x77 4M 64k', top])
    d.manager.AddNode('<blockdev driver="qcow2" node-name="top">'
                      '<file driver="file" filename="%s"/></blockdev>' % top)
    sock = os.path.join(d.tmpdir, 'qcow2.sock')
    _, uri = nbdtest.add_export(d, 'q0', 'top', sock)
    flat = os.path.join(d.tmpdir, 'flat.raw')
    nbdtest.run(['qemu-img', 'convert', '-U', '-O', 'raw', top, flat])
    with open(flat, 'rb') as f:
        content = f.read()

    c = nbdwire.Client(sock)
    c.go(b'top')
    # top data, unallocated (zero in the whole chain), the zero clusters
    # over base data, base data seen through the unallocated top, zeroes
    check_read(c, content, 0, 4 * MiB, [(DATA, 0, 256 * KiB), (HOLE, 256 * KiB, 1 * MiB),
                                        (DATA, 1280 * KiB, 768 * KiB),
                                        (HOLE, 2 * MiB, 2 * MiB)])
    check_read(c, content, 4 * MiB, 12 * MiB, [(DATA, 4 * MiB, 64 * KiB),
                                               (HOLE, 4 * MiB + 64 * KiB, 12 * MiB - 64 * KiB)])
    c.disconnect()

    nbdtest.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'qcow2', uri, top])
    out = os.path.join(d.tmpdir, 'copy.raw')
    nbdtest.run(['nbdcopy', '--no-extents', uri, out])
    bgtest.check(nbdtest.files_equal(flat, out), 'nbdcopy --no-extents differs from the image')
    os.unlink(out)
    nbdtest.run(['nbdcopy', uri, out])
    bgtest.check(nbdtest.files_equal(flat, out), 'nbdcopy differs from the image')

    # data read once (and remembered), then zeroed: the next read is a hole
    c = nbdwire.Client(sock)
    c.go(b'top')
    check_read(c, content, 0, 256 * KiB, [(DATA, 0, 256 * KiB)])
    bgtest.check_equal(c.simple(nbdwire.CMD_WRITE_ZEROES, 64 * KiB, 128 * KiB), 0, 'zero')
    content = content[:64 * KiB] + bytes(128 * KiB) + content[192 * KiB:]
    check_read(c, content, 0, 256 * KiB, [(DATA, 0, 64 * KiB), (HOLE, 64 * KiB, 128 * KiB),
                                          (DATA, 192 * KiB, 64 * KiB)])
    c.disconnect()


def failing_node(d):
    d.manager.AddNode('<blockdev driver="error" node-name="bad" size="4194304"/>')
    sock = os.path.join(d.tmpdir, 'bad.sock')
    nbdtest.add_export(d, 'b0', 'bad', sock, writable=False)
    c = nbdwire.Client(sock)
    c.go(b'bad')
    error, data, chunks = c.read_chunks(0, MiB)
    bgtest.check_equal(error, nbdwire.EIO, 'error of a read whose block status fails')
    bgtest.check_equal([t for t, _, _ in chunks], [ERROR], 'one ERROR chunk')
    error, data, chunks = c.read_chunks(0, 4 * KiB)
    bgtest.check_equal((error, [t for t, _, _ in chunks]), (nbdwire.EIO, [ERROR]), 'short read')
    bgtest.check_equal(c.simple(nbdwire.CMD_FLUSH), nbdwire.EIO, 'connection still in step')
    c.disconnect()


def main():
    for tool in ('qemu-img', 'qemu-io', 'nbdcopy'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        raw_file(d)
        qcow2_chain(d)
        failing_node(d)


bgtest.run(main)
