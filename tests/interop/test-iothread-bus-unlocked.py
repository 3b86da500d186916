#!/usr/bin/python3
# The bus answers reads while an iothread is in a long dispatch: a null-co
# node bound to iothread io1 is exported, and a test hook
# (BLOCKGRAPHD_TEST_NULL_CO_STALL, drivers/null-co.c) holds io1's thread in
# a read until the test lets it go; the hook yields only when the main loop
# waits for io1's lock, and counts that.  Meanwhile property Gets, GetAll
# and GetManagedObjects answer while the read is still held, and none of
# them made the main loop wait for io1 (before the unlocked bus, each call
# did: one yield each).  Then the read completes.
import os
import select
import shutil
import tempfile
import time
import dbus
import nbdwire
from nbdtest import bgtest, MiB

CALLS = 10              # bus reads while io1 is held


def wait_for_file(path):
    end = time.monotonic() + 30
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise bgtest.TestFailure('the read never reached the node (%s)' % path)
        time.sleep(0.01)


def yields(stall):
    try:
        with open(stall + '.yields') as f:
            return int(f.read() or 0)
    except FileNotFoundError:
        return 0


def bus_reads(d, export_path):
    props = d.iface(d.node_path('n1'), 'org.freedesktop.DBus.Properties')
    om = d.iface(bgtest.ROOT_PATH, 'org.freedesktop.DBus.ObjectManager')
    for _ in range(CALLS - 3):
        bgtest.check_equal(int(props.Get(bgtest.NODE, 'Size')), MiB, 'Size while io1 is busy')
    bgtest.check_equal(str(props.GetAll(bgtest.NODE)['Driver']), 'null-co', 'Driver')
    bgtest.check_equal(int(d.props(export_path, bgtest.EXPORT)['Clients']), 1, 'Clients')
    objects = om.GetManagedObjects()
    bgtest.check(dbus.ObjectPath(d.node_path('n1')) in objects, 'GetManagedObjects lists n1')


def main():
    stall_dir = tempfile.mkdtemp(prefix='bgtest-stall-')
    stall = os.path.join(stall_dir, 'stall')
    os.environ['BLOCKGRAPHD_TEST_NULL_CO_STALL'] = stall
    try:
        with bgtest.Daemon() as d:
            d.manager.AddIOThread('<iothread id="io1"/>')
            d.manager.AddNode('<blockdev driver="null-co" node-name="n1" size="%d" '
                              'iothread="io1"/>' % MiB)
            sock = os.path.join(d.tmpdir, 'e1.sock')
            path = d.manager.AddExport('<export type="nbd" id="e1" node-name="n1" '
                                       'iothread="io1"><server type="unix" path="%s"/>'
                                       '</export>' % sock)
            c = nbdwire.Client(path=sock, timeout=90)
            c.go(b'n1')
            bgtest.check_equal(c.read(0, 4096), (0, bytes(4096)), 'a read before the stall')
            open(stall, 'w').close()
            try:
                c.request(nbdwire.CMD_READ, 0, 4096)
                wait_for_file(stall + '.entered')
                before = yields(stall)
                bus_reads(d, path)
                waited = yields(stall) - before
                # the read is still held: everything above answered during io1's dispatch
                held = not select.select([c.sock], [], [], 0)[0]
            finally:
                if os.path.exists(stall):
                    os.unlink(stall)
            bgtest.check(held, 'the read was still held while the bus answered')
            bgtest.check(waited < CALLS // 2, 'the main loop waited for io1 %d times for %d bus reads'
                         % (waited, CALLS))
            _, error, data, _ = c.reply(4096)
            bgtest.check_equal((error, data), (0, bytes(4096)), 'the held read')
            c.disconnect()
    finally:
        del os.environ['BLOCKGRAPHD_TEST_NULL_CO_STALL']
        shutil.rmtree(stall_dir, ignore_errors=True)


if __name__ == '__main__':
    bgtest.run(main)
