#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.AddDisk on raw images: indexes assigned when absent and never
# clashing, <readonly/>, <iotune> as a throttle filter with the disk's own
# group or group_name, copy_on_read as a copy-on-read filter; bad input
# (no <source>, unknown types, formats and protocols, clashing indexes,
# cycles, limits that do not parse) gets a clear error and adds nothing.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def disk(path, extra='', index='', driver="<driver name='qemu' type='raw'/>", target='vda'):
    idx = " index='%s'" % index if index else ''
    return ("<disk type='file' device='disk'>%s<source file='%s'%s/>"
            "<target dev='%s'/>%s</disk>" % (driver, path, idx, target, extra))


def node_names(d):
    objs = d.managed_objects()
    return sorted(str(objs[o][bgtest.NODE]['NodeName']) for o in objs if bgtest.NODE in objs[o])


def opt(d, name, key):
    xml = str(d.node(name).GetXML())
    marker = ' %s="' % key
    return xml.split(marker, 1)[1].split('"', 1)[0] if marker in xml else None


RBD_DISK = "<disk type='network'><source protocol='rbd' name='rbd/img'>%s</source></disk>"
UUID = 'a0f1d7c2-3b4e-4f5a-9c6d-7e8f90a1b2c3'


def bad_input(d, img):
    cases = [
        ('InvalidArgument', "<disk type='file'><driver type='raw'/><target dev='vda'/></disk>",
         'no <source>'),
        ('NotSupported', "<disk type='dir'><source dir='/tmp'/></disk>", "'dir'"),
        ('NotSupported', "<disk type='network'><source protocol='gluster' name='v/i'/></disk>",
         "'gluster'"),
        ('NotSupported', disk(img, driver="<driver type='vmdk'/>"), "'vmdk'"),
        ('InvalidArgument', RBD_DISK % "<auth username='u'><secret type='iscsi' uuid='%s'/>"
                                       "</auth>" % UUID, "type='ceph'"),
        ('NotSupported', RBD_DISK % "<auth username='u'><secret type='ceph' usage='x'/></auth>",
         'uuid='),
        ('InvalidArgument', disk(img, "<iotune><total_iops_sec>lots</total_iops_sec></iotune>"),
         'iops-total'),
        ('InvalidArgument', disk(img, "<iotune><total_iops_sec>5</total_iops_sec>"
                                      "<read_iops_sec>5</read_iops_sec></iotune>"),
         'at the same time'),
        ('InvalidArgument', disk(img, "<backingStore type='file'><format type='raw'/>"
                                      "<source file='%s'/></backingStore>" % img,
                                 driver="<driver type='qcow2'/>"), 'cyclic'),
        ('Exists', disk(img, "<backingStore type='file' index='7'><format type='raw'/>"
                             "<source file='%s.b'/></backingStore>" % img, index='7',
                        driver="<driver type='qcow2'/>"), 'index 7'),
        ('NotFound', disk(img + '.missing', "<iotune><total_iops_sec>5</total_iops_sec>"
                                            "</iotune>", index='9'), '.missing'),
    ]
    for name, xml, words in cases:
        e = bgtest.expect_error(name, d.manager.AddDisk, xml)
        bgtest.check(words in e.get_dbus_message(), '%r names %s' % (e.get_dbus_message(), words))
        bgtest.check_equal(node_names(d), [], 'nothing added by %s' % xml)
    bgtest.expect_error('NotFound', d.manager.RemoveDisk, 'libvirt-1-format')


def main():
    with bgtest.Daemon() as d:
        imgs = []
        for i in range(4):
            imgs.append(os.path.join(d.tmpdir, 'd%d.img' % i))
            with open(imgs[-1], 'wb') as f:
                f.truncate(4 << 20)
        open(imgs[0] + '.b', 'wb').close()
        bad_input(d, imgs[0])

        # The index that failed above is free: nothing of that disk stayed.
        d.manager.AddDisk(disk(imgs[0], index='9'))
        bgtest.expect_error('Exists', d.manager.AddDisk, disk(imgs[1], index='9'))
        # Assigned indexes skip the ones in use.
        top = d.manager.AddDisk(disk(imgs[1], "<readonly/>"))
        bgtest.check_equal(str(top), d.node_path('libvirt-1-format'), 'first free index')
        bgtest.check_equal(opt(d, 'libvirt-1-format', 'read-only'), 'on', '<readonly/>')
        bgtest.check_equal(opt(d, 'libvirt-9-format', 'read-only'), 'off', 'writable top')

        # <iotune>: a throttle filter on top; its own group, or group_name.
        tune = "<iotune><total_iops_sec>%d</total_iops_sec>%s</iotune>"
        top = d.manager.AddDisk(disk(imgs[2], tune % (100, ''), target='vdc'))
        bgtest.check_equal(str(top), d.node_path('libvirt-3-filter'), 'filter on top')
        bgtest.check_equal(str(d.node_props('libvirt-3-filter')['Driver']), 'throttle')
        bgtest.check_equal(opt(d, 'libvirt-3-filter', 'throttle-group'), 'libvirt-3-filter')
        shared = tune % (50, '<group_name>shared</group_name>')
        d.manager.AddDisk(disk(imgs[3], shared, target='vdd',
                               driver="<driver type='raw' copy_on_read='on'/>"))
        bgtest.check_equal(opt(d, 'libvirt-5-filter', 'throttle-group'), 'shared')
        children = d.node_props('libvirt-5-filter')['Children']
        bgtest.check_equal(str(children[0][1]), 'libvirt-CoR-vdd', 'copy-on-read under throttle')
        # Jobs see the filters as filters (stream's filter rule).
        e = bgtest.expect_error('InvalidArgument', d.manager.StartJob,
                                '<job type="stream" id="s0" node-name="libvirt-5-filter" '
                                'bottom="libvirt-CoR-vdd"/>')
        bgtest.check('is a filter' in e.get_dbus_message(), e.get_dbus_message())
        drv = d.props(d.manager_path('driver', 'copy-on-read'), bgtest.DRIVER)
        bgtest.check_equal(str(drv['Kind']), 'filter', 'copy-on-read is a filter')

        for top in ('libvirt-5-filter', 'libvirt-3-filter', 'libvirt-1-format',
                    'libvirt-9-format'):
            d.manager.RemoveDisk(top)
        bgtest.check_equal(node_names(d), [], 'every disk removed')
        # The disk's own group went with it: the same disk can be added again.
        d.manager.AddDisk(disk(imgs[2], tune % (100, ''), target='vdc'))


bgtest.run(main)
