#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# copy-on-read (AddDisk with <driver copy_on_read='on'>): data read through
# the filter that came from the backing image is written into the top
# image, so qemu-img map shows the top allocated where it was read, and
# only there (as in QEMU, not where no layer holds data: that reads as
# zeroes anyway); the guest-visible content does not change.
import json
import os
import nbdtest
from nbdtest import bgtest, MiB

DISK = '''<disk type='file' device='disk'>
  <driver name='qemu' type='qcow2' copy_on_read='on'/>
  <source file='%(top)s'/>
  <backingStore type='file'>
    <format type='qcow2'/>
    <source file='%(base)s'/>
    <backingStore/>
  </backingStore>
  <target dev='vda'/>
</disk>'''


def top_extents(top):
    """The guest ranges the top image itself holds, adjacent ones merged."""
    out = nbdtest.run(['qemu-img', 'map', '--output=json', '-f', 'qcow2', top]).stdout
    merged = []
    for e in json.loads(out):
        if e['depth'] != 0:
            continue
        if merged and merged[-1][0] + merged[-1][1] == e['start']:
            merged[-1] = (merged[-1][0], merged[-1][1] + e['length'])
        else:
            merged.append((e['start'], e['length']))
    return merged


def main():
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        base = os.path.join(d.tmpdir, 'base.qcow2')
        top = os.path.join(d.tmpdir, 'top.qcow2')
        nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '16M'])
        nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 0 8M', base])
        nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, top])
        bgtest.check_equal(top_extents(top), [], 'the top starts empty')

        d.manager.AddDisk(DISK % {'top': top, 'base': base})
        bgtest.check_equal(str(d.node_props('libvirt-CoR-vda')['Driver']), 'copy-on-read')
        sock = os.path.join(d.tmpdir, 'vda.sock')
        _, uri = nbdtest.add_export(d, 'vda', 'libvirt-CoR-vda', sock)
        # Backing data (2M, 7M), what no layer holds (8M), and one read across
        # both kinds (6M-10M).
        nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'read -P 0x5a 2M 1M',
                     '-c', 'read -P 0x5a 7M 1M', '-c', 'read -P 0 8M 1M',
                     '-c', 'read 6M 4M', uri])
        bgtest.remove_export_safe(d, d.manager_path('export', 'vda'))
        d.manager.RemoveDisk('libvirt-CoR-vda')

        bgtest.check_equal(top_extents(top), [(2 * MiB, MiB), (6 * MiB, 2 * MiB)],
                           'the top holds exactly what was read')
        nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'read -P 0x5a 0 8M',
                     '-c', 'read -P 0 8M 8M', top])
        nbdtest.run(['qemu-img', 'check', '-q', top])


bgtest.run(main)
