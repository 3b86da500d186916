#!/usr/bin/python3
# Export.Remove: 'safe' refuses while a client is connected (Busy, naming
# the count); 'hard' disconnects the client, and every write it got an
# acknowledgement for is in the image; the object goes away with
# InterfacesRemoved and the socket stops accepting.  With no clients, 'safe'
# removes.  Removing the export lets RemoveNode remove the node.  SIGTERM
# with a client still connected shuts down cleanly and keeps its writes.
import os
import socket
import nbdtest
import nbdwire
from nbdtest import bgtest, MiB


def main():
    with bgtest.Daemon() as d:
        img, uri, sock = nbdtest.setup(d, 8 * MiB)
        path = d.manager_path('export', 'e0')
        exp = d.iface(path, bgtest.EXPORT)

        c = nbdwire.Client(sock)
        c.go(b'disk0')
        bgtest.check_equal(c.write(0, b'\x61' * 65536), 0)
        e = bgtest.expect_error('Busy', exp.Remove, 'safe')
        bgtest.check('1 connected client' in e.get_dbus_message(), e.get_dbus_message())
        bgtest.expect_error('InvalidArgument', exp.Remove, 'gently')

        # requests in flight when the hard removal comes: each one that gets a
        # reply is on disk afterwards
        payload = os.urandom(MiB)
        cookies = [c.request(nbdwire.CMD_WRITE, MiB + i * MiB, MiB, 0, payload)
                   for i in range(4)]
        sig = d.signals()
        exp.Remove('hard')
        acked = []
        try:
            for _ in cookies:
                cookie, err, _, _ = c.reply()
                if err == 0:
                    acked.append(cookie)
        except (nbdwire.Closed, ConnectionResetError):
            pass
        bgtest.check(c.is_closed(), 'client disconnected by hard removal')
        with open(img, 'rb') as f:
            bgtest.check_equal(f.read(65536), b'\x61' * 65536, 'acknowledged write kept')
            for cookie in acked:
                f.seek(MiB + cookies.index(cookie) * MiB)
                bgtest.check(f.read(MiB) == payload, 'acknowledged in-flight write kept')
        sig.wait_for(lambda items: any(i[1] == 'InterfacesRemoved' and str(i[3][0]) == path
                                       for i in items))
        bgtest.check(path not in d.managed_objects(), 'export object gone')
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.close()
            raise bgtest.TestFailure('socket still accepts after removal')
        except (FileNotFoundError, ConnectionRefusedError):
            pass

        # safe removal without clients
        path, uri = nbdtest.add_export(d, 'e1', 'disk0', sock)
        c = nbdwire.Client(sock)
        c.go(b'disk0')
        c.disconnect()
        sig.wait_for(lambda _: int(nbdtest.export_props(d, 'e1')['Clients']) == 0)
        d.iface(path, bgtest.EXPORT).Remove('safe')
        bgtest.check(path not in d.managed_objects(), 'e1 gone')
        d.manager.RemoveNode('disk0')

        # SIGTERM while a client is connected (the harness checks a clean exit)
        nbdtest.add_file_node(d, 'disk1', img)
        nbdtest.add_export(d, 'e2', 'disk1', sock)
        last = nbdwire.Client(sock)
        last.go(b'disk1')
        bgtest.check_equal(last.write(7 * MiB, b'\x77' * 4096), 0)
        d.stop()
        bgtest.check(last.is_closed(), 'client disconnected at shutdown')
        with open(img, 'rb') as f:
            f.seek(7 * MiB)
            bgtest.check(f.read(4096) == b'\x77' * 4096, 'write before SIGTERM kept')


bgtest.run(main)
