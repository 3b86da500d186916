#!/usr/bin/python3
# A client that sends requests and never reads the replies cannot hold the
# daemon: Export.Remove('hard') answers and cuts it off, and SIGTERM exits
# cleanly with such a client connected.  A client still reading on another
# export keeps working meanwhile.
import os
import nbdtest
import nbdwire
import stalled
from nbdtest import bgtest, MiB


def stall(sock, name):
    c = nbdwire.Client(sock)
    c.go(name)
    return stalled.stall(c, nbdwire.CMD_READ, 16 * MiB)


def main():
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, 16 * MiB, [(0, os.urandom(MiB))])
        img1 = os.path.join(d.tmpdir, 'disk1.img')
        nbdtest.make_image(img1, 16 * MiB)
        nbdtest.add_file_node(d, 'disk1', img1)
        sock1 = os.path.join(d.tmpdir, 'nbd1.sock')
        nbdtest.add_export(d, 'e1', 'disk1', sock1)

        good = nbdwire.Client(sock1)
        good.go(b'disk1')
        c = stall(sock, b'disk0')
        bgtest.check_equal(good.write(0, b'\x42' * 4096), 0, 'other export keeps working')

        stalled.remove_hard(d, 'e0', c, 'stalled client')
        bgtest.check_equal(good.read(0, 4096), (0, b'\x42' * 4096), 'other client still served')

        stalled.stop_with(d, stall(sock1, b'disk1'), 'stalled client')


bgtest.run(main)
