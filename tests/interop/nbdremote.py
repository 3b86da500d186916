# SPDX-License-Identifier: LGPL-2.1-or-later
"""NBD servers for the `nbd` client driver's tests: qemu-nbd, nbdkit and
qemu-storage-daemon on a unix socket or a free TCP port of their own, and
the <blockdev driver="nbd"> that reaches them."""

import os
import socket
import subprocess
import time

import nbdtest
from nbdtest import bgtest

START_TIMEOUT = 30


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A server process; addr is ('unix', path) or ('inet', port)."""

    def __init__(self, cmd, addr):
        self.cmd, self.addr = cmd, addr
        self.proc = None

    def start(self):
        if self.addr[0] == 'unix' and os.path.exists(self.addr[1]):
            os.unlink(self.addr[1])     # a stopped server leaves its socket behind
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._accepts():
            if self.proc.poll() is not None:
                raise bgtest.TestFailure('%s exited early: %s'
                                         % (self.cmd[0], self.proc.stderr.read().decode()))
            if time.monotonic() > deadline:
                raise bgtest.TestFailure('%s did not listen within %ds'
                                         % (self.cmd[0], START_TIMEOUT))
            time.sleep(0.02)
        return self

    def _accepts(self):
        fam = socket.AF_UNIX if self.addr[0] == 'unix' else socket.AF_INET
        target = self.addr[1] if self.addr[0] == 'unix' else ('127.0.0.1', self.addr[1])
        with socket.socket(fam) as s:
            try:
                s.connect(target)
                return True
            except OSError:
                return False

    def kill(self, sig=9):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill(15)


def _addr_args(addr, unix_opt, port_opt):
    if addr[0] == 'unix':
        return [unix_opt, addr[1]]
    return port_opt(addr[1])


def qemu_nbd(img, addr, fmt='raw', name='disk0'):
    """qemu-nbd -t serving img (persistent: it outlives its clients)."""
    return Server(['qemu-nbd', '-t', '-e', '8', '-f', fmt, '-x', name, '--cache=writeback']
                  + _addr_args(addr, '-k', lambda p: ['-b', '127.0.0.1', '-p', str(p)])
                  + [img], addr)


def nbdkit_memory(addr, size='64M'):
    return Server(['nbdkit', '--foreground', '--exit-with-parent']
                  + _addr_args(addr, '--unix', lambda p: ['-i', '127.0.0.1', '-p', str(p)])
                  + ['memory', 'size=' + size], addr)


def qsd(img, addr, name='disk0'):
    if addr[0] == 'unix':
        srv = 'addr.type=unix,addr.path=%s' % addr[1]
    else:
        srv = 'addr.type=inet,addr.host=127.0.0.1,addr.port=%d' % addr[1]
    return Server(['qemu-storage-daemon',
                   '--blockdev', 'driver=file,node-name=f0,filename=%s' % img,
                   '--nbd-server', srv,
                   '--export', 'type=nbd,id=e0,node-name=f0,name=%s,writable=on' % name],
                  addr)


def server_xml(addr):
    if addr[0] == 'unix':
        return '<server type="unix" path="%s"/>' % addr[1]
    return '<server type="inet" host="127.0.0.1" port="%d"/>' % addr[1]


def nbd_node_xml(name, addr, export='disk0', extra=''):
    exp = ' export="%s"' % export if export is not None else ''
    return ('<blockdev driver="nbd" node-name="%s"%s%s>%s</blockdev>'
            % (name, exp, extra, server_xml(addr)))


def qemu_io(target, *cmds, fmt='raw'):
    """Runs qemu-io commands; fails on any error in its output."""
    args = ['qemu-io', '-f', fmt]
    for c in cmds:
        args += ['-c', c]
    p = nbdtest.run(args + [target])
    if 'error' in p.stdout.lower() or 'failed' in p.stdout.lower():
        raise bgtest.TestFailure('qemu-io %r on %s: %s' % (cmds, target, p.stdout))
    return p.stdout
