#!/usr/bin/python3
# A null-co node with read-zeroes=off never hands out memory that held
# another client's data: after a pattern went through the daemon's buffers
# (written to another node), reads of the null-co node carry none of it.
import os
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

PATTERN = b'\xa5\x5a\xc3\x3c' * 1024


def main():
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, 8 * MiB)
        d.manager.AddNode('<blockdev driver="null-co" node-name="null0" size="8M" '
                          'read-zeroes="off"/>')
        nsock = os.path.join(d.tmpdir, 'null.sock')
        nbdtest.add_export(d, 'e1', 'null0', nsock, writable=False)

        writer = nbdwire.Client(sock)
        writer.go(b'disk0')
        reader = nbdwire.Client(nsock)
        reader.go(b'null0')
        for length in (4096, 65536, MiB):
            for _ in range(4):
                bgtest.check_equal(writer.write(0, PATTERN * (length // 4096)), 0, 'write')
                err, data = reader.read(0, length)
                bgtest.check_equal(err, 0, 'read of %d bytes' % length)
                bgtest.check(PATTERN[:16] not in data,
                             'a read of %d bytes from null-co returned another client\'s data'
                             % length)
                bgtest.check_equal(data, b'\0' * length, 'null-co read')
        writer.disconnect()
        reader.disconnect()


bgtest.run(main)
