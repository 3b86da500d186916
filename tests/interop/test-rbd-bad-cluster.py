#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The rbd driver when the cluster does not answer: opening against a
# monitor that is not there fails within open-timeout (an error naming the
# node, not a hang), and when the OSD stops under I/O the requests fail with
# EIO within io-timeout, the node can be removed and the daemon lives on.
import os
import subprocess
import time
import nbdtest
import rbdtest
from nbdtest import bgtest, MiB
import ceph

DEADLINE = 120      # turns a hang into a failure; not a measurement


def check_no_monitor(d):
    conf = os.path.join(d.tmpdir, 'nowhere.conf')
    with open(conf, 'w') as f:
        f.write('[global]\nmon host = v1:127.0.0.1:%d\nauth client required = none\n'
                % ceph.free_port())
    start = time.monotonic()
    e = bgtest.expect_error('IOError', d.manager.AddNode,
                            '<blockdev driver="rbd" node-name="gone" conf="%s" pool="rbd" '
                            'image="img0" open-timeout="2"/>' % conf)
    msg = e.get_dbus_message()
    bgtest.check("'gone'" in msg and 'rbd/img0' in msg, 'names node and image: ' + msg)
    bgtest.check(time.monotonic() - start < DEADLINE, 'AddNode came back')
    d.manager.AddNode('<blockdev driver="null-co" node-name="alive"/>')
    d.manager.RemoveNode('alive')


def check_osd_stops(d, cl):
    cl.create_image('img0', 16 * MiB)
    # cache.direct: no librbd cache, each write goes to the OSD at once;
    # locking off: closing has fewer requests to time out.
    rbdtest.add_node(d, cl, 'r0', 'img0', 'io-timeout="3" cache.direct="on" locking="off"')
    path, uri = rbdtest.export(d, 'e0', 'r0')
    rbdtest.qemu_io(uri, 'write -P 0x11 0 1M', 'flush')
    # A client busy writing while the OSD goes away.
    # (written until a write fails: on a quiet machine 32 MiB are in before the OSD stops)
    writer = subprocess.Popen(['sh', '-c', 'for i in $(seq 200); do '
                               'out=$(qemu-io -f raw -c "write -P 0x22 0 16M" -c "write -P 0x33 0 16M" '
                               '-c flush "$1" 2>&1); echo "$out"; '
                               'case "$out" in *"Input/output error"*) break;; esac; done', 'sh', uri],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.2)
    cl.stop_osd()
    out, _ = writer.communicate(timeout=DEADLINE)
    bgtest.check('Input/output error' in out, 'writes fail with EIO: ' + out[-500:])
    p = nbdtest.run(['qemu-io', '-f', 'raw', '-r', '-c', 'read 8M 1M', uri], check=False)
    bgtest.check('Input/output error' in p.stdout + p.stderr, 'reads fail with EIO: ' + p.stdout)
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('r0')
    bgtest.check('r0' not in d.graph_xml(), 'node r0 removed')
    d.manager.AddNode('<blockdev driver="null-co" node-name="alive"/>')


def main():
    bgtest.need_tool('qemu-io')
    with ceph.Cluster() as cl:
        with bgtest.Daemon() as d:
            check_no_monitor(d)
            check_osd_stops(d, cl)


bgtest.run(main)
