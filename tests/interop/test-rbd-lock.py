#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Many hosts, one image: two daemons open the same rbd image.  While A
# writes it (a writable export), B's writable export is refused with
# PermissionConflict naming the lock's holder; A hands the image over
# with SetActive(false), B takes it and reads every write A acknowledged,
# then A cannot take it back for writing while B writes.
import nbdtest
import rbdtest
from nbdtest import bgtest, MiB
import ceph


def main():
    bgtest.need_tool('qemu-io')
    with ceph.Cluster() as cl:
        cl.create_image('img0', 16 * MiB)
        with bgtest.Daemon() as a, bgtest.Daemon() as b:
            rbdtest.add_node(a, cl, 'r0', 'img0')
            rbdtest.add_node(b, cl, 'r0', 'img0')
            pa, ua = rbdtest.export(a, 'e0', 'r0')
            # Acknowledged writes, no flush: librbd's cache may hold them.
            rbdtest.qemu_io(ua, 'write -P 0x11 0 1M', 'write -P 0x22 5M 3M')

            e = bgtest.expect_error('PermissionConflict', rbdtest.export, b, 'e0', 'r0')
            msg = e.get_dbus_message()
            bgtest.check("'r0'" in msg and 'rbd/img0' in msg and 'locked by the client at 127.0.0.1:' in msg,
                         'names node, image and holder: ' + msg)

            rbdtest.remove_export(a, pa)
            a.node('r0').SetActive(False)
            pb, ub = rbdtest.export(b, 'e0', 'r0')
            rbdtest.qemu_io(ub, 'read -P 0x11 0 1M', 'read -P 0x22 5M 3M',
                            'write -P 0x33 1M 1M')

            a.node('r0').SetActive(True)
            e = bgtest.expect_error('PermissionConflict', rbdtest.export, a, 'e0', 'r0')
            bgtest.check('locked by' in e.get_dbus_message(), e.get_dbus_message())
            rbdtest.remove_export(b, pb)
            b.manager.RemoveNode('r0')
            a.manager.RemoveNode('r0')
        with cl.image('img0', read_only=True) as img:
            bgtest.check_equal(img.read(1 * MiB, 1 * MiB), b'\x33' * MiB, 'B\'s write stored')


bgtest.run(main)
