#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl create asks Manager.Features first: against blockgraphd (no
# "create-image" yet) it says the daemon cannot create images and calls
# nothing; against a daemon that lists the feature (a stand-in here) it
# sends a <create> snippet with driver qcow2 unless told otherwise, the
# file name, size and options, and follows the job it gets back.
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import clitest
from clitest import bgtest, ok, fails


def check_refused():
    with bgtest.Daemon() as d:
        target = os.path.join(d.tmpdir, 'a.qcow2')
        fails(d, 1, "creating images is not supported by this daemon (its Manager.Features "
              "has no 'create-image')", 'create', target, '1G')
        bgtest.check(not os.path.exists(target), 'nothing created')
        fails(d, 2, "'cluster-size' is not OPTION=VALUE", 'create', target, '1G', 'cluster-size')


class Fake:
    def __init__(self, tmpdir):
        self.bus = bgtest.DBusDaemon(tmpdir)
        self.address = self.bus.address
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'fake-create-daemon.py')
        self.proc = subprocess.Popen(['/usr/bin/python3', script, self.address],
                                     stdout=subprocess.PIPE, text=True)
        bgtest.check_equal(self.proc.stdout.readline().strip(), 'ready')

    def received(self):
        return ET.fromstring(self.proc.stdout.readline())

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.bus.stop()


def check_created(tmpdir):
    fake = Fake(tmpdir)
    try:
        out = ok(fake, 'create', '/vm/a.qcow2', '20G', 'cluster-size=64K',
                 'backing-file=base.qcow2')
        got = fake.received()
        bgtest.check_equal(got.tag, 'create')
        bgtest.check_equal(got.attrib, {'driver': 'qcow2', 'filename': '/vm/a.qcow2',
                                        'size': '20G', 'cluster-size': '64K',
                                        'backing-file': 'base.qcow2'})
        bgtest.check('job create0: concluded 100%' in out, out)
        bgtest.check_equal(ok(fake, 'create', '--no-wait', '/vm/b.img', '1M', 'driver=raw'),
                           'create0\n')
        bgtest.check_equal(fake.received().attrib['driver'], 'raw')
    finally:
        fake.close()


def main():
    bgtest.need_tool('dbus-daemon')
    if bgtest.GLib is None:
        bgtest.skip('python3-gi is not installed')
    check_refused()
    import tempfile
    with tempfile.TemporaryDirectory(prefix='bgtest-') as tmpdir:
        check_created(tmpdir)


bgtest.run(main)
