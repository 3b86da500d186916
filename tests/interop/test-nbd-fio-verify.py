#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# fio as the oracle for data integrity under concurrency: four fio processes,
# each on its own connection and its own quarter of a raw window
# (offset/size) export, write blocks of 4 KiB to 1 MiB at random with 16
# requests in flight and read every one back with a checksum.  Once on
# tmpfs (inline transfers and zero-copy reads from the loop thread) and
# once on a disk file system (RWF_NOWAIT, the worker pool, cachestat).
import os
import shutil
import subprocess
import tempfile
import nbdtest
from nbdtest import bgtest, MiB

JOBS, SPAN = 4, 16 * MiB


def verify_on(d, folder, tag):
    img = os.path.join(folder, 'fio-%s.img' % tag)
    nbdtest.make_image(img, JOBS * SPAN + 2 * MiB)
    d.manager.AddNode('<blockdev driver="raw" node-name="w%s" offset="%d" size="%d">'
                      '<file driver="file" filename="%s"/></blockdev>'
                      % (tag, MiB, JOBS * SPAN, img))
    sock = os.path.join(d.tmpdir, 'fio-%s.sock' % tag)
    _, uri = nbdtest.add_export(d, 'e' + tag, 'w' + tag, sock)
    procs = []
    for j in range(JOBS):
        procs.append(subprocess.Popen(
            ['fio', '--name=v%d' % j, '--ioengine=nbd', '--uri=' + uri, '--rw=randrw',
             '--bsrange=4k-1M', '--iodepth=16', '--offset=%d' % (j * SPAN),
             '--size=%d' % SPAN, '--verify=crc32c', '--verify_fatal=1', '--do_verify=1',
             '--loops=2', '--verify_state_save=0', '--output-format=terse'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=d.tmpdir))
    for j, p in enumerate(procs):
        out, _ = p.communicate(timeout=120)
        bgtest.check_equal(p.returncode, 0, '%s: fio job %d exit status\n%s' % (tag, j, out))
        fields = out.strip().splitlines()[-1].split(';')
        bgtest.check_equal(fields[4], '0', '%s: fio job %d error field' % (tag, j))
    # The file holds what fio wrote, outside the window nothing.
    with open(img, 'rb') as f:
        head = f.read(MiB)
    bgtest.check(head == bytes(MiB), '%s: nothing written before the window' % tag)


def main():
    bgtest.need_tool('fio')
    with bgtest.Daemon() as d:
        verify_on(d, d.tmpdir, 'disk')
        if os.path.isdir('/dev/shm'):
            shm = tempfile.mkdtemp(prefix='bg-fio-verify-', dir='/dev/shm')
            try:
                verify_on(d, shm, 'shm')
                bgtest.remove_export_safe(d, d.manager_path('export', 'eshm'))
                d.manager.RemoveNode('wshm')
            finally:
                shutil.rmtree(shm, ignore_errors=True)


bgtest.run(main)
