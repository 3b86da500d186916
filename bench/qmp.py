# SPDX-License-Identifier: LGPL-2.1-or-later
"""A minimal QMP client for the benchmarks that drive qemu-storage-daemon."""
import json
import socket
import sys


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.f = self.sock.makefile('rw')
        self.events = []
        json.loads(self.f.readline())
        self.cmd('qmp_capabilities')

    def cmd(self, name, **arguments):
        """Runs a command; events that arrive meanwhile are kept for wait_event."""
        self.f.write(json.dumps({'execute': name, 'arguments': arguments}) + '\n')
        self.f.flush()
        while True:
            msg = json.loads(self.f.readline())
            if 'event' in msg:
                self.events.append(msg)
            elif 'error' in msg:
                sys.exit('QMP %s: %s' % (name, msg['error']))
            elif 'return' in msg:
                return msg['return']

    def wait_event(self, name):
        while True:
            for e in self.events:
                if e['event'] == name:
                    self.events.remove(e)
                    return e
            self.events.append(json.loads(self.f.readline()))
