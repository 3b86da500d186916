#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A stand-in for a blockgraphd, for test-cli-create: it lists "image-create"
# in Manager.Features (unless told --no-feature, as an older daemon), and its
# Manager.CreateImage(s) prints the snippet it got on stdout and returns a
# Job object that has concluded.
# Usage: fake-create-daemon.py BUS_ADDRESS [--no-feature]; prints "ready"
# once it owns the name.
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

NAME = 'org.blockgraph.BlockGraph1'
ROOT = '/org/blockgraph/BlockGraph1'
PROPS = 'org.freedesktop.DBus.Properties'


class Job(dbus.service.Object):
    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        return {'Id': 'create0', 'Type': 'create', 'Status': 'concluded',
                'CurrentProgress': dbus.UInt64(1), 'TotalProgress': dbus.UInt64(1),
                'Rate': dbus.UInt64(0), 'ExpectedEndTime': dbus.UInt64(0), 'Error': '',
                'AutoFinalize': True, 'AutoDismiss': False}

    @dbus.service.method(PROPS, in_signature='ss', out_signature='v')
    def Get(self, iface, name):
        return self.GetAll(iface)[name]


class Manager(dbus.service.Object):
    def __init__(self, bus, features):
        super().__init__(bus, ROOT)
        self.features = features
        self.job = Job(bus, ROOT + '/job/create0')

    @dbus.service.method(PROPS, in_signature='s', out_signature='a{sv}')
    def GetAll(self, iface):
        return {'Version': 'fake', 'Features': dbus.Array(self.features, signature='s')}

    @dbus.service.method(NAME + '.Manager', in_signature='s', out_signature='o')
    def CreateImage(self, xml):
        print(xml, flush=True)
        return dbus.ObjectPath(ROOT + '/job/create0')


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(sys.argv[1])
    Manager(bus, [] if '--no-feature' in sys.argv else ['image-create'])
    name = dbus.service.BusName(NAME, bus)   # noqa: F841 (kept while running)
    print('ready', flush=True)
    GLib.MainLoop().run()


main()
