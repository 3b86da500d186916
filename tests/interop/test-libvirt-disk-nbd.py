#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# AddDisk of a libvirt network disk, <source protocol='nbd'>, over a unix
# socket and TCP: the storage node uses the nbd driver with the server and
# export libvirt names, and the disk reads and writes the image qemu-nbd
# serves.
import os
import nbdremote
import nbdtest
from nbdtest import bgtest, MiB

UNIX = '''<disk type='network' device='disk'>
  <driver name='qemu' type='raw'/>
  <source protocol='nbd' name='disk0'><host transport='unix' socket='%s'/></source>
  <target dev='vda'/>
</disk>'''
TCP = '''<disk type='network' device='disk'>
  <driver name='qemu' type='raw'/>
  <source protocol='nbd' name='disk0'><host name='127.0.0.1' port='%d'/></source>
  <target dev='vdb'/>
</disk>'''


def check_disk(d, img, xml, tag, want_opts):
    top = str(d.manager.AddDisk(xml))
    name = top.rsplit('/', 1)[1].replace('_2d', '-')
    storage = name.replace('-format', '-storage')
    opts = str(d.node(storage).GetXML())
    for o in want_opts:
        bgtest.check(o in opts, '%s in %s' % (o, opts))
    _, uri = nbdtest.add_export(d, 'e-' + tag, name, os.path.join(d.tmpdir, tag + '.sock'))
    nbdremote.qemu_io(uri, 'read -P 0x5a 1M 1M', 'write -P 0x%s7 4M 1M' % tag[0], 'flush')
    nbdremote.qemu_io(img, 'read -P 0x%s7 4M 1M' % tag[0])
    bgtest.remove_export_safe(d, d.manager_path('export', 'e-' + tag))
    d.manager.RemoveDisk(name)


def main():
    for tool in ('qemu-nbd', 'qemu-io'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'remote.img')
        nbdtest.make_image(img, 16 * MiB, [(1 * MiB, b'\x5a' * MiB)])
        unix = ('unix', os.path.join(d.tmpdir, 'qnbd.sock'))
        with nbdremote.qemu_nbd(img, unix):
            check_disk(d, img, UNIX % unix[1], 'a',
                       ['driver="nbd"', 'export="disk0"', 'type="unix"', unix[1]])
        tcp = ('inet', nbdremote.free_port())
        with nbdremote.qemu_nbd(img, tcp):
            check_disk(d, img, TCP % tcp[1], 'b',
                       ['driver="nbd"', 'type="inet"', 'host="127.0.0.1"',
                        'port="%d"' % tcp[1]])


bgtest.run(main)
