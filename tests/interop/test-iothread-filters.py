#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Filters in iothreads: copy-on-read on io1 copies what it reads from the
# backing image into the top (qemu-img map), the data unchanged; a throttle
# node on io1 holds an NBD writer to its group's limits (requests wait for
# the group's timer on io1; new limits set from the bus let them go) and
# every write lands.  A throttle group's nodes share one loop: a node of
# another loop (io2, the main loop, by AddNode or by reopen) is refused
# naming the group and both loops; once the group has no node it may move.
import json
import os
import subprocess
import time
import nbdtest
from nbdtest import bgtest, MiB


def export(d, eid, node, loop):
    sock = os.path.join(d.tmpdir, eid + '.sock')
    path = d.manager.AddExport('<export type="nbd" id="%s" node-name="%s" writable="on" '
                               'iothread="%s"><server type="unix" path="%s"/></export>'
                               % (eid, node, loop, sock))
    return path, str(d.props(path, bgtest.EXPORT)['Uri'])


def top_held(top):
    out = nbdtest.run(['qemu-img', 'map', '-U', '--output=json', '-f', 'qcow2', top]).stdout
    return [(e['start'], e['length']) for e in json.loads(out) if e['depth'] == 0 and e['data']]


def check_copy_on_read(d):
    base = os.path.join(d.tmpdir, 'base.qcow2')
    top = os.path.join(d.tmpdir, 'top.qcow2')
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '16M'])
    nbdtest.run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x5a 0 8M', base])
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, top])
    d.manager.AddNode('<blockdev driver="copy-on-read" node-name="cor" iothread="io1">'
                      '<file driver="qcow2" node-name="top"><file driver="file" '
                      'node-name="top-file" filename="%s"/><backing driver="qcow2" '
                      'node-name="base"><file driver="file" node-name="base-file" '
                      'filename="%s"/><backing/></backing></file></blockdev>' % (top, base))
    path, uri = export(d, 'ecor', 'cor', 'io1')
    nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'read -P 0x5a 2M 1M', '-c', 'read -P 0 8M 1M',
                 uri])
    bgtest.remove_export_safe(d, path)
    d.node('top').Flush()
    bgtest.check_equal(top_held(top), [(2 * MiB, MiB)], 'copy-on-read copied what it read')
    ok = nbdtest.run(['qemu-io', '-f', 'qcow2', '-r', '-U', '-c', 'read -P 0x5a 0 8M',
                      '-c', 'read -P 0 8M 8M', top], check=False)
    bgtest.check(ok.returncode == 0 and 'fail' not in ok.stdout.lower(),
                 'data unchanged: ' + ok.stdout + ok.stderr)
    d.manager.RemoveNode('cor')


def throttle_node(d, name, img, loop, group='g1'):
    io = ' iothread="%s"' % loop if loop else ''
    return ('<blockdev driver="throttle" node-name="%s" throttle-group="%s"%s><file '
            'driver="file" node-name="%s-file" filename="%s"/></blockdev>'
            % (name, group, io, name, img))


def check_throttle(d):
    img = os.path.join(d.tmpdir, 't.img')
    nbdtest.make_image(img, 4 * MiB)
    d.manager.SetThrottleGroup('<throttle-group id="g1" iops-total="4"/>')
    d.manager.AddNode(throttle_node(d, 't1', img, 'io1'))
    path, uri = export(d, 'et', 't1', 'io1')
    cmds = []
    for i in range(8):
        cmds += ['-c', 'aio_write -P %d %d 4k' % (0x61 + i, i * 65536)]
    p = subprocess.Popen(['qemu-io', '-f', 'raw'] + cmds + ['-c', 'aio_flush', uri],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)         # some writes wait in the group (not asserted)
    d.manager.SetThrottleGroup('<throttle-group id="g1" iops-total="100"/>')
    out, _ = p.communicate(timeout=120)
    bgtest.check(p.returncode == 0 and 'error' not in out.lower(), 'writer: ' + out)

    # the group's nodes are in io1: io2 and the main loop are refused
    other = os.path.join(d.tmpdir, 'o.img')
    nbdtest.make_image(other, MiB)
    for loop, words in (('io2', "'io2'"), (None, "'main'")):
        e = bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                                throttle_node(d, 't2', other, loop))
        msg = e.get_dbus_message()
        bgtest.check("'g1'" in msg and "'io1'" in msg and words in msg, msg)
    d.manager.SetThrottleGroup('<throttle-group id="g2"/>')
    d.manager.AddNode(throttle_node(d, 't3', other, None, 'g2'))
    e = bgtest.expect_error('InvalidArgument', d.manager.ReopenNodes,
                            [throttle_node(d, 't3', other, None)])
    bgtest.check("'g1'" in e.get_dbus_message(), e.get_dbus_message())

    bgtest.remove_export_safe(d, path)
    d.manager.RemoveNode('t1')
    with open(img, 'rb') as f:
        for i in range(8):
            f.seek(i * 65536)
            bgtest.check(f.read(4096) == bytes([0x61 + i]) * 4096, 'write %d landed' % i)
    # g1 has no node left: the main loop's t3 may join it now
    d.manager.ReopenNodes([throttle_node(d, 't3', other, None)])
    bgtest.check_equal(str(d.node_props('t3')['Driver']), 'throttle', 't3 in g1')


def main():
    bgtest.need_tool('qemu-io')
    bgtest.need_tool('qemu-img')
    with bgtest.Daemon() as d:
        d.manager.AddIOThread('<iothread id="io1"/>')
        d.manager.AddIOThread('<iothread id="io2"/>')
        check_copy_on_read(d)
        check_throttle(d)


if __name__ == '__main__':
    bgtest.run(main)
