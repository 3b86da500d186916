#!/usr/bin/python3
# A client that sends requests and never reads the replies cannot hold the
# daemon: Export.Remove('hard') answers and cuts it off, and SIGTERM exits
# cleanly with such a client connected.  A client still reading on another
# export keeps working meanwhile.
import os
import time
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

READ = 128 * 1024
REQUESTS = 400          # 50 MiB of replies: far more than the socket buffers hold


def stall(sock, name):
    """A client that queues many READs and reads nothing; returns it."""
    c = nbdwire.Client(sock)
    c.go(name)
    for i in range(REQUESTS):
        c.request(nbdwire.CMD_READ, (i * READ) % (16 * MiB), READ)
    time.sleep(0.5)     # the daemon fills the socket and waits
    return c


def closed_after_drain(c, timeout=20):
    """True once the server closed c: whatever is buffered is read and dropped."""
    c.sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not c.sock.recv(1 << 20):
                return True
    except (ConnectionResetError, OSError):
        return True
    return False


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

        exp = d.iface(d.manager_path('export', 'e0'), bgtest.EXPORT)
        try:
            exp.Remove('hard', timeout=30)
        except bgtest.dbus.exceptions.DBusException as e:
            raise bgtest.TestFailure('Remove(hard) with a stalled client: %s' % e)
        bgtest.check(d.manager_path('export', 'e0') not in d.managed_objects(), 'export gone')
        bgtest.check(closed_after_drain(c), 'stalled client cut off by the hard removal')
        bgtest.check_equal(good.read(0, 4096), (0, b'\x42' * 4096), 'other client still served')

        # SIGTERM with a stalled client (the harness checks the clean exit)
        stalled = stall(sock1, b'disk1')
        d.stop()
        bgtest.check(closed_after_drain(stalled), 'stalled client cut off at shutdown')


bgtest.run(main)
