#!/usr/bin/python3
# auto-read-only=on on a format node (raw, qcow2) over a dynamic `file` node
# whose image refuses writing for permission reasons (EPERM: an immutable
# file; EACCES for an unprivileged daemon on a 0444 image is the same path):
# the nodes open read-only instead of failing (raw: its file, since raw takes
# nothing of it without a writer), a writer is then refused with ReadOnly
# naming the node, and without auto-read-only the open still fails.
import os
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

FORMATS = ('raw', 'qcow2')


def make_images(folder):
    imgs = {}
    for fmt in FORMATS:
        path = os.path.join(folder, 'ro.' + fmt)
        if fmt == 'raw':
            with open(path, 'wb') as f:
                f.truncate(1 << 20)
        else:
            bgtest.need_tool('qemu-img')
            subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, '1M'], check=True)
        if subprocess.run(['chattr', '+i', path], capture_output=True).returncode != 0:
            bgtest.skip('chattr +i not supported here')
        imgs[fmt] = path
    return imgs


def check_fallback(d, fmt, path):
    top, prot = 'top-' + fmt, 'file-' + fmt
    d.manager.AddNode('<blockdev driver="%s" node-name="%s" auto-read-only="on">'
                      '<file driver="file" node-name="%s" filename="%s" auto-read-only="on"/>'
                      '</blockdev>' % (fmt, top, prot, path))
    # qcow2 writes its metadata whenever it is writable, so it tries read-write
    # at open and settles; raw takes of its file only what its users take, so
    # with no writer its file simply stays read-only (raw itself is not
    # read-only: the writer below finds out).
    for name in (top, prot) if fmt != 'raw' else (prot,):
        bgtest.check_equal(bool(d.node_props(name)['Writable']), False,
                           '%s settles for read-only' % name)
    sock = os.path.join(d.tmpdir, fmt + '.sock')
    e = bgtest.expect_error('ReadOnly', d.manager.AddExport,
                            '<export type="nbd" id="w-%s" node-name="%s" writable="on">'
                            '<server type="unix" path="%s"/></export>' % (fmt, top, sock))
    bgtest.check(top in e.get_dbus_message() or prot in e.get_dbus_message(),
                 'names the node: ' + e.get_dbus_message())
    e = bgtest.expect_error('AccessDenied', d.manager.AddNode,
                            '<blockdev driver="%s" node-name="hard-%s">'
                            '<file driver="file" filename="%s"/></blockdev>' % (fmt, fmt, path))
    bgtest.check(path in e.get_dbus_message(), 'names the path: ' + e.get_dbus_message())


def main():
    with bgtest.Daemon() as d:
        imgs = {}
        try:
            imgs = make_images(d.tmpdir)
            for fmt, path in imgs.items():
                check_fallback(d, fmt, path)
        finally:
            for path in imgs.values():
                subprocess.run(['chattr', '-i', path])


bgtest.run(main)
