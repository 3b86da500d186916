#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# The rbd driver on a real (one-node) Ceph cluster: what an NBD client
# writes through an export of an rbd node reads back the same with `rbd
# export` and with QEMU's own rbd driver, and what QEMU writes reads back
# through the export; block status comes from the object map; a snapshot
# opens read-only (and is refused writable); Resize changes the image's
# size; AddDisk takes a libvirt <disk type='network'> of protocol rbd (with
# several <host>s, and the key of its <secret> from --secret-dir); a node
# in an iothread serves many requests at once; librbd runs write-around
# from the first write (no writethrough until a flush): with the OSD
# stopped a write completes and a flush waits until it runs again, and
# overlapping writes completed before they reached the OSD read back the
# newest data before and after the flush; an
# unknown pool or image is NotFound naming node and pool/image.
import json
import os
import select
import shutil
import signal
import tempfile
import time
import dbus
import createtest
import nbdtest
import nbdwire
import rbdtest
from nbdtest import bgtest, MiB
import ceph

SIZE = 32 * MiB


def check_driver_object(d):
    props = d.props(d.manager_path('driver', 'rbd'), bgtest.DRIVER)
    bgtest.check_equal(str(props['Kind']), 'protocol', 'Driver.Kind')
    caps = [str(c) for c in props['Capabilities']]
    for c in ('block-status', 'zero-write', 'discard', 'resize', 'locking'):
        bgtest.check(c in caps, 'capability %s in %s' % (c, caps))
    names = [str(o[0]) for o in props['Options']]
    for o in ('pool', 'namespace', 'image', 'snapshot', 'conf', 'user', 'key-file',
              'keyring', 'server.host', 'server.port', 'open-timeout', 'io-timeout'):
        bgtest.check(o in names, 'option %s in %s' % (o, names))
    feats = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
    bgtest.check('driver-rbd' in feats, 'Feature driver-rbd in %s' % feats)


def check_data(d, cl):
    cl.create_image('img0', SIZE)
    rbdtest.add_node(d, cl, 'r0', 'img0', 'discard="unmap"')
    props = d.node_props('r0')
    bgtest.check_equal(int(props['Size']), SIZE, 'Size of the rbd node')
    bgtest.check_equal(str(props['Filename']), 'rbd:rbd/img0')
    path, uri = rbdtest.export(d, 'e0', 'r0')
    rbdtest.qemu_io(uri, 'write -P 0x11 0 1M', 'write -P 0x22 5M 64k', 'write -P 0x33 12345 3000',
                    'write -z 6M 1M', 'write -P 0x44 20M 4M', 'discard 21M 1M', 'flush')
    # Ours: one hole between data, from the object map (4M objects).
    ext = json.loads(nbdtest.run(['qemu-img', 'map', '--output=json', '-f', 'raw',
                                  uri]).stdout)
    holes = [(e['start'], e['length']) for e in ext if not e['data']]
    bgtest.check((8 * MiB, 12 * MiB) in holes, 'hole 8M..20M in %r' % ext)
    rbdtest.remove_export(d, path)

    expect = os.path.join(d.tmpdir, 'expect.img')
    nbdtest.make_image(expect, SIZE, [(0, b'\x11' * MiB), (5 * MiB, b'\x22' * 65536),
                                      (12345, b'\x33' * 3000), (20 * MiB, b'\x44' * MiB),
                                      (22 * MiB, b'\x44' * 2 * MiB)])
    out = os.path.join(d.tmpdir, 'rbd-export.img')
    cl.rbd('export', 'rbd/img0', out)
    bgtest.check(nbdtest.files_equal(out, expect), '`rbd export` reads what NBD wrote')
    out2 = os.path.join(d.tmpdir, 'qemu-convert.img')
    nbdtest.run(['qemu-img', 'convert', '-U', '-f', 'raw', '-O', 'raw',
                 rbdtest.qemu_target(cl, 'img0'), out2])
    bgtest.check(nbdtest.files_equal(out2, expect), 'QEMU\'s rbd driver reads what NBD wrote')

    # The other way: QEMU writes while the node is inactive (handed over),
    # and the node reads that once active again (librbd's cache dropped).
    d.node('r0').SetActive(False)
    rbdtest.qemu_io(rbdtest.qemu_target(cl, 'img0'), 'write -P 0x55 3M 1M')
    d.node('r0').SetActive(True)
    path, uri = rbdtest.export(d, 'e0', 'r0', writable=False)
    rbdtest.qemu_io(uri, 'read -P 0x55 3M 1M', 'read -P 0x11 16k 512k', read_only=True)
    rbdtest.remove_export(d, path)


def check_snapshot(d, cl):
    with cl.image('img0') as img:
        img.create_snap('s1')
    path, uri = rbdtest.export(d, 'e0', 'r0')
    rbdtest.qemu_io(uri, 'write -P 0x66 0 1M', 'flush')
    rbdtest.remove_export(d, path)
    e = bgtest.expect_error('ReadOnly', rbdtest.add_node, d, cl, 'snap', 'img0', 'snapshot="s1"')
    msg = e.get_dbus_message()
    bgtest.check("'snap'" in msg and 'rbd/img0@s1' in msg, 'names node and snapshot: ' + msg)
    rbdtest.add_node(d, cl, 'snap', 'img0', 'snapshot="s1" read-only="on"')
    path, uri = rbdtest.export(d, 'e1', 'snap', writable=False)
    rbdtest.qemu_io(uri, 'read -P 0x11 16k 512k', read_only=True)
    rbdtest.remove_export(d, path)
    bgtest.expect_error('ReadOnly', d.manager.AddExport,
                        '<export type="nbd" id="e2" node-name="snap" writable="on">'
                        '<server type="unix" path="%s"/></export>'
                        % os.path.join(d.tmpdir, 'e2.sock'))
    d.manager.RemoveNode('snap')


def check_resize(d, cl):
    d.node('r0').Resize(dbus.UInt64(48 * MiB))
    bgtest.check_equal(int(d.node_props('r0')['Size']), 48 * MiB, 'Size after Resize')
    with cl.image('img0', read_only=True) as img:
        bgtest.check_equal(img.size(), 48 * MiB, 'image size after Resize')


def check_add_disk(d, cl):
    top = d.manager.AddDisk(
        "<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
        "<source protocol='rbd' name='rbd/img0' index='1'>"
        "<host name='127.0.0.1' port='%d'/><config file='%s'/></source>"
        "<target dev='vda' bus='virtio'/></disk>" % (cl.port, cl.conf))
    bgtest.check_equal(str(top), d.node_path('libvirt-1-format'), 'AddDisk returns the top')
    xml = d.graph_xml()
    bgtest.check('driver="rbd"' in xml and 'server' in xml, 'rbd storage node in ' + xml)
    path, uri = rbdtest.export(d, 'e3', 'libvirt-1-format', writable=False)
    rbdtest.qemu_io(uri, 'read -P 0x66 16k 512k', read_only=True)     # check_snapshot's
    rbdtest.remove_export(d, path)
    d.manager.RemoveDisk('libvirt-1-format')
    e = bgtest.expect_error('InvalidArgument', d.manager.AddDisk,
                            "<disk type='network'><source protocol='rbd' name='img0'/>"
                            "<target dev='vdb'/></disk>")
    bgtest.check('pool/image' in e.get_dbus_message(), e.get_dbus_message())


# A key in the format `ceph auth get-key` prints (auth is off on the test cluster).
KEY = 'AQCj2YpRiAe6CxAA7/ETt7Hcl9IyxyYciVs47w=='
SECRET_UUID = '5b4c3d2e-1f0a-4b9c-8d7e-6f5a4b3c2d1e'


def check_add_disk_auth(d, cl, secret_dir):
    """<auth><secret type='ceph' uuid> (here in <disk>, older libvirt's place)
    reads the key from the secret folder's <uuid>.base64; several <host>
    elements are all given to librados (the first one has no monitor)."""
    dead = ceph.free_port()
    xml = ("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
           "<auth username='admin'><secret type='ceph' uuid='%s'/></auth>"
           "<source protocol='rbd' name='rbd/img0' index='2'>"
           "<host name='127.0.0.1' port='%d'/><host name='127.0.0.1' port='%d'/>"
           "<config file='%s'/></source><target dev='vdb' bus='virtio'/></disk>"
           % (SECRET_UUID, dead, cl.port, cl.conf))
    key_file = os.path.join(secret_dir, SECRET_UUID + '.base64')
    e = bgtest.expect_error('NotFound', d.manager.AddDisk, xml)
    msg = e.get_dbus_message()
    bgtest.check(key_file in msg and 'key file' in msg, 'names the key file: ' + msg)
    with open(key_file, 'w') as f:
        f.write(KEY + '\n')
    d.manager.AddDisk(xml)
    got = d.iface(d.node_path('libvirt-2-storage'), bgtest.NODE).GetXML()
    for want in ('key-file="%s"' % key_file, 'user="admin"',
                 'host="127.0.0.1:%d,127.0.0.1:%d"' % (dead, cl.port)):
        bgtest.check(want in got, '%s in %s' % (want, got))
    path, uri = rbdtest.export(d, 'e4', 'libvirt-2-format', writable=False)
    rbdtest.qemu_io(uri, 'read -P 0x66 16k 512k', read_only=True)
    rbdtest.remove_export(d, path)
    d.manager.RemoveDisk('libvirt-2-format')


def check_iothread(d, cl):
    """An rbd node in an iothread: librbd's completions resume its requests
    there (and a main loop's request, a job's or Flush's, on the main loop);
    many requests at once, block status, resize."""
    cl.create_image('img-io', 16 * MiB)
    d.manager.AddIOThread('<iothread id="io1"/>')
    rbdtest.add_node(d, cl, 'rio', 'img-io', 'iothread="io1"')
    # A job on the main loop writes the iothread's node: woken on its own loop.
    createtest.create(d, '<create driver="raw" size="16M" preallocation="full">'
                      '<file ref="rio"/></create>', 'cio')
    sock = os.path.join(d.tmpdir, 'eio.sock')
    path = d.manager.AddExport('<export type="nbd" id="eio" node-name="rio" writable="on" '
                               'iothread="io1"><server type="unix" path="%s"/></export>' % sock)
    uri = str(d.props(path, bgtest.EXPORT)['Uri'])
    writes = ['aio_write -P %d %d 256k' % (0x40 + i % 8, i * 256 * 1024) for i in range(32)]
    rbdtest.qemu_io(uri, *writes, 'aio_flush')
    ext = json.loads(nbdtest.run(['qemu-img', 'map', '--output=json', '-f', 'raw',
                                  uri]).stdout)
    bgtest.check(any(e['data'] for e in ext), 'data in %r' % ext)
    d.node('rio').Flush()
    d.node('rio').Resize(dbus.UInt64(20 * MiB))
    reads = ['read -P %d %d 256k' % (0x40 + i % 8, i * 256 * 1024) for i in range(32)]
    rbdtest.qemu_io(uri, *reads, 'read -P 0 16M 4M', read_only=True)
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('rio')
    d.manager.RemoveIOThread('io1')
    out = os.path.join(d.tmpdir, 'rbd-export-io.img')
    cl.rbd('export', 'rbd/img-io', out)
    with open(out, 'rb') as f:
        for i in range(32):
            chunk = f.read(256 * 1024)
            bgtest.check(chunk == bytes([0x40 + i % 8]) * len(chunk), '`rbd export` chunk %d' % i)


def librbd_config(d, cl, option):
    """What the daemon's librbd runs with, from its admin socket (ceph.py
    gives each client one; the process's first cluster handle holds it)."""
    asok = os.path.join(cl.dir, 'run', 'client.admin.%d.asok' % d.proc.pid)
    out = cl.run(['ceph', '--admin-daemon', asok, 'config', 'get', option]).stdout
    return json.loads(out)[option]


def check_write_around(d, cl):
    """A write completes once sent (librbd's write-around from the first
    write): reads wait for the overlapping writes still in flight, and the
    flush for all of them."""
    bgtest.check_equal(librbd_config(d, cl, 'rbd_cache_writethrough_until_flush'), 'false',
                       'librbd write-around from the first write')
    cl.create_image('img-wa', 8 * MiB)
    rbdtest.add_node(d, cl, 'rwa', 'img-wa')
    path, uri = rbdtest.export(d, 'ewa', 'rwa')
    # Each write overlaps the one before by 64k; the last 1M write covers
    # the first 4 MiB object's end and the next object's start.
    chunks = [(i * 128 * 1024, bytes([0x60 + i]) * (192 * 1024)) for i in range(16)]
    chunks.append((3 * MiB + 512 * 1024, b'\x7f' * MiB))
    writes = ['write -P %d %d %d' % (data[0], off, len(data)) for off, data in chunks]
    reads = ['read -P %d %d 128k' % (0x60 + i, i * 128 * 1024) for i in range(15)]
    reads += ['read -P 0x6f %d 192k' % (15 * 128 * 1024), 'read -P 0x7f 3584k 1M']
    rbdtest.qemu_io(uri, *writes, *reads, 'flush', *reads)
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('rwa')
    expect = os.path.join(d.tmpdir, 'expect-wa.img')
    nbdtest.make_image(expect, 8 * MiB, chunks)
    out = os.path.join(d.tmpdir, 'rbd-export-wa.img')
    cl.rbd('export', 'rbd/img-wa', out)
    bgtest.check(nbdtest.files_equal(out, expect), '`rbd export` reads the write-around writes')


def stop_process(pid):
    """SIGSTOP, and wait until every thread has stopped: kill() returns
    once the signal is queued, and until each thread has run again to take
    it, a busy machine leaves the process time to answer what comes."""
    os.kill(pid, signal.SIGSTOP)
    end = time.monotonic() + 30
    while True:
        states = [t['State'] for t in bgtest.thread_status(pid)]
        if all(st[0] in 'Tt' for st in states):
            return
        if time.monotonic() > end:
            raise bgtest.TestFailure('process %d did not stop: thread states %s' % (pid, states))
        time.sleep(0.005)


def check_ack_before_commit(d, cl):
    """What write-around from the first write means for a client: with the
    OSD stopped (SIGSTOP: it holds its connections but answers nothing), a
    write is acknowledged, and the flush is not until the OSD runs again.
    No flush comes before (QEMU's librbd would still be in write-through:
    the write would wait for the OSD until io-timeout, then fail).  The
    write goes to an object that exists, once the node holds the exclusive
    lock: nothing else in librbd waits for the OSD first."""
    cl.create_image('img-ack', 8 * MiB)
    rbdtest.add_node(d, cl, 'rack', 'img-ack', 'io-timeout="20"')
    path, _ = rbdtest.export(d, 'eack', 'rack')
    c = nbdwire.Client(path=os.path.join(d.tmpdir, 'eack.sock'), timeout=120)
    c.go(b'rack')
    bgtest.check_equal(c.write(0, b'\x11' * 4096), 0, 'a first write (takes the lock)')
    osd = cl.procs['osd.0'].pid
    stop_process(osd)
    try:
        bgtest.check_equal(c.write(4096, b'\x5a' * 4096), 0,
                           'a write acknowledged while the OSD is stopped')
        c.request(nbdwire.CMD_FLUSH)
        # The flush cannot finish while the OSD is stopped: no reply may
        # come (a second's look; a wrong reply would come at once).
        ready, _, _ = select.select([c.sock], [], [], 1.0)
        if ready:
            try:
                got = 'reply (cookie, error, ...) %r' % (c.reply(),)
            except Exception as e:      # what came is not a reply: say what it was
                got = repr(e)
            bgtest.check(False, 'no flush reply while the OSD is stopped: got %s' % got)
    finally:
        os.kill(osd, signal.SIGCONT)
    bgtest.check_equal(c.reply()[1], 0, 'the flush once the OSD runs again')
    error, back = c.read(0, 8192)
    bgtest.check(error == 0 and back == b'\x11' * 4096 + b'\x5a' * 4096,
                 'the acknowledged writes read back')
    c.disconnect()
    rbdtest.remove_export(d, path)
    d.manager.RemoveNode('rack')


def check_not_found(d, cl):
    e = bgtest.expect_error('NotFound', d.manager.AddNode,
                            '<blockdev driver="rbd" node-name="bad" conf="%s" pool="nopool" '
                            'image="img0"/>' % cl.conf)
    msg = e.get_dbus_message()
    bgtest.check("'bad'" in msg and 'nopool' in msg, 'names node and pool: ' + msg)
    e = bgtest.expect_error('NotFound', rbdtest.add_node, d, cl, 'bad', 'noimage')
    msg = e.get_dbus_message()
    bgtest.check("'bad'" in msg and 'rbd/noimage' in msg, 'names node and image: ' + msg)


def main():
    rbdtest.need_qemu_rbd()
    secret_dir = tempfile.mkdtemp(prefix='bgsecrets-')
    with ceph.Cluster() as cl, bgtest.Daemon(args=['--secret-dir', secret_dir]) as d:
        try:
            check_driver_object(d)
            check_data(d, cl)
            check_snapshot(d, cl)
            check_resize(d, cl)
            check_add_disk(d, cl)
            check_add_disk_auth(d, cl, secret_dir)
            check_iothread(d, cl)
            check_write_around(d, cl)
            check_ack_before_commit(d, cl)
            check_not_found(d, cl)
            d.manager.RemoveNode('r0')
        finally:
            shutil.rmtree(secret_dir, ignore_errors=True)


bgtest.run(main)
