#!/usr/bin/python3
# Reopening a qcow2 node together with its inline file node (Node.Reopen with
# the inline <file>, or ReopenNodes with both nodes' GetXML) answers: the
# qcow2 driver's own writes to its file pass the reopen's drain of that file,
# other calls keep answering and SIGTERM still ends the daemon.
import os
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

CALL_TIMEOUT = 20   # a hang becomes a failure, not a stuck suite


def main():
    bgtest.need_tool('qemu-img')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'd.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, '4M'], check=True)
        inline = ('<blockdev driver="qcow2" node-name="d"><file driver="file" node-name="df" '
                  'filename="%s"/></blockdev>' % img)
        d.manager.AddNode(inline)
        d.node('d').Reopen(inline, timeout=CALL_TIMEOUT)
        bgtest.check_equal(bool(d.node_props('d')['Writable']), True, 'Writable after Reopen')

        both = [str(d.node('d').GetXML()), str(d.node('df').GetXML())]
        d.manager.ReopenNodes(both, timeout=CALL_TIMEOUT)
        d.manager.ReopenNodes(list(reversed(both)), timeout=CALL_TIMEOUT)
        # Going read-only writes the header (clean bit) through the drained file.
        d.node('d').Reopen(inline.replace('node-name="d"', 'node-name="d" read-only="on"'),
                           timeout=CALL_TIMEOUT)
        bgtest.check_equal(bool(d.node_props('d')['Writable']), False, 'Writable after read-only')
        d.node('d').Reopen(inline, timeout=CALL_TIMEOUT)
        d.node('d').Flush(timeout=CALL_TIMEOUT)
        d.stop()
        check = subprocess.run(['qemu-img', 'check', img], capture_output=True, text=True)
        bgtest.check_equal(check.returncode, 0, 'qemu-img check: ' + check.stdout + check.stderr)


bgtest.run(main)
