# SPDX-License-Identifier: LGPL-2.1-or-later
"""An NBD client that queues reads and never takes the replies, for the
stalled-client tests (plain and TLS): such a client must not hold the
daemon, Export.Remove('hard') answers and cuts it off, and SIGTERM exits
cleanly (the harness checks the exit) with one connected."""

import ssl
import time

import bgtest

READ = 128 * 1024
REQUESTS = 400          # 50 MiB of replies: far more than the socket buffers hold


def stall(client, cmd_read, size):
    """Queues REQUESTS reads of the first size bytes on client (past NBD_OPT_GO,
    cmd_read being NBD_CMD_READ) and reads nothing; returns client."""
    for i in range(REQUESTS):
        client.request(cmd_read, (i * READ) % size, READ)
    time.sleep(0.5)     # the daemon fills the socket and waits
    return client


def closed_after_drain(client, timeout=20):
    """True once the server closed client: whatever is buffered is read and dropped."""
    client.sock.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not client.sock.recv(1 << 20):
                return True
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True
    return False


def remove_hard(d, eid, client, what):
    """Export.Remove('hard') of export eid answers with client stalled, and cuts it off."""
    path = d.manager_path('export', eid)
    try:
        d.iface(path, bgtest.EXPORT).Remove('hard', timeout=30)
    except bgtest.dbus.exceptions.DBusException as e:
        raise bgtest.TestFailure('Remove(hard) with a %s: %s' % (what, e))
    bgtest.check(path not in d.managed_objects(), 'export %s gone' % eid)
    bgtest.check(closed_after_drain(client), '%s cut off by the hard removal' % what)


def stop_with(d, client, what):
    """SIGTERM with client stalled: a clean exit (the harness checks it), client cut off."""
    d.stop()
    bgtest.check(closed_after_drain(client), '%s cut off at shutdown' % what)
