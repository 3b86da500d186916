#!/usr/bin/python3
# Node.FailureReason: empty while a node works; when the node fails (here:
# its qcow2 header was destroyed while the node was inactive, so activation
# cannot read the image again) FailureReason says why at once, with
# PropertiesChanged, instead of leaving the reason in the log only; Driver
# turns to 'error' once no request of the old driver is in flight.
import os
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus


def main():
    bgtest.need_tool('qemu-img')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'hd.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '16M'], check=True)
        d.manager.AddNode('<blockdev driver="qcow2" node-name="hd"><file driver="file" '
                          'node-name="hd-file" filename="%s"/></blockdev>' % img)
        bgtest.check_equal(str(d.node_props('hd')['FailureReason']), '', 'a working node')
        d.node('hd').SetActive(False)
        with open(img, 'r+b') as f:
            f.write(b'\0' * 8)          # magic and version gone
        sig = d.signals()
        try:
            d.node('hd').SetActive(True)
        except dbus.exceptions.DBusException:
            pass                        # the call may report the failure too
        reason = str(d.node_props('hd')['FailureReason'])
        bgtest.check('activation' in reason and 'magic' in reason,
                     'FailureReason says why: %r' % reason)
        path = d.node_path('hd')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       and 'FailureReason' in i[3][1] for i in items))
        # A request (answered with EIO) lets the node finish switching drivers.
        bgtest.expect_error('IOError', d.node('hd').Flush)
        bgtest.check_equal(str(d.node_props('hd')['Driver']), 'error', 'Driver of the failed node')
        bgtest.check_equal(str(d.node_props('hd')['FailureReason']), reason, 'the reason stays')
        d.manager.RemoveNode('hd')


bgtest.run(main)
