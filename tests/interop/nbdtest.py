# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared set-up for the NBD interop tests: a daemon (tests/harness), a file
node on an image in the test's scratch folder, and an export of it."""

import os
import subprocess
import sys
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_here, '..', 'harness'))
sys.path.insert(0, _here)
import bgtest  # noqa: E402

MiB = 1 << 20


def make_image(path, size, chunks=()):
    """A sparse file of size bytes with (offset, bytes) written into it."""
    with open(path, 'wb') as f:
        f.truncate(size)
        for off, data in chunks:
            f.seek(off)
            f.write(data)


def add_file_node(d, name, img, read_only=False):
    """A file node; BG_TEST_AIO (set by meson for some tests) picks its aio engine."""
    aio = os.environ.get('BG_TEST_AIO')
    d.manager.AddNode('<blockdev driver="file" node-name="%s" filename="%s"%s%s/>'
                      % (name, img, ' read-only="on"' if read_only else '',
                         ' aio="%s"' % aio if aio else ''))


def add_export(d, eid, node, sock, writable=True, name=None):
    """AddExport on a unix socket; returns (object path, Uri)."""
    xml = ('<export type="nbd" id="%s" node-name="%s" name="%s" writable="%s">'
           '<server type="unix" path="%s"/></export>'
           % (eid, node, name or node, 'on' if writable else 'off', sock))
    path = d.manager.AddExport(xml)
    return str(path), str(d.props(path, bgtest.EXPORT)['Uri'])


def export_props(d, eid):
    return d.props(d.manager_path('export', eid), bgtest.EXPORT)


def wait_clients(d, eid, count, timeout=30):
    """Waits until export eid counts `count` clients: a client's close is
    seen by the daemon some loop turns after the client process is gone."""
    end = time.monotonic() + timeout
    while int(export_props(d, eid)['Clients']) != count:
        if time.monotonic() > end:
            raise bgtest.TestFailure('export %r: still %s clients after %d s, not %d'
                                     % (eid, export_props(d, eid)['Clients'], timeout, count))
        time.sleep(0.02)


def setup(d, size=64 * MiB, chunks=(), writable=True, read_only_node=False):
    """Image + file node 'disk0' + export 'e0' on <tmpdir>/nbd.sock; returns (img, uri, sock)."""
    img = os.path.join(d.tmpdir, 'disk.img')
    make_image(img, size, chunks)
    add_file_node(d, 'disk0', img, read_only=read_only_node)
    sock = os.path.join(d.tmpdir, 'nbd.sock')
    _, uri = add_export(d, 'e0', 'disk0', sock, writable=writable)
    return img, uri, sock


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if check and p.returncode != 0:
        raise bgtest.TestFailure('%s failed (%d):\n%s%s'
                                 % (' '.join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def files_equal(a, b):
    return run(['cmp', a, b], check=False).returncode == 0
