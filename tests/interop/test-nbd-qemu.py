#!/usr/bin/python3
# qemu-img and qemu-io on the nbd+unix:// URI: compare with the image file,
# write patterns through the export and read them back both over NBD and
# from the file; write-zeroes and discard land as zeroes.
import os
import nbdtest
from nbdtest import bgtest, MiB


def qemu_io(uri, *cmds, extra=()):
    args = ['qemu-io', '-f', 'raw'] + list(extra)
    for c in cmds:
        args += ['-c', c]
    p = nbdtest.run(args + [uri])
    if 'error' in p.stdout.lower() or 'failed' in p.stdout.lower():
        raise bgtest.TestFailure('qemu-io %r: %s' % (cmds, p.stdout))
    return p.stdout


def main():
    bgtest.need_tool('qemu-img')
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, 16 * MiB, [(MiB, os.urandom(3 * MiB))])
        nbdtest.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'raw', img, uri])
        info = nbdtest.run(['qemu-img', 'info', '--output=json', uri]).stdout
        bgtest.check('"virtual-size": %d' % (16 * MiB) in info, 'qemu-img info size: ' + info)

        qemu_io(uri, 'write -P 0xa5 0 64k', 'write -f -P 0x5a 8M 1M', 'flush',
                'write -z 1M 512k', 'discard 4M 1M', 'write -P 0x33 12M 4k')
        qemu_io(uri, 'read -P 0xa5 0 64k', 'read -P 0x5a 8M 1M', 'read -P 0 1M 512k',
                'read -P 0 4M 1M', 'read -P 0x33 12M 4k')
        # the same bytes are in the file, seen without NBD
        qemu_io(img, 'read -P 0xa5 0 64k', 'read -P 0x5a 8M 1M', 'read -P 0 1M 512k',
                extra=('-r', '-U'))
        nbdtest.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'raw', img, uri])


bgtest.run(main)
