#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# aio=io_uring: qemu-io writes patterns, FUA writes, write-zeroes, discards
# and flushes through an NBD export of a file node on io_uring, buffered and
# with cache.direct=on; everything reads back identical over NBD and from
# the file, and the daemon holds an io_uring.  Then the daemon runs where
# io_uring_setup fails (tests/tools/no-io-uring, seccomp): aio=io_uring is
# refused naming the node, and a node without aio falls back to the pool.
import os
import nbdtest
from nbdtest import bgtest, MiB

SIZE = 16 * MiB
WRITES = ('write -P 0xa5 0 64k', 'write -f -P 0x5a 8M 1M', 'write -P 0x17 3M 4k',
          'flush', 'write -z 1M 512k', 'discard 4M 1M', 'write -z -f 6M 64k',
          'write -P 0x33 12M 4k', 'flush')
READS = ('read -P 0xa5 0 64k', 'read -P 0x5a 8M 1M', 'read -P 0x17 3M 4k',
         'read -P 0 1M 512k', 'read -P 0 4M 1M', 'read -P 0 6M 64k', 'read -P 0x33 12M 4k')


def qemu_io(target, cmds, extra=()):
    args = ['qemu-io', '-f', 'raw'] + list(extra)
    for c in cmds:
        args += ['-c', c]
    out = nbdtest.run(args + [target]).stdout
    if 'error' in out.lower() or 'fail' in out.lower() or 'pattern' in out.lower():
        raise bgtest.TestFailure('qemu-io %r on %s: %s' % (cmds, target, out))


def fd_target(path):
    try:
        return os.readlink(path)
    except FileNotFoundError:   # closed since the listing (a worker's descriptor)
        return ''


def has_uring(d):
    fd_dir = '/proc/%d/fd' % d.proc.pid
    return any('io_uring' in fd_target(os.path.join(fd_dir, f)) for f in os.listdir(fd_dir))


def add_node(d, name, img, attrs, inner=''):
    d.manager.AddNode('<blockdev driver="file" node-name="%s" filename="%s" discard="unmap"%s%s'
                      % (name, img, attrs, '>%s</blockdev>' % inner if inner else '/>'))


def round_trip(d, name, attrs, inner=''):
    img = os.path.join(d.tmpdir, name + '.img')
    nbdtest.make_image(img, SIZE, [(0, os.urandom(SIZE))])
    add_node(d, name, img, attrs, inner)
    _, uri = nbdtest.add_export(d, name, name, os.path.join(d.tmpdir, name + '.sock'))
    qemu_io(uri, WRITES)
    qemu_io(uri, READS)
    qemu_io(img, READS, extra=('-r', '-U'))     # the same bytes in the file, without NBD
    nbdtest.run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', 'raw', img, uri])


def direct_ok(d):
    probe = os.path.join(d.tmpdir, 'probe')
    open(probe, 'w').close()
    try:
        os.close(os.open(probe, os.O_RDONLY | os.O_DIRECT))
        return True
    except OSError:
        return False


def with_uring():
    with bgtest.Daemon() as d:
        img = os.path.join(d.tmpdir, 'probe.img')
        nbdtest.make_image(img, MiB)
        try:
            add_node(d, 'probe', img, ' aio="io_uring"')
        except bgtest.dbus.exceptions.DBusException as e:
            bgtest.skip('io_uring not available here: %s' % e.get_dbus_message())
        bgtest.check(has_uring(d), 'aio=io_uring: the daemon holds an io_uring')
        round_trip(d, 'buffered', ' aio="io_uring"')
        if direct_ok(d):
            round_trip(d, 'direct', ' aio="io_uring"', '<cache direct="on"/>')


def without_uring(errno_name):
    wrapper = os.environ.get('NO_IO_URING')
    if not wrapper:
        bgtest.skip('NO_IO_URING not set (meson sets it)')
    with bgtest.Daemon(prefix=[wrapper, errno_name]) as d:
        img = os.path.join(d.tmpdir, 'refused.img')
        nbdtest.make_image(img, MiB)
        e = bgtest.expect_error('NotSupported', add_node, d, 'refused', img, ' aio="io_uring"')
        msg = e.get_dbus_message()
        bgtest.check("'refused'" in msg and 'aio=io_uring' in msg, msg)
        round_trip(d, 'fallback', '')
        bgtest.check(not has_uring(d), 'no io_uring under the filter')


def main():
    bgtest.need_tool('qemu-io')
    bgtest.need_tool('qemu-img')
    with_uring()
    without_uring('EPERM')
    without_uring('ENOSYS')


bgtest.run(main)
