#!/usr/bin/python3
# Per-export limits: max-connections refuses the client one too many with
# NBD_REP_ERR_POLICY (and takes it once a place is free), a flood of
# connections that never handshake is cut off at the listener, and
# max-in-flight-bytes keeps the daemon's memory bounded while a client
# queues large reads of a slow node and does not take the replies (the
# daemon stops reading its socket).
import os
import socket
import struct
import time
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

READ = 16 * MiB
READS = 48              # 768 MiB if the daemon ran them all at once


def export_xml(eid, node, sock, extra):
    return ('<export type="nbd" id="%s" node-name="%s" writable="on" %s>'
            '<server type="unix" path="%s"/></export>' % (eid, node, extra, sock))


def go_reply(sock, name):
    """GO on a new connection: (client, reply type)."""
    c = nbdwire.Client(sock)
    c.greet()
    c.option(nbdwire.OPT_GO, struct.pack('>I', len(name)) + name + struct.pack('>H', 0))
    while True:
        _, rtype, _ = c.option_reply()
        if rtype != nbdwire.REP_INFO:
            return c, rtype


def connections(d):
    sock = os.path.join(d.tmpdir, 'conn.sock')
    d.manager.AddExport(export_xml('c0', 'n0', sock, 'max-connections="2"'))
    a, b = nbdwire.Client(sock), nbdwire.Client(sock)
    a.go(b'n0')
    b.go(b'n0')
    third, rtype = go_reply(sock, b'n0')
    bgtest.check_equal(rtype, nbdwire.REP_ERR_UNSUP + 1, 'third client gets ERR_POLICY')
    third.close()
    bgtest.check_equal(int(nbdtest.export_props(d, 'c0')['Clients']), 2)
    a.disconnect()
    nbdtest.wait_clients(d, 'c0', 1)
    c, rtype = go_reply(sock, b'n0')
    bgtest.check_equal(rtype, nbdwire.REP_ACK, 'a freed place is taken')

    # connections that never handshake: a few beyond the limit may wait in
    # the handshake, the rest are closed at once
    flood = []
    for _ in range(40):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(sock)
        flood.append(s)
    greeted = 0
    for s in flood:     # all stay open meanwhile: a closed one would free a place
        try:
            greeted += len(s.recv(18)) == 18
        except (ConnectionResetError, socket.timeout):
            pass
    for s in flood:
        s.close()
    bgtest.check(0 < greeted <= 16, 'flood: %d connections greeted' % greeted)
    b.disconnect()
    c.close()


def vm_kib(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise bgtest.TestFailure('no %s for %d' % (field, pid))


def memory(d):
    """READs of a slow node by a client that does not read the replies: every
    one holds a buffer of its length until its reply is sent."""
    d.manager.AddNode('<blockdev driver="null-co" node-name="slow" size="4G" '
                      'latency-ns="500000000"/>')
    sock = os.path.join(d.tmpdir, 'mem.sock')
    d.manager.AddExport(export_xml('m0', 'slow', sock, 'max-in-flight-bytes="32M"'))
    c = nbdwire.Client(sock)
    c.go(b'slow', structured=False)     # simple replies: the data is read into a buffer
    # VmSize: a buffer counts from its allocation on, before the slow node
    # touches it (RSS would depend on how fast a loaded machine runs)
    base = vm_kib(d.proc.pid, 'VmSize')
    for i in range(READS):
        c.request(nbdwire.CMD_READ, i * READ, READ)
    time.sleep(1)
    grew = (vm_kib(d.proc.pid, 'VmSize') - base) // 1024
    bgtest.check(grew < 256, 'daemon memory grew by %d MiB with 32M in flight' % grew)
    cookies = set()
    for i in range(3):
        cookie, err, data, _ = c.reply(READ)
        bgtest.check_equal((err, len(data)), (0, READ), 'reply %d' % cookie)
        cookies.add(cookie)
    bgtest.check(cookies <= set(range(1, READS + 1)) and len(cookies) == 3, repr(cookies))
    c.close()


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="64M"/>')
        bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                            export_xml('x', 'n0', os.path.join(d.tmpdir, 'x.sock'),
                                       'max-connections="0"'))
        bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                            export_xml('x', 'n0', os.path.join(d.tmpdir, 'x.sock'),
                                       'max-in-flight-bytes="4k"'))
        connections(d)
        memory(d)


bgtest.run(main)
