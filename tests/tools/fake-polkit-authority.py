#!/usr/bin/python3
# A stand-in for polkitd on a private bus, for tests of the daemon's side of
# CheckAuthorization: owns org.freedesktop.PolicyKit1, appends every
# question as one JSON line to LOG (subject kind, subject name, action,
# flags), answers "authorized" for actions in ALLOW (comma separated), never
# answers actions in HOLD, and "not authorized" for the rest.
#   fake-polkit-authority.py ADDRESS LOG ALLOW HOLD
import json
import sys

import dbus
import dbus.service
import dbus.mainloop.glib
from gi.repository import GLib

IFACE = 'org.freedesktop.PolicyKit1.Authority'


class Authority(dbus.service.Object):
    def __init__(self, bus, log, allow, hold):
        super().__init__(bus, '/org/freedesktop/PolicyKit1/Authority')
        self.log, self.allow, self.hold = log, allow, hold
        self.held = []

    @dbus.service.method(IFACE, in_signature='(sa{sv})sa{ss}us', out_signature='(bba{ss})',
                         async_callbacks=('ok', 'err'))
    def CheckAuthorization(self, subject, action, details, flags, cancel_id, ok, err):
        with open(self.log, 'a') as f:
            f.write(json.dumps({'kind': str(subject[0]),
                                'name': str(subject[1].get('name', '')),
                                'action': str(action), 'flags': int(flags)}) + '\n')
        if action in self.hold:
            self.held.append(ok)        # never answered
        else:
            ok((action in self.allow, False, {}))


def main():
    address, log, allow, hold = sys.argv[1:5]
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    authority = Authority(bus, log, allow.split(','), hold.split(','))
    name = dbus.service.BusName('org.freedesktop.PolicyKit1', bus)
    print('ready', flush=True)
    GLib.MainLoop().run()
    del authority, name


main()
