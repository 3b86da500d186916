#!/usr/bin/python3
# Iothreads: two nodes bound to two iothreads (one declared in the
# configuration, one added with AddIOThread), an export of each served
# concurrently by qemu-io writers and checked byte for byte; a reopen, an
# AddNode / RemoveNode and an export removal while the iothreads serve I/O;
# the errors for an unknown iothread, a mismatched export, a driver that
# cannot run in an iothread, a child in another loop and a busy iothread.
import os
import subprocess
import tempfile
import time
import nbdtest
from nbdtest import bgtest, MiB

SPAN = 8 * MiB


def writer(uri, pattern):
    cmds = []
    for off in range(0, SPAN, 256 * 1024):
        cmds += ['-c', 'aio_write -P %d %d 256k' % (pattern, off)]
    cmds += ['-c', 'aio_flush']
    return subprocess.Popen(['qemu-io', '-f', 'raw'] + cmds + [uri], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def reader(uri, pattern):
    return subprocess.Popen(['qemu-io', '-f', 'raw', '-r', '-c',
                             'read -P %d 0 %d' % (pattern, SPAN), uri],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(p, what):
    out, _ = p.communicate(timeout=120)
    bgtest.check(p.returncode == 0 and 'error' not in out.lower() and
                 'fail' not in out.lower(), '%s: %s' % (what, out))


def add(d, node, img, iothread, eid):
    nbdtest.make_image(img, SPAN)
    d.manager.AddNode('<blockdev driver="raw" node-name="%s" iothread="%s">'
                      '<file driver="file" node-name="%s-file" filename="%s"/></blockdev>'
                      % (node, iothread, node, img))
    sock = os.path.join(d.tmpdir, eid + '.sock')
    xml = ('<export type="nbd" id="%s" node-name="%s" writable="on" iothread="%s">'
           '<server type="unix" path="%s"/></export>' % (eid, node, iothread, sock))
    path = d.manager.AddExport(xml)
    return str(d.props(path, bgtest.EXPORT)['Uri'])


def thread_names(d):
    task = '/proc/%d/task' % d.proc.pid
    names = []
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, 'comm')) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def check_errors(d, img):
    bgtest.expect_error('NotFound', d.manager.AddNode,
                        '<blockdev driver="file" node-name="x" filename="%s" iothread="nope"/>'
                        % img)
    bgtest.expect_error('NotSupported', d.manager.AddNode,
                        '<blockdev driver="error" node-name="t" iothread="io1" size="1M"/>')
    bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                        '<blockdev driver="raw" node-name="r" iothread="io2">'
                        '<file ref="d1"/></blockdev>')
    bgtest.expect_error('InvalidArgument', d.manager.AddExport,
                        '<export type="nbd" id="bad" node-name="d1" iothread="io2">'
                        '<server type="unix" path="%s"/></export>'
                        % os.path.join(d.tmpdir, 'bad.sock'))
    bgtest.expect_error('Busy', d.manager.RemoveIOThread, 'io1')
    bgtest.expect_error('NotFound', d.manager.RemoveIOThread, 'nope')
    bgtest.expect_error('Exists', d.manager.AddIOThread, '<iothread id="io1"/>')
    bgtest.expect_error('InvalidXml', d.manager.AddIOThread, '<iothread name="x"/>')


def main():
    bgtest.need_tool('qemu-io')
    conf = tempfile.mkdtemp(prefix='bgtest-iothread-conf-')
    with open(os.path.join(conf, '10-io.xml'), 'w') as f:
        f.write('<blockgraph><iothread id="io1"/></blockgraph>\n')
    try:
        run(conf)
    finally:
        os.unlink(os.path.join(conf, '10-io.xml'))
        os.rmdir(conf)


def run(conf):
    with bgtest.Daemon(config_dir=conf) as d:
        d.manager.AddIOThread('<iothread id="io2"/>')
        bgtest.check_equal([str(i) for i in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
                            ['IOThreads']], ['io1', 'io2'], 'IOThreads')
        names = thread_names(d)
        bgtest.check('io-io1' in names and 'io-io2' in names, 'iothread threads: %r' % names)
        img1, img2 = os.path.join(d.tmpdir, 'a.img'), os.path.join(d.tmpdir, 'b.img')
        uri1 = add(d, 'd1', img1, 'io1', 'e1')
        uri2 = add(d, 'd2', img2, 'io2', 'e2')
        check_errors(d, img1)

        # both iothreads serve writers at once; meanwhile graph changes on the main loop
        procs = [writer(uri1, 0x51), writer(uri2, 0x52)]
        d.manager.ReopenNodes(['<blockdev driver="file" node-name="d1-file" filename="%s" '
                               'iothread="io1" discard="unmap"/>' % img1])
        extra = os.path.join(d.tmpdir, 'c.img')
        nbdtest.make_image(extra, MiB)
        d.manager.AddNode('<blockdev driver="file" node-name="d3" filename="%s" '
                          'iothread="io2"/>' % extra)
        d.manager.RemoveNode('d3')
        for p, what in zip(procs, ('writer io1', 'writer io2')):
            finish(p, what)
        procs = [reader(uri1, 0x51), reader(uri2, 0x52)]
        for p, what in zip(procs, ('reader io1', 'reader io2')):
            finish(p, what)
        for img, pattern in ((img1, 0x51), (img2, 0x52)):
            with open(img, 'rb') as f:
                bgtest.check(f.read() == bytes([pattern]) * SPAN, '%s holds its pattern' % img)

        # an export removed (hard) while its iothread serves a writer: no write is lost
        p = writer(uri2, 0x53)
        d.iface(d.manager_path('export', 'e2'), bgtest.EXPORT).Remove('hard')
        p.communicate(timeout=120)
        d.manager.RemoveNode('d2')
        d.manager.RemoveIOThread('io2')
        bgtest.check_equal([str(i) for i in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
                            ['IOThreads']], ['io1'], 'IOThreads after RemoveIOThread')
        end = time.monotonic() + 10
        while 'io-io2' in thread_names(d) and time.monotonic() < end:
            time.sleep(0.05)    # joined, but the kernel may list it a moment longer
        bgtest.check('io-io2' not in thread_names(d), 'io2 thread ended')
        finish(reader(uri1, 0x51), 'reader io1 after io2 went')


bgtest.run(main)
