#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A configuration file may hold a libvirt <domain>: its <devices><disk>
# entries are added at start as AddDisk adds them (the guest's other
# elements are ignored); a domain with a bad disk is not half-applied.
import os
import sys
import tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

DOMAIN = '''<domain type='kvm'>
  <name>vm%(n)d</name>
  <memory unit='MiB'>512</memory>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%(a)s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'><source network='default'/></interface>
    %(second)s
  </devices>
</domain>
'''
SECOND = '''<disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%s' index='7'/>
      <target dev='vdb' bus='virtio'/>
      <iotune><total_iops_sec>100</total_iops_sec></iotune>
    </disk>'''
NO_SOURCE = "<disk type='file' device='cdrom'><target dev='sda'/></disk>"


def node_names(d):
    return sorted(str(p['NodeName']) for o in d.managed_objects().values()
                  for i, p in o.items() if i == bgtest.NODE)


def main():
    with tempfile.TemporaryDirectory() as conf:
        imgs = []
        for i in range(3):
            imgs.append(os.path.join(conf, 'd%d.img' % i))
            with open(imgs[-1], 'wb') as f:
                f.truncate(1 << 20)
        with open(os.path.join(conf, '10-vm1.xml'), 'w') as f:
            f.write(DOMAIN % {'n': 1, 'a': imgs[0], 'second': SECOND % imgs[1]})
        with open(os.path.join(conf, '20-vm2.xml'), 'w') as f:
            f.write(DOMAIN % {'n': 2, 'a': imgs[2], 'second': NO_SOURCE})
        with bgtest.Daemon(config_dir=conf) as d:
            bgtest.check_equal(node_names(d), ['libvirt-1-format', 'libvirt-1-storage',
                                               'libvirt-2-filter', 'libvirt-7-format',
                                               'libvirt-7-storage'], 'nodes of vm1')
            err = d.stderr()
            bgtest.check('20-vm2.xml' in err and 'no <source>' in err, 'error names the file:\n'
                         + err)
            # vm2's first disk was rolled back: its image is free to use.
            d.manager.AddNode('<blockdev driver="file" node-name="f" filename="%s"/>' % imgs[2])


bgtest.run(main)
