#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# host_device on a loop device: the size from BLKGETSIZE64, reads and
# writes through an NBD export land in the loop's backing file, zero writes
# (BLKZEROOUT) and discards read back as zeroes; with aio=io_uring on a
# kernel >= 6.12 the discards go through the ring (BLOCK_URING_CMD_DISCARD:
# strace sees no BLKDISCARD ioctl); a regular file is refused naming the
# driver for it, as is a device by `file`; the device cannot be resized.
import os
import shutil
import subprocess
import time
import nbdtest
from nbdtest import bgtest, MiB

SIZE = 16 * MiB


def attach_loop(img):
    if os.geteuid() != 0:
        bgtest.skip('loop devices need root')
    p = subprocess.run(['losetup', '-f', '--show', img], capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        bgtest.skip('cannot create a loop device here: %s' % p.stderr.strip())
    return p.stdout.strip()


def read_file(img, offset, length):
    with open(img, 'rb') as f:
        f.seek(offset)
        return f.read(length)


def kernel_has_ring_discard():
    major, minor = (int(x) for x in os.uname().release.split('.')[:2])
    return (major, minor) >= (6, 12)


def strace_ioctls(pid):
    """strace -f on the daemon's ioctls, once every thread is attached."""
    p = subprocess.Popen(['strace', '-f', '-qq', '-e', 'trace=ioctl', '-p', str(pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # strace -qq prints nothing on attach: wait until each thread is traced
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(t['TracerPid'] == str(p.pid) for t in bgtest.thread_status(pid)):
            return p
        time.sleep(0.02)
    p.kill()
    raise bgtest.TestFailure('strace did not attach to the daemon')


def stop_strace(p):
    p.terminate()
    _, err = p.communicate(timeout=30)
    return err


def check_device(d, dev, img):
    d.manager.AddNode('<blockdev driver="host_device" node-name="hd0" filename="%s" '
                      'discard="unmap" aio="io_uring"/>' % dev)
    props = d.node_props('hd0')
    bgtest.check_equal(int(props['Size']), SIZE, 'size of the loop device')
    bgtest.check_equal(str(props['Filename']), dev)
    _, uri = nbdtest.add_export(d, 'e0', 'hd0', os.path.join(d.tmpdir, 'hd.sock'))
    nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'write -P 0x3c 0 4M', '-c', 'flush', uri])
    nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'read -P 0x3c 0 4M', uri])
    tracer = strace_ioctls(d.proc.pid) if shutil.which('strace') else None
    try:
        nbdtest.run(['qemu-io', '-f', 'raw', '-c', 'write -z 1M 1M', '-c', 'discard 2M 1M',
                     '-c', 'flush', '-c', 'read -P 0 1M 2M', '-c', 'read -P 0x3c 3M 1M', uri])
    finally:
        trace = stop_strace(tracer) if tracer else ''
    if tracer and kernel_has_ring_discard():
        bgtest.check('BLKZEROOUT' in trace, 'strace saw the zero write:\n' + trace)
        bgtest.check('BLKDISCARD' not in trace, 'the discard went through the ring:\n' + trace)
    nbdtest.run(['losetup', '-d', dev])     # the loop writes back what it holds
    data = read_file(img, 0, 4 * MiB)
    bgtest.check(data[:MiB] == b'\x3c' * MiB and data[3 * MiB:] == b'\x3c' * MiB,
                 'the data written is in the backing file')
    bgtest.check(data[MiB:3 * MiB] == bytes(2 * MiB), 'zeroed and discarded ranges read zero')
    e = bgtest.expect_error('NotSupported', d.node('hd0').Resize, bgtest.dbus.UInt64(32 * MiB))
    bgtest.check("'host_device'" in e.get_dbus_message() and 'cannot resize' in e.get_dbus_message(),
                 e.get_dbus_message())


def main():
    bgtest.need_tool('qemu-io')
    bgtest.need_tool('losetup')
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'backing.img')
        nbdtest.make_image(img, SIZE)
        e = bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                                '<blockdev driver="host_device" node-name="x" filename="%s"/>'
                                % img)
        bgtest.check('regular file' in e.get_dbus_message() and
                     'block devices only' in e.get_dbus_message(), e.get_dbus_message())
        dev = attach_loop(img)
        try:
            e = bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                                    '<blockdev driver="file" node-name="y" filename="%s"/>'
                                    % dev)
            bgtest.check('host_device' in e.get_dbus_message(), e.get_dbus_message())
            check_device(d, dev, img)
        finally:
            subprocess.run(['losetup', '-d', dev], capture_output=True)


bgtest.run(main)
