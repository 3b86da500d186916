# SPDX-License-Identifier: LGPL-2.1-or-later
"""The NBD servers the benchmarks compare, each serving one raw image on a
unix socket: blockgraphd (file node; aio as args.aio says, unset: the
daemon's own choice; or `null`: a null-co node, no image),
qemu-storage-daemon (file node, aio=args.qsd_aio, io_uring unless set;
with args.qsd_kept_malloc glibc keeps freed memory mapped) and nbdkit
(file plugin, args.nbdkit_threads threads, 16 unless set).  Each is a
context manager that yields the NBD URI; `args` needs .blockgraphd and
.perf (.size_mib for `null`), and may have .tls_dir: then every server
requires TLS with the x509 files of that directory (server and client
certificates, as tests/interop/tlscerts.py makes them) and checks the
client's certificate, and the URI is an nbds one
that names the directory for libnbd."""

import contextlib
import os
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'harness'))
from fiolib import wait_for_socket  # noqa: E402


def _tls_dir(args):
    return getattr(args, 'tls_dir', None)


def _uri(sock, args, name='disk0'):
    if not _tls_dir(args):
        return 'nbd+unix:///%s?socket=%s' % (name, sock)
    return 'nbds+unix:///%s?socket=%s&tls-certificates=%s' % (name, sock, _tls_dir(args))


def _pids(args, name):
    """The list of server pids args.pids keeps for name (if the caller wants them)."""
    pids = getattr(args, 'pids', None)
    return pids.setdefault(name, []) if pids is not None else []


def aio_attr(args):
    """ aio="…" for blockgraphd's file node, or nothing: the daemon chooses."""
    aio = getattr(args, 'aio', '')
    return ' aio="%s"' % aio if aio else ''


def qsd_aio(args):
    return getattr(args, 'qsd_aio', '') or 'io_uring'


# glibc settings that keep freed memory mapped (--qsd-kept-malloc).
KEPT_MALLOC = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456'
KEPT_MALLOC_HELP = ('run qemu-storage-daemon with GLIBC_TUNABLES=%s: its per-request '
                    'buffers of 1 MiB otherwise come fresh from mmap and fault in every '
                    'page each time, which costs ~10 us per page in a VM with shadow page '
                    'tables (docs/nbd.md)' % KEPT_MALLOC)


def qsd_env(args):
    """The environment for qemu-storage-daemon: ours, with KEPT_MALLOC if asked."""
    if not getattr(args, 'qsd_kept_malloc', False):
        return None
    return dict(os.environ, GLIBC_TUNABLES=KEPT_MALLOC)


def blockgraph_server(img, workdir, args):
    node = ('<blockdev driver="file" node-name="disk0" filename="%s"%s%s\n'
            % (img, aio_attr(args),
               '><cache direct="on"/></blockdev>' if getattr(args, 'direct', False) else '/>'))
    return _blockgraphd(node, 'blockgraph', workdir, args)


def null_server(img, workdir, args):
    """blockgraphd exporting a null-co node of args.size_mib (img unused: no
    image): the client against a server that does nothing but NBD, so what
    one fio process can reach on this machine (a bound for every row but
    large reads, which a file serves with sendfile and null-co copies from
    a buffer)."""
    node = '<blockdev driver="null-co" node-name="disk0" size="%d"/>\n' % (args.size_mib << 20)
    return _blockgraphd(node, 'null', workdir, args)


@contextlib.contextmanager
def _blockgraphd(node, name, workdir, args):
    import bgtest
    bgtest.BLOCKGRAPHD = args.blockgraphd
    sock = os.path.join(workdir, '%s.sock' % name)
    conf = os.path.join(workdir, '%s-conf' % name)
    os.makedirs(conf, exist_ok=True)
    tls = '    <tls dir="%s"/>\n' % _tls_dir(args) if _tls_dir(args) else ''
    with open(os.path.join(conf, 'bench.xml'), 'w') as f:
        f.write('<blockgraph>\n  %s'
                '  <export type="nbd" id="e0" node-name="disk0" name="disk0" writable="on">\n'
                '    <server type="unix" path="%s"/>\n%s  </export>\n</blockgraph>\n'
                % (node, sock, tls))
    with bgtest.Daemon(config_dir=conf) as d:
        wait_for_socket(sock, d.proc, 'blockgraphd')
        _pids(args, name).append(d.proc.pid)
        perf = None
        if args.perf and name == 'blockgraph':
            perf = subprocess.Popen(['perf', 'record', '-g', '-o', args.perf,
                                     '-p', str(d.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield _uri(sock, args)
        finally:
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()


@contextlib.contextmanager
def process_server(cmd, sock, what, uri, pids=None, env=None):
    """Runs cmd (in env, else ours) until the with-block ends; its pid goes to the list pids."""
    if os.path.exists(sock):
        os.unlink(sock)     # left by an earlier run: its presence is what we wait for
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env)
    if pids is not None:
        pids.append(proc.pid)
    try:
        wait_for_socket(sock, proc, what)
        yield uri
    finally:
        proc.terminate()
        proc.wait()


def qsd_server(img, workdir, args):
    sock = os.path.join(workdir, 'qsd.sock')
    tls, creds = [], ''
    if _tls_dir(args):
        tls = ['--object', 'tls-creds-x509,id=tls0,dir=%s,endpoint=server,verify-peer=on'
               % _tls_dir(args)]
        creds = ',tls-creds=tls0'
    return process_server(
        ['qemu-storage-daemon'] + tls +
        ['--blockdev', 'driver=file,node-name=disk0,filename=%s,aio=%s' % (img, qsd_aio(args)),
         '--nbd-server', 'addr.type=unix,addr.path=%s%s' % (sock, creds),
         '--export', 'type=nbd,id=e0,node-name=disk0,name=disk0,writable=on'],
        sock, 'qemu-storage-daemon', _uri(sock, args), _pids(args, 'qsd'), qsd_env(args))


def nbdkit_server(img, workdir, args):
    sock = os.path.join(workdir, 'nbdkit.sock')
    tls = []
    if _tls_dir(args):
        tls = ['--tls=require', '--tls-certificates=' + _tls_dir(args), '--tls-verify-peer']
    threads = ['--threads', str(getattr(args, 'nbdkit_threads', 0) or 16)]
    return process_server(['nbdkit', '--foreground', '--unix', sock] + threads + tls +
                          ['file', 'file=' + img], sock, 'nbdkit', _uri(sock, args, ''),
                          _pids(args, 'nbdkit'))


SERVERS = {'blockgraph': blockgraph_server, 'qsd': qsd_server, 'nbdkit': nbdkit_server,
           'null': null_server}
