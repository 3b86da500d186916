#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl create asks Manager.Features first: against a daemon without
# "image-create" (a stand-in for an older one) it says the daemon cannot
# create images and calls nothing; against one that lists the feature it
# sends a <create> snippet with driver qcow2 unless told otherwise, the file
# name, size (left out with a backing file, whose size the image takes) and
# options, and follows the job it gets back.  Against
# blockgraphd the image is made (qemu-img check and info agree), and bad
# input fails with the daemon's error, nothing made.
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import clitest
from clitest import bgtest, ok, fails


def check_real():
    with bgtest.Daemon() as d:
        target = os.path.join(d.tmpdir, 'a.qcow2')
        out = ok(d, 'create', target, '64M', 'cluster-size=4K', 'lazy-refcounts=on')
        bgtest.check('concluded' in out, out)
        jobs = [str(p) for p in d.managed_objects() if '/job/' in str(p)]
        bgtest.check(not jobs, 'bgctl dismissed the job it followed: %r' % jobs)
        info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', target],
                                         capture_output=True, text=True, check=True).stdout)
        bgtest.check_equal((info['virtual-size'], info['cluster-size'],
                            info['format-specific']['data']['lazy-refcounts']),
                           (64 << 20, 4096, True))
        subprocess.run(['qemu-img', 'check', target], capture_output=True, check=True)
        fails(d, 1, 'the file exists', 'create', target, '64M')
        raw = os.path.join(d.tmpdir, 'b.img')
        fails(d, 1, 'cluster-size 1000', 'create', raw, '1M', 'cluster-size=1000')
        bgtest.check(not os.path.exists(raw), 'nothing created')
        ok(d, 'create', raw, '1M', 'driver=raw')
        bgtest.check_equal(os.path.getsize(raw), 1 << 20)
        fails(d, 2, "'cluster-size' is not OPTION=VALUE", 'create', target, '1G', 'cluster-size')
        check_size_from_backing(d, target)


def check_size_from_backing(d, base):
    """Without SIZE the overlay takes its backing file's size (issue 12)."""
    top = os.path.join(d.tmpdir, 'top.qcow2')
    ok(d, 'create', top, 'backing-file=' + base, 'backing-fmt=qcow2')
    info = json.loads(subprocess.run(['qemu-img', 'info', '--output=json', top],
                                     capture_output=True, text=True, check=True).stdout)
    bgtest.check_equal((info['virtual-size'], info['backing-filename']), (64 << 20, base))
    other = os.path.join(d.tmpdir, 'other.qcow2')
    fails(d, 2, "'create' needs SIZE unless backing-file=FILE gives it", 'create', other,
          'cluster-size=64K')
    bgtest.check(not os.path.exists(other), 'nothing created')


def check_refused(tmpdir):
    fake = Fake(tmpdir, '--no-feature')
    try:
        fails(fake, 1, "creating images is not supported by this daemon (its Manager.Features "
              "has no 'image-create')", 'create', '/vm/a.qcow2', '1G')
    finally:
        fake.close()


class Fake:
    def __init__(self, tmpdir, *args):
        self.bus = bgtest.DBusDaemon(tmpdir)
        self.address = self.bus.address
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              'fake-create-daemon.py')
        self.proc = subprocess.Popen(['/usr/bin/python3', script, self.address] + list(args),
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
                                        'backing-file': 'base.qcow2', 'auto-dismiss': 'off'})
        bgtest.check('job create0: concluded 100%' in out, out)
        bgtest.check_equal(ok(fake, 'create', '--no-wait', '/vm/b.img', '1M', 'driver=raw'),
                           'create0\n')
        got = fake.received().attrib
        bgtest.check_equal((got['driver'], 'auto-dismiss' in got), ('raw', False),
                           '--no-wait leaves auto-dismiss alone')
        ok(fake, 'create', '--no-wait', '/vm/c.qcow2', 'backing-file=a.qcow2')
        bgtest.check_equal(fake.received().attrib,
                           {'driver': 'qcow2', 'filename': '/vm/c.qcow2',
                            'backing-file': 'a.qcow2'}, 'no size without SIZE')
    finally:
        fake.close()


def main():
    bgtest.need_tool('dbus-daemon')
    if bgtest.GLib is None:
        bgtest.skip('python3-gi is not installed')
    bgtest.need_tool('qemu-img')
    check_real()
    import tempfile
    with tempfile.TemporaryDirectory(prefix='bgtest-') as tmpdir:
        check_refused(tmpdir)
    with tempfile.TemporaryDirectory(prefix='bgtest-') as tmpdir:
        check_created(tmpdir)


bgtest.run(main)
