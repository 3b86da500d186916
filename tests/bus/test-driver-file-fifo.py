#!/usr/bin/python3
# A `file` node opens regular files only, and never blocks the daemon on the
# way: a FIFO (opening one for reading waits for a writer) or a character
# device as `filename` is refused at once with InvalidArgument naming the
# node, the path and what it is, alone or inline under a format node, and
# the daemon keeps serving (AddNode, RemoveNode, SIGTERM) afterwards.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def refused(d, xml, node, path, what):
    # a generous deadline only turns a hang into a failure
    e = bgtest.expect_error('InvalidArgument', d.manager.AddNode, xml, timeout=10)
    msg = e.get_dbus_message()
    bgtest.check(node in msg and path in msg and what in msg and 'regular file' in msg,
                 'names node, path and type: ' + msg)


def main():
    with bgtest.Daemon() as d:
        fifo = os.path.join(d.tmpdir, 'pipe')
        os.mkfifo(fifo)
        for ro in ('off', 'on'):
            refused(d, '<blockdev driver="file" node-name="f" filename="%s" read-only="%s"/>'
                    % (fifo, ro), "'f'", fifo, 'a FIFO')
        refused(d, '<blockdev driver="raw" node-name="top"><file driver="file" '
                'node-name="low" filename="%s"/></blockdev>' % fifo, "'low'", fifo, 'a FIFO')
        refused(d, '<blockdev driver="file" node-name="c" filename="/dev/null"/>',
                "'c'", '/dev/null', 'a character device')
        # still serving, and the names are free
        img = os.path.join(d.tmpdir, 'disk.img')
        with open(img, 'wb') as f:
            f.truncate(1 << 20)
        d.manager.AddNode('<blockdev driver="file" node-name="f" filename="%s"/>' % img)
        d.manager.AddNode('<blockdev driver="raw" node-name="top"><file ref="f"/></blockdev>')
        bgtest.check_equal(int(d.node_props('top')['Size']), 1 << 20, 'Size')
        d.manager.RemoveNode('top')


bgtest.run(main)
