#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The image file of an open `file` node shrinks behind the daemon's back (as
# `truncate -s` by another program would): reads past the file's new end
# return zeroes, as with QEMU's file driver; the daemon logs one warning
# naming the node, the path and the new end; a write there grows the file
# again and reads back.  Buffered and cache.direct=on nodes alike.
import os
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

SIZE = 4 * MiB
CUT = MiB + 1536            # not a multiple of 4096: a partial block at the end


def check_node(d, name, options):
    img = os.path.join(d.tmpdir, name + '.img')
    with open(img, 'wb') as f:
        f.write(b'\x55' * SIZE)
    d.manager.AddNode('<blockdev driver="file" node-name="%s" filename="%s" %s/>'
                      % (name, img, options))
    sock = os.path.join(d.tmpdir, name + '.sock')
    nbdtest.add_export(d, 'e-' + name, name, sock)
    c = nbdwire.Client(sock)
    c.go(name.encode())
    os.truncate(img, CUT)
    # a small read (not split by block status) across the new end first
    error, data = c.read(CUT - 512, 4096)
    bgtest.check_equal(error, 0, 'small read across the new end')
    bgtest.check(data == b'\x55' * 512 + bytes(3584), 'small read data')
    error, data = c.read(0, SIZE)
    bgtest.check_equal(error, 0, 'read across the new end')
    bgtest.check(data[:CUT] == b'\x55' * CUT, 'data before the new end')
    bgtest.check(data[CUT:] == bytes(SIZE - CUT), 'zeroes after the new end')
    bgtest.check_equal(int(d.node_props(name)['Size']), SIZE, 'node size unchanged')
    # a write past the end grows the file and reads back
    bgtest.check_equal(c.write(3 * MiB, b'\xaa' * 4096), 0, 'write past the end')
    bgtest.check_equal(os.path.getsize(img), 3 * MiB + 4096, 'file grown by the write')
    error, data = c.read(3 * MiB - 4096, 3 * 4096)
    bgtest.check_equal(error, 0, 'read back')
    bgtest.check(data == bytes(4096) + b'\xaa' * 4096 + bytes(4096), 'write read back')
    c.disconnect()
    err = d.stderr()
    lines = [l for l in err.splitlines() if "Node '%s'" % name in l and 'truncated' in l]
    bgtest.check_equal(len(lines), 1, 'one warning for node %s:\n%s' % (name, err))
    bgtest.check(img in lines[0] and str(CUT) in lines[0],
                 'warning names the path and the new end: ' + lines[0])


def main():
    with bgtest.Daemon() as d:
        check_node(d, 'buffered', '')
        check_node(d, 'direct', 'cache.direct="on"')


bgtest.run(main)
