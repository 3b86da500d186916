#!/usr/bin/python3
# Manager.AddExport and Export objects on the bus: InterfacesAdded with the
# properties, PropertiesChanged for Clients, clear errors for bad snippets
# (InvalidXml, InvalidArgument, NotFound, Exists), and <export> elements in
# configuration files, applied all or nothing.
import os
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB


def export_xml(eid, node, sock, name=None, writable='on'):
    return ('<export type="nbd" id="%s" node-name="%s" name="%s" writable="%s">'
            '<server type="unix" path="%s"/></export>' % (eid, node, name or node, writable, sock))


def bus_part(d):
    img = os.path.join(d.tmpdir, 'disk.img')
    nbdtest.make_image(img, 4 * MiB)
    nbdtest.add_file_node(d, 'disk0', img)
    sock = os.path.join(d.tmpdir, 'nbd.sock')

    sig = d.signals()
    path = str(d.manager.AddExport(export_xml('e/0', 'disk0', sock)))
    bgtest.check_equal(path, d.manager_path('export', 'e/0'), 'object path encodes the id')
    sig.wait_for(lambda items: any(i[1] == 'InterfacesAdded' and str(i[3][0]) == path
                                   for i in items))
    added = [i for i in sig.named('InterfacesAdded') if str(i[3][0]) == path][0]
    props = added[3][1][bgtest.EXPORT]
    bgtest.check_equal(str(props['Id']), 'e/0')
    bgtest.check_equal(str(props['Name']), 'disk0')
    bgtest.check_equal(str(props['Uri']), 'nbd+unix:///disk0?socket=' + sock)
    bgtest.check_equal(int(props['Clients']), 0)
    bgtest.check(path in d.managed_objects(), 'GetManagedObjects lists the export')
    bgtest.check('nbd-export' in [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
                                  ['Features']], 'Features has nbd-export')

    c = nbdwire.Client(sock)
    c.go(b'disk0')

    def clients_changed(value):
        return lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                 and int(i[3][1].get('Clients', -1)) == value for i in items)
    sig.wait_for(clients_changed(1))
    c.disconnect()
    sig.wait_for(clients_changed(0))

    # a node in use by an export cannot be removed (the error names the export)
    try:
        d.manager.RemoveNode('disk0')
        raise bgtest.TestFailure('RemoveNode removed a node an export uses')
    except bgtest.dbus.exceptions.DBusException as ex:
        bgtest.check("e/0" in ex.get_dbus_message(), 'error names the export: '
                     + ex.get_dbus_message())

    bgtest.expect_error('InvalidXml', d.manager.AddExport, '<export type="nbd"')
    bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                        '<export type="nbd" id="x"><server type="unix" path="/tmp/x"/></export>')
    bgtest.expect_error('NotFound', d.manager.AddExport, export_xml('e1', 'nope', sock))
    bgtest.expect_error('Exists', d.manager.AddExport, export_xml('e/0', 'disk0', sock + '2'))
    bgtest.expect_error('Exists', d.manager.AddExport, export_xml('e2', 'disk0', sock))
    bad_dir = os.path.join(d.tmpdir, 'no', 'such', 'dir', 's.sock')
    bgtest.expect_error('NotFound', d.manager.AddExport, export_xml('e3', 'disk0', bad_dir))
    # ids and names D-Bus and NBD cannot carry are refused; the longest id
    # allowed still leaves GetManagedObjects working for everyone
    # (the XML limits may refuse the longest ones first: InvalidXml then)
    for bad in (export_xml('x' * 70000, 'disk0', sock + '4'),
                export_xml('x' * 256, 'disk0', sock + '4'),
                export_xml('e4', 'disk0', sock + '4', name='n' * 4097),
                export_xml('e4', 'disk0', sock + '4').replace(
                    ' writable', ' description="%s" writable' % ('d' * 4097), 1)):
        try:
            d.manager.AddExport(bad)
            raise bgtest.TestFailure('AddExport accepted %.60s...' % bad)
        except bgtest.dbus.exceptions.DBusException as e:
            msg = e.get_dbus_message()
            bgtest.check(e.get_dbus_name() in (bgtest.ERROR + 'InvalidArgument',
                                               bgtest.ERROR + 'InvalidXml'), e.get_dbus_name())
            bgtest.check(len(msg) < 300, 'short message: ' + msg[:300])
    e = bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                            export_xml('x' * 256, 'disk0', sock + '4'))
    bgtest.check('longer than 255 bytes' in e.get_dbus_message(), e.get_dbus_message())
    bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                        export_xml('e\x01', 'disk0', sock + '4').replace('\x01', '&#9;'))
    bgtest.check_equal(sorted(p for p in d.managed_objects() if '/export/' in str(p)), [path],
                       'failed adds leave no export behind')
    long_id = '\u00e9-' * 85     # 255 bytes, each one escaped in the object path
    long_path = str(d.manager.AddExport(export_xml(long_id, 'disk0', sock + '5',
                                                   name='n' * 4096)))
    bgtest.check(long_path in d.managed_objects(), 'GetManagedObjects with the longest id')
    bgtest.check_equal(str(d.props(long_path, bgtest.EXPORT)['Id']), long_id)
    bgtest.remove_export_safe(d, long_path)


def config_part():
    tmp = bgtest.tempfile.mkdtemp(prefix='bgtest-cfg-')
    try:
        img = os.path.join(tmp, 'disk.img')
        nbdtest.make_image(img, 2 * MiB, [(0, b'\x5c' * 4096)])
        sock = os.path.join(tmp, 'cfg.sock')
        conf = os.path.join(tmp, 'conf')
        os.mkdir(conf)
        with open(os.path.join(conf, '10-good.xml'), 'w') as f:
            f.write('<blockgraph>\n<blockdev driver="file" node-name="c0" filename="%s"/>\n%s\n'
                    '</blockgraph>\n' % (img, export_xml('ce0', 'c0', sock)))
        # all or nothing: the second export's name clashes, so the first one goes too
        with open(os.path.join(conf, '20-bad.xml'), 'w') as f:
            f.write('<blockgraph>\n<blockdev driver="file" node-name="c1" filename="%s"/>\n'
                    '%s\n%s\n</blockgraph>\n'
                    % (img, export_xml('ce1', 'c1', sock + 'b', writable='off'),
                       export_xml('ce2', 'c1', sock, name='c0', writable='off')))
        with bgtest.Daemon(config_dir=conf) as d:
            c = nbdwire.Client(sock)
            c.go(b'c0')
            bgtest.check_equal(c.read(0, 4096), (0, b'\x5c' * 4096), 'config export serves')
            c.disconnect()
            objs = [str(p) for p in d.managed_objects()]
            bgtest.check(d.manager_path('export', 'ce0') in objs, 'ce0 exported')
            bgtest.check(d.manager_path('export', 'ce1') not in objs, 'ce1 rolled back')
            bgtest.check(not os.path.exists(sock + 'b'), 'ce1 socket removed on roll-back')
            bgtest.check(d.node_path('c1') not in objs, 'c1 rolled back')
            bgtest.check('20-bad.xml' in d.stderr(), 'the failed file is named in the log')
    finally:
        bgtest.shutil.rmtree(tmp, ignore_errors=True)


def main():
    with bgtest.Daemon() as d:
        bus_part(d)
    config_part()


bgtest.run(main)
