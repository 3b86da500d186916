#!/usr/bin/python3
# raw forwards to its file only what its own users take (QEMU's raw child
# permissions): an auto-read-only file under a raw node with no writer stays
# read-only and holds no write lock; a writable export on the raw node
# switches the file to read-write with the "write" lock, and removing the
# export switches it back.
import os
import nbdtest
from nbdtest import bgtest, MiB

WRITE_TAKEN = 101       # QEMU's lock bytes: 100 + bit taken, 200 + bit unshared


def locked_bytes(path):
    """Bytes of path that an OFD lock covers, from /proc/locks."""
    st = os.stat(path)
    ident = ':%d' % st.st_ino
    found = set()
    with open('/proc/locks') as f:
        for line in f:
            fields = line.split()
            if 'OFDLCK' not in fields:
                continue
            dev_ino = next((x for x in fields if x.count(':') == 2), '')
            if not dev_ino.endswith(ident):
                continue
            start, end = fields[-2], fields[-1]
            found.update(range(int(start), int(end) + 1))
    return found


def main():
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, 4 * MiB)
        d.manager.AddNode('<blockdev driver="raw" node-name="r"><file driver="file" '
                          'node-name="f" filename="%s" auto-read-only="on"/></blockdev>' % img)
        bgtest.check_equal(bool(d.node_props('f')['Writable']), False, 'file before a writer')
        bgtest.check(WRITE_TAKEN not in locked_bytes(img),
                     'write lock without a writer: %r' % sorted(locked_bytes(img)))

        path, _ = nbdtest.add_export(d, 'e0', 'r', os.path.join(d.tmpdir, 'e0.sock'))
        bgtest.check_equal(bool(d.node_props('f')['Writable']), True, 'file with a writer')
        bgtest.check(WRITE_TAKEN in locked_bytes(img),
                     'no write lock with a writer: %r' % sorted(locked_bytes(img)))

        bgtest.remove_export_safe(d, path)
        bgtest.check_equal(bool(d.node_props('f')['Writable']), False, 'file after the writer')
        bgtest.check(WRITE_TAKEN not in locked_bytes(img),
                     'write lock after the writer: %r' % sorted(locked_bytes(img)))


bgtest.run(main)
