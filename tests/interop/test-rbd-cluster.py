#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test cluster itself (tests/harness/ceph.py): a monitor and an OSD come
# up, an image written with `rbd import` reads back the same with `rbd
# export`, and stopping the cluster leaves neither daemon nor folder behind.
import os
import nbdtest
from nbdtest import bgtest, MiB
import ceph


def main():
    with ceph.Cluster() as cl:
        pids = [p.pid for p in cl.procs.values()]
        folder = cl.dir
        src = os.path.join(folder, 'src.img')
        nbdtest.make_image(src, 8 * MiB, [(0, b'\x5a' * MiB), (5 * MiB, os.urandom(MiB))])
        cl.rbd('import', src, 'rbd/img0')
        bgtest.check('img0' in cl.rbd('ls', 'rbd').split(), 'img0 listed in pool rbd')
        dst = os.path.join(folder, 'dst.img')
        cl.rbd('export', 'rbd/img0', dst)
        bgtest.check(nbdtest.files_equal(src, dst), 'rbd export returns what rbd import wrote')
    for pid in pids:
        bgtest.check(not os.path.exists('/proc/%d' % pid) or
                     open('/proc/%d/stat' % pid).read().split()[2] == 'Z',
                     'ceph daemon %d stopped' % pid)
    bgtest.check(not os.path.exists(folder), 'cluster folder removed')


bgtest.run(main)
