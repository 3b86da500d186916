#!/usr/bin/python3
# AddNode / RemoveNode: the object appears and goes with InterfacesAdded /
# InterfacesRemoved, and GetManagedObjects follows.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus


def main():
    with bgtest.Daemon() as d:
        sig = d.signals()
        path = d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        bgtest.check_equal(str(path), bgtest.ROOT_PATH + '/node/n0', 'AddNode path')

        sig.wait_for(lambda items: any(i[1] == 'InterfacesAdded' for i in items))
        added = sig.named('InterfacesAdded')
        bgtest.check_equal(len(added), 1, 'InterfacesAdded count')
        obj_path, ifaces = added[0][3]
        bgtest.check_equal(str(obj_path), str(path))
        bgtest.check(bgtest.NODE in ifaces, 'InterfacesAdded without the Node interface')
        bgtest.check_equal(str(ifaces[bgtest.NODE]['NodeName']), 'n0')
        bgtest.check_equal(int(ifaces[bgtest.NODE]['Size']), 1 << 20)

        objects = d.managed_objects()
        bgtest.check(path in objects, 'GetManagedObjects lacks %s' % path)
        bgtest.check_equal(str(objects[path][bgtest.NODE]['Driver']), 'null-co')

        d.manager.RemoveNode('n0')
        sig.wait_for(lambda items: any(i[1] == 'InterfacesRemoved' for i in items))
        removed = sig.named('InterfacesRemoved')
        bgtest.check_equal(str(removed[0][3][0]), str(path))
        bgtest.check(bgtest.NODE in [str(i) for i in removed[0][3][1]],
                     'InterfacesRemoved without the Node interface')
        bgtest.check(path not in d.managed_objects(), 'node still listed after RemoveNode')
        bgtest.expect_error('org.freedesktop.DBus.Error.UnknownObject',
                            lambda: d.node_props('n0'))

        # Names with '-', '.', '_' are escaped as sd_bus_path_encode does.
        path = d.manager.AddNode('<blockdev driver="null-co" node-name="my-disk.0_x"/>')
        bgtest.check_equal(str(path), bgtest.ROOT_PATH + '/node/my_2ddisk_2e0_5fx', 'escaped path')
        bgtest.check_equal(str(d.node_props('my-disk.0_x')['NodeName']), 'my-disk.0_x')
        d.manager.RemoveNode('my-disk.0_x')

        # The name is free again.
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0"/>')
        bgtest.check_equal(int(d.node_props('n0')['Size']), 1 << 30, 'default null-co size')


bgtest.run(main)
