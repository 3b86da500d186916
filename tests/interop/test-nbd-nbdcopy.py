#!/usr/bin/python3
# nbdcopy out of an export and into a writable export, compared with cmp
# against the source; the export's file holds the copied data afterwards.
import os
import nbdtest
from nbdtest import bgtest, MiB


def main():
    bgtest.need_tool('nbdcopy')
    with bgtest.Daemon() as d:
        src = os.path.join(d.tmpdir, 'src.img')
        chunks = [(i * 3 * MiB, os.urandom(MiB // 2 + i * 4096)) for i in range(10)]
        nbdtest.make_image(src, 32 * MiB, chunks)
        nbdtest.add_file_node(d, 'src', src)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        _, src_uri = nbdtest.add_export(d, 'e-src', 'src', sock, writable=False)

        # out: export -> file
        out = os.path.join(d.tmpdir, 'out.img')
        nbdtest.run(['nbdcopy', src_uri, out])
        bgtest.check(nbdtest.files_equal(src, out), 'nbdcopy out differs from the source')

        # in: file -> writable export (of a different, zeroed image)
        dst = os.path.join(d.tmpdir, 'dst.img')
        nbdtest.make_image(dst, 32 * MiB, [(0, b'\xff' * (4 * MiB))])
        nbdtest.add_file_node(d, 'dst', dst)
        _, dst_uri = nbdtest.add_export(d, 'e-dst', 'dst', sock, writable=True)
        nbdtest.run(['nbdcopy', '--flush', src, dst_uri])
        bgtest.check(nbdtest.files_equal(src, dst), 'nbdcopy in: image differs from the source')

        # and once more export -> export, several connections each way
        nbdtest.make_image(dst, 32 * MiB)
        nbdtest.run(['nbdcopy', '--connections=4', '--requests=32', src_uri, dst_uri])
        bgtest.check(nbdtest.files_equal(src, dst), 'export to export copy differs')


bgtest.run(main)
