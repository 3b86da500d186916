#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.AddDisk builds from a libvirt <disk> the nodes libvirt builds for
# QEMU (qemu_block.c): per layer libvirt-<index>-storage (auto-read-only,
# discard=unmap, aio and cache from <driver>) and libvirt-<index>-format
# (read-only below the top, backing named explicitly, <backingStore/>
# ending the chain); RemoveDisk removes them all.  The chain reads what
# qemu-io reads from the same images.
import os
import xml.etree.ElementTree as ET
import nbdtest
from nbdtest import bgtest, MiB

CHAIN = '''<disk type='file' device='disk'>
  <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'
          detect_zeroes='unmap'/>
  <source file='%(top)s' index='2'/>
  <backingStore type='file' index='1'>
    <format type='qcow2'/>
    <source file='%(base)s'/>
    <backingStore/>
  </backingStore>
  <target dev='vda' bus='virtio'/>
  <alias name='virtio-disk0'/>
</disk>'''

URING_DISK = '''<disk type='file' device='disk'>
  <driver name='qemu' type='raw' io='io_uring'/>
  <source file='%s'/>
  <target dev='vdb' bus='virtio'/>
</disk>'''


def options(d, name):
    """The node's options from GetXML: attributes, cache.* and children by role."""
    root = ET.fromstring(str(d.node(name).GetXML()))
    opts = dict(root.attrib)
    for child in root:
        if child.tag == 'cache':
            opts.update({'cache.' + k: v for k, v in child.attrib.items()})
        else:
            opts[child.tag] = child.get('ref', '')
    return opts


def expect(d, name, **want):
    got = options(d, name)
    for key, value in want.items():
        key = key.replace('_', '-').replace('cache-', 'cache.')
        bgtest.check_equal(got.get(key), value, 'node %s option %s (%s)' % (name, key, got))


def make_chain(d):
    base = os.path.join(d.tmpdir, 'base.qcow2')
    top = os.path.join(d.tmpdir, 'top.qcow2')
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '16M'])
    nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x11 0 4M', base])
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, top])
    nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x22 1M 1M', top])
    ref = os.path.join(d.tmpdir, 'ref.raw')
    nbdtest.run(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', top, ref])
    return base, top, ref


def main():
    bgtest.need_tool('qemu-img')
    with bgtest.Daemon() as d:
        base, top, ref = make_chain(d)
        path = d.manager.AddDisk(CHAIN % {'top': top, 'base': base})
        bgtest.check_equal(str(path), d.node_path('libvirt-2-format'), 'AddDisk returns the top')
        common = dict(cache_direct='on', cache_no_flush='off')
        expect(d, 'libvirt-2-storage', driver='file', filename=top, aio='native',
               auto_read_only='on', discard='unmap', **common)
        expect(d, 'libvirt-2-format', driver='qcow2', read_only='off', discard='unmap',
               detect_zeroes='unmap', file='libvirt-2-storage', backing='libvirt-1-format',
               **common)
        expect(d, 'libvirt-1-storage', driver='file', filename=base, auto_read_only='on',
               discard='unmap', **common)
        expect(d, 'libvirt-1-format', driver='qcow2', read_only='on', discard='unmap',
               detect_zeroes='off', file='libvirt-1-storage', backing='', **common)
        bgtest.check(not d.node_props('libvirt-1-storage')['Writable'],
                     'the backing image is open read-only')

        # The chain reads as qemu-io reads it: base data, the top's write over it.
        sock = os.path.join(d.tmpdir, 'vda.sock')
        _, uri = nbdtest.add_export(d, 'vda', 'libvirt-2-format', sock, writable=False)
        copy = os.path.join(d.tmpdir, 'copy.raw')
        nbdtest.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', uri, copy])
        bgtest.check(nbdtest.files_equal(copy, ref), 'the disk reads as qemu-img reads it')
        bgtest.remove_export_safe(d, d.manager_path('export', 'vda'))

        d.manager.RemoveDisk('libvirt-2-format')
        names = [str(p['NodeName']) for p in
                 (d.props(o, bgtest.NODE) for o in d.managed_objects()
                  if bgtest.NODE in d.managed_objects()[o])]
        bgtest.check_equal(names, [], 'RemoveDisk removed every node of the disk')

        # io='io_uring' is the storage node's aio=io_uring (where the kernel permits it).
        raw = os.path.join(d.tmpdir, 'plain.raw')
        nbdtest.make_image(raw, MiB)
        try:
            d.manager.AddDisk(URING_DISK % raw)
        except bgtest.dbus.exceptions.DBusException as e:
            bgtest.check('aio=io_uring is not available' in e.get_dbus_message(),
                         e.get_dbus_message())
        else:
            expect(d, 'libvirt-1-storage', driver='file', aio='io_uring')


bgtest.run(main)
