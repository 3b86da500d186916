#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The nbd driver's errors and its connect off the loop: option mistakes are
# InvalidArgument naming the option, servers that are not there (missing
# socket, closed port, unknown export) IOError naming the node.  While an
# AddNode waits for a server that does not answer, or for one that is not
# up yet (open-timeout), the daemon keeps serving other calls.
import os
import socket
import subprocess
import time
import nbdremote
import nbdtest
from nbdtest import bgtest, MiB


def expect(d, err, xml, *words):
    try:
        d.manager.AddNode(xml)
    except bgtest.dbus.DBusException as e:
        bgtest.check(e.get_dbus_name().endswith('.' + err), '%s: got %s' % (xml, e))
        for w in words:
            bgtest.check(w in e.get_dbus_message(), '%r in %r' % (w, e.get_dbus_message()))
        return
    raise bgtest.TestFailure('AddNode(%s) succeeded' % xml)


def option_errors(d):
    node = '<blockdev driver="nbd" node-name="n0"%s>%s</blockdev>'
    expect(d, 'InvalidArgument', node % ('', '<server type="unix"/>'), 'server.path', 'n0')
    expect(d, 'InvalidArgument', node % ('', '<server type="inet"/>'), 'server.host')
    expect(d, 'InvalidArgument', node % ('', '<server type="unix" path="/x" host="h"/>'),
           'server.host')
    expect(d, 'InvalidArgument', node % ('', '<server type="unix" path="/x" port="1"/>'),
           'server.port')
    expect(d, 'InvalidArgument', node % ('', '<server type="inet" host="h" path="/x"/>'),
           'server.path')
    expect(d, 'InvalidArgument', node % ('', '<server type="vsock" path="/x"/>'), 'server.type')
    expect(d, 'InvalidArgument', node % ('', '<server type="inet" host="h" port="70000"/>'),
           'server.port')
    expect(d, 'InvalidArgument', node % ('', ''), 'server.type')
    expect(d, 'InvalidArgument',
           node % (' reconnect-delay="x"', '<server type="unix" path="/x"/>'), 'reconnect-delay')


def missing_servers(d, img):
    gone = os.path.join(d.tmpdir, 'gone.sock')
    expect(d, 'IOError', nbdremote.nbd_node_xml('n1', ('unix', gone)), 'n1', gone)
    expect(d, 'IOError', nbdremote.nbd_node_xml('n2', ('inet', nbdremote.free_port())),
           'n2', 'Connection refused')
    with nbdremote.qemu_nbd(img, ('unix', os.path.join(d.tmpdir, 'q.sock'))) as q:
        expect(d, 'IOError', nbdremote.nbd_node_xml('n3', q.addr, export='nope'), 'n3')
    for n in ('n1', 'n2', 'n3'):
        bgtest.check(n not in d.graph_xml(), '%s not added' % n)


def add_node_in_background(d, xml):
    return subprocess.Popen(['busctl', '--address=' + d.address, '--timeout=120', 'call',
                             bgtest.BUS_NAME, bgtest.ROOT_PATH, bgtest.MANAGER, 'AddNode',
                             's', xml], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def daemon_answers_while(d, proc, what):
    for _ in range(3):
        d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
        time.sleep(0.2)
    if proc.poll() is not None:
        raise bgtest.TestFailure('%s: AddNode ended early: %s' % (what, proc.communicate()))


def silent_server(d):
    """A socket that accepts connections and never says anything."""
    path = os.path.join(d.tmpdir, 'silent.sock')
    lsn = socket.socket(socket.AF_UNIX)
    lsn.bind(path)
    lsn.listen(4)
    proc = add_node_in_background(d, nbdremote.nbd_node_xml('n4', ('unix', path)))
    daemon_answers_while(d, proc, 'silent server')
    lsn.close()     # the waiting connection is reset: the handshake fails
    out, err = proc.communicate(timeout=120)
    bgtest.check(proc.returncode != 0 and "Node 'n4'" in err, 'silent server: %s' % err)


def late_server(d, img):
    """open-timeout: the server comes up after AddNode started."""
    addr = ('unix', os.path.join(d.tmpdir, 'late.sock'))
    proc = add_node_in_background(d, nbdremote.nbd_node_xml('n5', addr,
                                                             extra=' open-timeout="60"'))
    daemon_answers_while(d, proc, 'late server')
    with nbdremote.qemu_nbd(img, addr):
        out, err = proc.communicate(timeout=120)
        bgtest.check_equal(proc.returncode, 0, 'AddNode with open-timeout: %s' % err)
        bgtest.check_equal(int(d.node_props('n5')['Size']), 1 * MiB, 'late node size')
        d.manager.RemoveNode('n5')


def main():
    for tool in ('qemu-nbd', 'busctl'):
        bgtest.need_tool(tool)
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'disk.img')
        nbdtest.make_image(img, 1 * MiB)
        option_errors(d)
        missing_servers(d, img)
        silent_server(d)
        late_server(d, img)
        bgtest.check_equal(len(d.managed_objects()) > 0, True, 'daemon alive')


bgtest.run(main)
