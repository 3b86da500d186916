#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Reads of 64 KiB and more leave through sendfile(2) straight from the image
# file where the graph maps them to one (docs/nbd.md, "Zero-copy reads").
# They must carry the bytes a normal read does in every reply form (sparse
# data chunks, DF, simple replies), through a raw window (offset/size) of
# the file, from tmpfs (sent on the loop thread) and from a disk file
# system (sent from a worker), over a unix socket and TCP, also when many
# 1 MiB reads are pipelined so that the socket fills up and the sender has
# to wait for the client.
import os
import shutil
import socket
import tempfile
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

KiB = 1 << 10
DATA = nbdwire.CHUNK_DATA
SIZE = 8 * MiB
WIN_OFF, WIN_SIZE = MiB + 4 * KiB, 4 * MiB


def connect(where):
    return nbdwire.Client(host=where[0], port=where[1]) if isinstance(where, tuple) \
        else nbdwire.Client(where)


def check_reads(sock, name, content):
    size = len(content)
    c = connect(sock)
    c.go(name)
    for off, length in ((0, 64 * KiB), (12 * KiB, 2 * MiB + 512), (size - MiB, MiB),
                        (0, size)):
        error, data, chunks = c.read_chunks(off, length)
        bgtest.check_equal((error, chunks), (0, [(DATA, off, length)]),
                           '%s: chunks of read %d+%d' % (name, off, length))
        bgtest.check(data == content[off:off + length],
                     '%s: bytes of read %d+%d' % (name, off, length))
        error, data, _ = c.read_chunks(off, length, nbdwire.FLAG_DF)
        bgtest.check(error == 0 and data == content[off:off + length],
                     '%s: bytes of DF read %d+%d' % (name, off, length))

    # 24 reads of 1 MiB in flight: far more than the socket holds.
    offsets = {}
    for i in range(24):
        off = (i * 769 * KiB) % (size - MiB)
        offsets[c.request(nbdwire.CMD_READ, off, MiB)] = off
    for _ in range(len(offsets)):
        cookie, error, data, _ = c.reply(MiB)
        off = offsets.pop(cookie)
        bgtest.check(error == 0 and data == content[off:off + MiB],
                     '%s: bytes of pipelined read at %d' % (name, off))
    c.disconnect()

    c = connect(sock)
    c.go(name, structured=False)
    error, data = c.read(MiB - 512, 3 * MiB)
    bgtest.check(error == 0 and data == content[MiB - 512:4 * MiB - 512],
                 '%s: bytes of a simple reply' % name)
    c.disconnect()


def on_file_system(d, folder, tag):
    img = os.path.join(folder, 'zc-%s.img' % tag)
    content = os.urandom(SIZE)
    with open(img, 'wb') as f:
        f.write(content)
    d.manager.AddNode('<blockdev driver="file" node-name="f%s" filename="%s"/>' % (tag, img))
    d.manager.AddNode('<blockdev driver="raw" node-name="w%s" offset="%d" size="%d">'
                      '<file ref="f%s"/></blockdev>' % (tag, WIN_OFF, WIN_SIZE, tag))
    for node, expect in (('f' + tag, content),
                         ('w' + tag, content[WIN_OFF:WIN_OFF + WIN_SIZE])):
        sock = os.path.join(d.tmpdir, '%s.sock' % node)
        nbdtest.add_export(d, 'e' + node, node, sock, writable=False)
        check_reads(sock, node.encode(), expect)
    # Over TCP the kernel copies from the page cache into the socket.
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    d.manager.AddExport('<export type="nbd" id="t%s" node-name="f%s" name="t%s" writable="off">'
                        '<server type="inet" host="127.0.0.1" port="%d"/></export>'
                        % (tag, tag, tag, port))
    check_reads(('127.0.0.1', port), ('t' + tag).encode(), content)


def main():
    with bgtest.Daemon() as d:
        on_file_system(d, d.tmpdir, 'disk')
        if os.path.isdir('/dev/shm'):
            shm = tempfile.mkdtemp(prefix='bg-zero-copy-', dir='/dev/shm')
            try:
                on_file_system(d, shm, 'shm')
                for e in ('efshm', 'ewshm', 'tshm'):
                    bgtest.remove_export_safe(d, d.manager_path('export', e))
                d.manager.RemoveNode('wshm')
                d.manager.RemoveNode('fshm')
            finally:
                shutil.rmtree(shm, ignore_errors=True)


bgtest.run(main)
