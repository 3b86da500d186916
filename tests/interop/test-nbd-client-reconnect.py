#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# reconnect-delay: qemu-nbd is killed (SIGKILL) while writes through a
# blockgraphd export of an nbd node are in flight, and started again within
# the delay: every write succeeds (the driver resends what the lost
# connection had not answered) and every acknowledged write is in the file.
# Then the server goes for good: requests fail with EIO once the delay is
# over, the daemon keeps answering, the node comes back when the server
# does, and stays removable while the server is away.
import os
import time
import nbdremote
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

BLOCK = 4096
COUNT = 256
DEADLINE = 60


def pattern(i):
    return bytes([(i * 7 + 1) % 251 + 1]) * BLOCK


def connect(sock, name):
    c = nbdwire.Client(path=sock, timeout=DEADLINE)
    c.go(name.encode())
    return c


def writes_across_restart(server, sock):
    """COUNT writes sent at once; the server dies and comes back under them."""
    c = connect(sock, 'remote0')
    for i in range(COUNT):
        c.request(nbdwire.CMD_WRITE, i * BLOCK, BLOCK, payload=pattern(i), cookie=i + 1)
    server.kill(9)
    time.sleep(0.3)
    server.start()
    errors = {}
    for _ in range(COUNT):
        cookie, error, _, _ = c.reply()
        errors[cookie] = error
    bgtest.check_equal(sorted(errors), list(range(1, COUNT + 1)), 'every write answered')
    bad = {k: v for k, v in errors.items() if v}
    bgtest.check(not bad, 'writes failed across the restart: %r' % bad)
    bgtest.check_equal(c.simple(nbdwire.CMD_FLUSH), 0, 'flush after the restart')
    c.disconnect()


def check_file(img):
    with open(img, 'rb') as f:
        for i in range(COUNT):
            f.seek(i * BLOCK)
            bgtest.check(f.read(BLOCK) == pattern(i), 'acknowledged write %d is in the file' % i)


def wait_until(pred, what):
    end = time.monotonic() + DEADLINE
    while not pred():
        if time.monotonic() > end:
            raise bgtest.TestFailure('%s: not within %ds' % (what, DEADLINE))
        time.sleep(0.1)


def server_gone(d, server, sock):
    c = connect(sock, 'remote0')
    server.kill(9)
    # within the delay the read waits, after it fails: EIO either way in the end
    error, _ = c.read(0, BLOCK)
    bgtest.check_equal(error, nbdwire.EIO, 'read with the server gone')
    bgtest.check_equal(str(d.node_props('remote0')['Driver']), 'nbd', 'node stays')
    server.start()

    def read_ok():
        return c.read(0, BLOCK) == (0, pattern(0))
    wait_until(read_ok, 'node back with its server')
    server.kill(9)
    c.disconnect()


def main():
    for tool in ('qemu-nbd',):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'remote.img')
        nbdtest.make_image(img, 4 * MiB)
        server = nbdremote.qemu_nbd(img, ('unix', os.path.join(d.tmpdir, 'q.sock')))
        with server:
            d.manager.AddNode(nbdremote.nbd_node_xml('remote0', server.addr,
                                                     extra=' reconnect-delay="30"'))
            sock = os.path.join(d.tmpdir, 'bg.sock')
            nbdtest.add_export(d, 'e0', 'remote0', sock)
            writes_across_restart(server, sock)
            check_file(img)
        bgtest.remove_export_safe(d, d.manager_path('export', 'e0'))
        d.manager.RemoveNode('remote0')     # server down: removable all the same

        with server:
            d.manager.AddNode(nbdremote.nbd_node_xml('remote0', server.addr,
                                                     extra=' reconnect-delay="1"'))
            nbdtest.add_export(d, 'e0', 'remote0', sock)
            server_gone(d, server, sock)
            d.props(bgtest.ROOT_PATH, bgtest.MANAGER)   # the daemon answers
            bgtest.remove_export_safe(d, d.manager_path('export', 'e0'))
            d.manager.RemoveNode('remote0')


bgtest.run(main)
