#!/usr/bin/python3
# Node.Flush and Node.Resize on a file node: Resize changes the image file's
# size on disk and the Size property (with PropertiesChanged); a read-only
# node refuses; errors leave the file alone.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus

MiB = 1 << 20


def main():
    with bgtest.Daemon() as d:
        if d.manager_path('driver', 'file') not in d.managed_objects():
            bgtest.skip('this build has no file driver')
        img = os.path.join(d.tmpdir, 'disk.raw')
        with open(img, 'wb') as f:
            f.write(b'\xab' * MiB)
        d.manager.AddNode('<blockdev driver="file" node-name="f0" filename="%s"/>' % img)
        p = d.node_props('f0')
        bgtest.check_equal(int(p['Size']), MiB, 'Size')
        bgtest.check_equal(str(p['Filename']), img, 'Filename')

        node = d.node('f0')
        node.Flush()

        sig = d.signals()
        node.Resize(dbus.UInt64(4 * MiB))
        bgtest.check_equal(os.stat(img).st_size, 4 * MiB, 'file size after Resize')
        bgtest.check_equal(int(d.node_props('f0')['Size']), 4 * MiB, 'Size after Resize')
        sig.wait_for(lambda items: any(
            i[1] == 'PropertiesChanged' and str(i[2]) == d.node_path('f0')
            and 'Size' in i[3][1] for i in items))
        change = [i for i in sig.named('PropertiesChanged') if 'Size' in i[3][1]][0]
        bgtest.check_equal(int(change[3][1]['Size']), 4 * MiB, 'PropertiesChanged Size')
        with open(img, 'rb') as f:
            data = f.read()
        bgtest.check_equal(data[:MiB], b'\xab' * MiB, 'old data kept')
        bgtest.check_equal(data[MiB:], bytes(3 * MiB), 'grown part reads zeroes')

        # Shrinking works for the file driver too (as QEMU's block_resize).
        node.Resize(dbus.UInt64(2 * MiB))
        bgtest.check_equal(os.stat(img).st_size, 2 * MiB, 'file size after shrinking')
        node.Flush()

        d.manager.RemoveNode('f0')
        d.manager.AddNode('<blockdev driver="file" node-name="r0" read-only="on" '
                          'filename="%s"/>' % img)
        try:
            d.node('r0').Resize(dbus.UInt64(8 * MiB))
        except dbus.exceptions.DBusException as e:
            bgtest.check(e.get_dbus_name().startswith(bgtest.ERROR), e.get_dbus_name())
            bgtest.check('r0' in e.get_dbus_message(), 'error names the node: %s'
                         % e.get_dbus_message())
        else:
            raise bgtest.TestFailure('Resize of a read-only node succeeded')
        bgtest.check_equal(os.stat(img).st_size, 2 * MiB, 'read-only file size unchanged')
        bgtest.check_equal(int(d.node_props('r0')['Size']), 2 * MiB, 'read-only Size')


bgtest.run(main)
