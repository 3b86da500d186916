#!/usr/bin/python3
# Unix socket exports replace nothing but a stale socket of their own kind:
# a regular file, a live socket (the D-Bus socket itself) are refused with
# Exists and left alone; a socket nobody listens on is replaced.  The socket
# gets mode 0600, or the mode and group asked for, whatever the umask; and
# removing the export unlinks the file only while it is still the socket it
# bound.
import grp
import os
import socket
import stat
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def export_xml(eid, path, extra=''):
    return ('<export type="nbd" id="%s" node-name="n0"><server type="unix" path="%s"%s/>'
            '</export>' % (eid, path, extra))


def remove(d, eid):
    d.iface(d.manager_path('export', eid), bgtest.EXPORT).Remove('hard')


def check_refusals(d):
    plain = os.path.join(d.tmpdir, 'plain')
    with open(plain, 'w') as f:
        f.write('keep me')
    e = bgtest.expect_error('Exists', d.manager.AddExport, export_xml('e1', plain))
    bgtest.check('not a socket' in e.get_dbus_message(), e.get_dbus_message())
    bgtest.check_equal(open(plain).read(), 'keep me', 'the file after the refusal')

    bus_sock = os.path.join(d.tmpdir, 'bus.sock')
    e = bgtest.expect_error('Exists', d.manager.AddExport, export_xml('e2', bus_sock))
    bgtest.check('in use' in e.get_dbus_message(), e.get_dbus_message())
    bgtest.check(stat.S_ISSOCK(os.lstat(bus_sock).st_mode), 'the bus socket is still there')
    d.manager.GetGraph('xml')       # and the bus still works


def check_stale_and_modes(d):
    stale = os.path.join(d.tmpdir, 'stale.sock')
    s = socket.socket(socket.AF_UNIX)
    s.bind(stale)
    s.close()                       # the file stays, nobody listens
    old = os.umask(0)
    try:
        d.manager.AddExport(export_xml('e3', stale))
    finally:
        os.umask(old)
    bgtest.check_equal(stat.S_IMODE(os.lstat(stale).st_mode), 0o600, 'default socket mode')
    remove(d, 'e3')
    bgtest.check(not os.path.exists(stale), 'the socket goes with its export')

    group = grp.getgrgid(os.getgid() if os.getgid() else 0)
    other = [g for g in grp.getgrall() if g.gr_gid != os.getgid()]
    if os.geteuid() == 0 and other:
        group = other[0]
    shared = os.path.join(d.tmpdir, 'shared.sock')
    d.manager.AddExport(export_xml('e4', shared, ' mode="0660" group="%s"' % group.gr_name))
    st = os.lstat(shared)
    bgtest.check_equal(stat.S_IMODE(st.st_mode), 0o660, 'asked socket mode')
    bgtest.check_equal(st.st_gid, group.gr_gid, 'socket group')
    xml = d.graph_xml()
    bgtest.check('mode="0660"' in xml and 'group="%s"' % group.gr_name in xml, xml)
    # Someone replaced the socket file: removal leaves the new file alone.
    os.rename(shared, shared + '.old')
    with open(shared, 'w') as f:
        f.write('not yours')
    remove(d, 'e4')
    bgtest.check_equal(open(shared).read(), 'not yours', 'a file that is not ours')
    bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                        export_xml('e5', shared + '2', ' mode="0777"'))
    bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                        export_xml('e6', shared + '3', ' group="no-such-group-bgtest"'))
    bgtest.check(not os.path.exists(shared + '3'), 'no socket left by a failed export')


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        check_refusals(d)
        check_stale_and_modes(d)


bgtest.run(main)
