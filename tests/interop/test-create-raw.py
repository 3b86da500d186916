#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.CreateImage with drivers file and raw (size, preallocation
# off/falloc/full: qemu-img info and map as for qemu-img create's image), and
# onto an existing protocol node (<file ref=.../>): a qcow2 or raw image
# replaces what the node's file held, the node shows its new size, and the
# image opens on it.  The job goes created -> running -> concluded, sends
# Completed(true, "") and shows progress for preallocation.
import createtest
import jobtest
import nbdtest
from jobtest import bgtest, MiB


def test_plain(d):
    for driver in ('file', 'raw'):
        for prealloc in ('off', 'falloc', 'full'):
            ours = createtest.tmp(d, '%s-%s.img' % (driver, prealloc))
            oracle = createtest.tmp(d, '%s-%s-qemu.img' % (driver, prealloc))
            p = createtest.create(d, createtest.snippet(driver, ours, '8M', preallocation=prealloc),
                                  'p-%s-%s' % (driver, prealloc))
            bgtest.check_equal(str(p['Error']), '')
            if prealloc != 'off':
                bgtest.check_equal(int(p['TotalProgress']), 8 * MiB, 'progress counts the data')
                bgtest.check_equal(int(p['CurrentProgress']), 8 * MiB)
            createtest.qemu_create(oracle, 'raw', 8 * MiB, preallocation=prealloc)
            createtest.check_like_qemu(ours, oracle, 'raw', sparse=prealloc == 'off')


def test_states(d):
    sig = d.signals()
    img = createtest.tmp(d, 'states.qcow2')
    d.manager.CreateImage(createtest.snippet('qcow2', img, '64M', preallocation='full'))
    sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=60)
    done = sig.named('Completed')[0]
    bgtest.check_equal(str(done[2]), jobtest.job_path(d, 'create0'), 'default job id create0')
    bgtest.check_equal((bool(done[3][0]), str(done[3][1])), (True, ''), 'Completed(true, "")')
    statuses = [str(i[3][1]['Status']) for i in sig.named('PropertiesChanged')
                if 'Status' in i[3][1]]
    for s in ('running', 'concluded'):
        bgtest.check(s in statuses, '%s in %r' % (s, statuses))
    progress = [int(i[3][1]['CurrentProgress']) for i in sig.named('PropertiesChanged')
                if 'CurrentProgress' in i[3][1]]
    bgtest.check(progress and progress[-1] >= 64 * MiB, 'progress sent: %r' % progress[-3:])
    jobtest.check_clean(img)


def test_node_ref(d):
    img = createtest.tmp(d, 'store.img')
    nbdtest.make_image(img, 3 * MiB, [(0, b'\xff' * MiB)])
    nbdtest.add_file_node(d, 'store', img)
    createtest.create(d, '<create driver="qcow2" size="32M" cluster-size="4K">'
                         '<file ref="store"/></create>', 'r0')
    oracle = createtest.tmp(d, 'store-qemu.qcow2')
    createtest.qemu_create(oracle, 'qcow2', 32 * MiB, **{'cluster-size': '4K'})
    createtest.check_like_qemu(img, oracle, 'qcow2')
    createtest.reads_pattern(img, 'qcow2', 0, 32 * MiB)
    users = [str(u[0]) for u in d.node_props('store')['Users']]
    bgtest.check(not any(u.startswith('job:') for u in users), 'the job let go: %r' % users)
    d.manager.AddNode('<blockdev driver="qcow2" node-name="img"><file ref="store"/></blockdev>')
    bgtest.check_equal(int(d.node_props('img')['Size']), 32 * MiB, 'opens on the node')
    d.manager.RemoveNode('img')
    createtest.create(d, '<create driver="raw" size="4M" preallocation="full">'
                         '<file ref="store"/></create>', 'r1')
    bgtest.check_equal(int(d.node_props('store')['Size']), 4 * MiB, 'the node shows its new size')
    createtest.reads_pattern(img, 'raw', 0, 4 * MiB)


def main():
    jobtest.need_qemu()
    for t in (test_plain, test_states, test_node_ref):
        with bgtest.Daemon() as d:
            t(d)


bgtest.run(main)
