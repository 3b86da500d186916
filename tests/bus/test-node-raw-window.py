#!/usr/bin/python3
# Data written through the request path lands in the file: qemu-io writes
# through an NBD export of a raw window (offset=1M size=4M) on a file node;
# after Node.Flush the image file holds the bytes at offset 1M + x, nothing
# outside the window changed, and a write past the window fails.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import subprocess

MiB = 1 << 20


def qemu_io(uri, cmd):
    return subprocess.run(['qemu-io', '-f', 'raw', '-c', cmd, uri], capture_output=True,
                          text=True, timeout=60)


def main():
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.raw')
        with open(img, 'wb') as f:
            f.write(b'\x11' * (8 * MiB))
        d.manager.AddNode('<blockdev driver="raw" node-name="win" offset="1M" size="4M">'
                          '<file driver="file" node-name="f0" filename="%s"/></blockdev>' % img)
        bgtest.check_equal(int(d.node_props('win')['Size']), 4 * MiB, 'window Size')
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        path = d.manager.AddExport('<export type="nbd" id="e0" node-name="win" writable="on">'
                                   '<server type="unix" path="%s"/></export>' % sock)
        uri = str(d.props(path, bgtest.EXPORT)['Uri'])

        p = qemu_io(uri, 'write -P 0xa5 64k 128k')
        bgtest.check(p.returncode == 0 and 'error' not in p.stdout.lower(),
                     'qemu-io write: %s %s' % (p.stdout, p.stderr))
        p = qemu_io(uri, 'write -P 0x5a 4032k 64k')     # the last 64k of the window
        bgtest.check(p.returncode == 0 and 'error' not in p.stdout.lower(),
                     'qemu-io write at the end: %s %s' % (p.stdout, p.stderr))
        d.node('win').Flush()

        with open(img, 'rb') as f:
            data = f.read()
        bgtest.check_equal(len(data), 8 * MiB, 'file size')
        start = MiB + 64 * 1024
        bgtest.check(data[start:start + 128 * 1024] == b'\xa5' * (128 * 1024),
                     'written bytes at file offset 1M+64k')
        end = MiB + 4 * MiB
        bgtest.check(data[end - 64 * 1024:end] == b'\x5a' * (64 * 1024),
                     'written bytes at the end of the window')
        untouched = data[:start] + data[start + 128 * 1024:end - 64 * 1024] + data[end:]
        bgtest.check(untouched == b'\x11' * len(untouched), 'bytes outside the writes changed')

        p = qemu_io(uri, 'write -P 0x77 4M 4k')          # past the window
        bgtest.check(p.returncode != 0 or 'error' in (p.stdout + p.stderr).lower()
                     or 'out of' in (p.stdout + p.stderr).lower(),
                     'write past the window accepted: %s %s' % (p.stdout, p.stderr))
        with open(img, 'rb') as f:
            f.seek(end)
            bgtest.check(f.read(4096) == b'\x11' * 4096, 'bytes past the window changed')


bgtest.run(main)
