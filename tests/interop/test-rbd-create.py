#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.CreateImage onto Ceph RBD: driver="rbd" creates the image in the
# pool (seen by `rbd info`, with its size and object size; Feature
# image-create-rbd); an existing image is refused (Exists) unless
# overwrite="on", which replaces it but not while a node has it open (Busy); an unknown pool is NotFound; a bad
# cluster-size and filename= are InvalidArgument.  raw and qcow2 created
# onto an rbd node (<file ref>) take data through an export that QEMU's
# rbd driver reads back, and the qcow2 image passes `qemu-img check`.
import json

import createtest
from createtest import refused
import jobtest
import nbdtest
import rbdtest
from nbdtest import bgtest, MiB
import ceph


def rbd_create(cl, image, size, **opts):
    attrs = ''.join(' %s="%s"' % (k.replace('_', '-'), v) for k, v in opts.items())
    return '<create driver="rbd" %s image="%s" size="%s"%s/>' % (
        cl.blockdev_options(), image, size, attrs)


def rbd_info(cl, image):
    return json.loads(cl.rbd('info', '--format', 'json', '%s/%s' % (cl.pool, image)))


def check_raw(d, cl):
    feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
    bgtest.check('image-create-rbd' in feats, 'Feature image-create-rbd in %s' % feats)
    createtest.create(d, rbd_create(cl, 'new0', '48M'), 'c0')
    info = rbd_info(cl, 'new0')
    bgtest.check_equal(info['size'], 48 * MiB, 'rbd info size')
    bgtest.check_equal(info['order'], 22, 'librbd\'s default object size')
    createtest.create(d, rbd_create(cl, 'new1', '8M', cluster_size='1M'), 'c1')
    bgtest.check_equal(rbd_info(cl, 'new1')['order'], 20, 'cluster-size 1M')

    refused(d, 'Exists', rbd_create(cl, 'new0', '16M'), "'rbd/new0'", 'overwrite')
    bgtest.check_equal(rbd_info(cl, 'new0')['size'], 48 * MiB, 'left as it was')
    rbdtest.add_node(d, cl, 'r0', 'new0')
    refused(d, 'Busy', rbd_create(cl, 'new0', '16M', overwrite='on'), "'rbd/new0'", 'open')
    d.manager.RemoveNode('r0')
    createtest.create(d, rbd_create(cl, 'new0', '16M', overwrite='on'), 'c2')
    bgtest.check_equal(rbd_info(cl, 'new0')['size'], 16 * MiB, 'replaced')

    # The new image takes data that QEMU's rbd driver reads back.
    rbdtest.add_node(d, cl, 'r0', 'new0')
    path, uri = rbdtest.export(d, 'e0', 'r0')
    rbdtest.qemu_io(uri, 'write -P 0x3c 1M 3M', 'flush')
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('r0')
    rbdtest.qemu_io(rbdtest.qemu_target(cl, 'new0'), 'read -P 0x3c 1M 3M', 'read -P 0 0 1M',
                    read_only=True)


def check_bad_input(d, cl):
    refused(d, 'NotFound', rbd_create(cl, 'x', '8M').replace('pool="rbd"', 'pool="nopool"'),
            "'nopool'", 'nopool/x')
    refused(d, 'InvalidArgument', rbd_create(cl, 'x', '8M', cluster_size='3M'),
            'cluster-size', 'power of two')
    refused(d, 'InvalidArgument', rbd_create(cl, 'x', '8M', filename='/tmp/x'), 'filename=')
    refused(d, 'InvalidArgument', '<create driver="rbd" size="8M" conf="%s" image="x"/>'
            % cl.conf, "'pool'")
    bgtest.check('"x"' not in cl.rbd('ls', '--format', 'json', cl.pool), 'x not created')


def check_on_node(d, cl, fmt, image, size):
    """fmt created onto an rbd node, opened, written through an export."""
    createtest.create(d, rbd_create(cl, image, '1M'), 'n0')
    rbdtest.add_node(d, cl, 'rn', image)
    createtest.create(d, '<create driver="%s" size="%d"><file ref="rn"/></create>'
                      % (fmt, size), 'n1')
    d.manager.AddNode('<blockdev driver="%s" node-name="top"><file ref="rn"/></blockdev>'
                      % fmt)
    bgtest.check_equal(int(d.node_props('top')['Size']), size, 'Size of the %s node' % fmt)
    path, uri = rbdtest.export(d, 'e1', 'top')
    rbdtest.qemu_io(uri, 'read -P 0 0 4M', 'write -P 0x5a 2M 1M', 'write -P 0xa5 %d 64k'
                    % (size - 64 * 1024), 'flush')
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('top')
    d.manager.RemoveNode('rn')
    target = rbdtest.qemu_target(cl, image)
    rbdtest.qemu_io(target, 'read -P 0x5a 2M 1M', 'read -P 0xa5 %d 64k' % (size - 64 * 1024),
                    'read -P 0 0 2M', fmt=fmt, read_only=True)
    return target


def check_qcow2_on_rbd(d, cl):
    target = check_on_node(d, cl, 'qcow2', 'q0', 64 * MiB)
    jobtest.check_clean(target)
    info = json.loads(nbdtest.run(['qemu-img', 'info', '-U', '--output=json', target]).stdout)
    bgtest.check_equal(info['format'], 'qcow2', 'qemu-img info format')
    bgtest.check_equal(info['virtual-size'], 64 * MiB, 'qemu-img info virtual-size')
    check_on_node(d, cl, 'raw', 'r1', 24 * MiB)
    bgtest.check_equal(rbd_info(cl, 'r1')['size'], 24 * MiB, 'raw on a node: its size')


def main():
    rbdtest.need_qemu_rbd()
    with ceph.Cluster() as cl:
        with bgtest.Daemon() as d:
            check_raw(d, cl)
            check_bad_input(d, cl)
            check_qcow2_on_rbd(d, cl)


bgtest.run(main)
