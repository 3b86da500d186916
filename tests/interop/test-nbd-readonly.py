#!/usr/bin/python3
# A read-only export refuses writes, trims and write-zeroes with EPERM and
# leaves the image untouched; reads still work.  A writable export of a
# read-only node is refused when it is added.
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB


def main():
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, 4 * MiB, [(0, b'\x42' * MiB)], writable=False)
        c = nbdwire.Client(sock)
        size, flags = c.go(b'disk0')
        bgtest.check(flags & nbdwire.TF_READ_ONLY, 'READ_ONLY flag')
        bgtest.check_equal(c.write(0, b'\0' * 4096), nbdwire.EPERM, 'write')
        bgtest.check_equal(c.simple(nbdwire.CMD_TRIM, 0, 4096), nbdwire.EPERM, 'trim')
        bgtest.check_equal(c.simple(nbdwire.CMD_WRITE_ZEROES, 0, 4096), nbdwire.EPERM,
                           'write-zeroes')
        err, data = c.read(0, 8192)
        bgtest.check_equal((err, data), (0, b'\x42' * 8192), 'read')
        bgtest.check_equal(c.simple(nbdwire.CMD_FLUSH), 0, 'flush')
        c.disconnect()
        with open(img, 'rb') as f:
            bgtest.check_equal(f.read(MiB), b'\x42' * MiB, 'image untouched')

        if bgtest.shutil.which('qemu-io'):
            p = nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'write 0 4k', uri], check=False)
            bgtest.check(p.returncode != 0 or 'failed' in p.stdout.lower()
                         or 'read-only' in (p.stdout + p.stderr).lower(),
                         'qemu-io write on a read-only export: %s %s' % (p.stdout, p.stderr))

        # writable export on a read-only node
        img2 = img + '.2'
        nbdtest.make_image(img2, MiB)
        nbdtest.add_file_node(d, 'ro', img2, read_only=True)
        bgtest.expect_error('ReadOnly', nbdtest.add_export, d, 'e1', 'ro', sock + '2')


bgtest.run(main)
