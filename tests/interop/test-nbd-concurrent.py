#!/usr/bin/python3
# Several clients write disjoint ranges at once (each with many requests in
# flight); afterwards the image holds every client's pattern.  Clients counts
# the connections while they are open.
import os
import subprocess
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB

WRITERS = 6
SPAN = 4 * MiB


def main():
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, (WRITERS + 1) * SPAN)   # last span: held clients

        # raw clients held open: Clients follows them
        held = []
        for _ in range(3):
            c = nbdwire.Client(sock)
            c.go(b'disk0')
            held.append(c)
        bgtest.check_equal(int(nbdtest.export_props(d, 'e0')['Clients']), 3, 'Clients')

        procs = []
        for i in range(WRITERS):
            # aio_write keeps many requests in flight on one connection
            cmds = []
            for j in range(0, SPAN, 256 * 1024):
                cmds += ['-c', 'aio_write -P %d %d 256k' % (0x40 + i, i * SPAN + j)]
            cmds += ['-c', 'aio_flush']
            procs.append(subprocess.Popen(['qemu-io', '-f', 'raw'] + cmds + [uri],
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
        # the held clients keep working meanwhile
        for n, c in enumerate(held):
            bgtest.check_equal(c.write(WRITERS * SPAN + 4096 * n, b'\x7f' * 4096), 0)
        for p in procs:
            out, _ = p.communicate(timeout=120)
            bgtest.check(p.returncode == 0 and 'error' not in out.lower(), 'writer: ' + out)
        for c in held:
            c.disconnect()

        with open(img, 'rb') as f:
            data = f.read()
        for i in range(WRITERS):
            part = data[i * SPAN:(i + 1) * SPAN]
            bgtest.check(part == bytes([0x40 + i]) * SPAN, 'writer %d range' % i)
        bgtest.check(data[WRITERS * SPAN:WRITERS * SPAN + 3 * 4096] == b'\x7f' * (3 * 4096),
                     'held clients wrote their blocks')
        sig = d.signals()
        sig.wait_for(lambda _: int(nbdtest.export_props(d, 'e0')['Clients']) == 0)


bgtest.run(main)
