# SPDX-License-Identifier: LGPL-2.1-or-later
"""The three NBD servers the benchmarks compare, each serving one raw image
on a unix socket: blockgraphd (file node, aio=threads), qemu-storage-daemon
(file node, aio=threads) and nbdkit (file plugin).  Each is a context
manager that yields the NBD URI; `args` needs .blockgraphd and .perf."""

import contextlib
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
from fiolib import wait_for_socket  # noqa: E402


@contextlib.contextmanager
def blockgraph_server(img, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, 'bg.sock')
    conf = os.path.join(workdir, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n'
                '  <blockdev driver="file" node-name="disk0" filename="%s" aio="threads"/>\n'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n  </export>\n</blockgraph>\n'
                % (img, sock))
    with bgtest.Daemon(config_dir=conf) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd')
        perf = None
        if args.perf:
            perf = subprocess.Popen(['perf', 'record', '-g', '-o', args.perf,
                                     '-p', str(d.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield 'nbd+unix:///disk0?socket=' + sock
        finally:
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()


@contextlib.contextmanager
def process_server(cmd, sock, what, uri):
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        wait_for_socket(sock, proc, what)
        yield uri
    finally:
        proc.terminate()
        proc.wait()


def qsd_server(img, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    return process_server(
        ['qemu-storage-daemon',
         '--blockdev', 'driver=file,node-name=disk0,filename=%s,aio=threads' % img,
         '--nbd-server', 'addr.type=unix,addr.path=%s' % sock,
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        sock, 'qemu-storage-daemon', 'nbd+unix:///disk0?socket=' + sock)


def nbdkit_server(img, workdir, args):
    sock = os.path.join(workdir, 'nbdkit.sock')
    return process_server(['nbdkit', '--foreground', '--unix', sock, 'file', 'file=' + img],
                          sock, 'nbdkit', 'nbd+unix:///?socket=' + sock)


SERVERS = {'blockgraph': blockgraph_server, 'qsd': qsd_server, 'nbdkit': nbdkit_server}
