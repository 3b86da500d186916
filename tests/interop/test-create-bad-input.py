#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Manager.CreateImage refuses bad input with an error naming the option or
# path, and creates nothing: an existing file without overwrite="on" (left
# as it was), a file a node holds open, unknown options and drivers, bad
# sizes and QEMU's option rules (cluster size, refcount bits, what needs
# version v3, backing-fmt without backing-file, preallocation with a
# backing file), a path outside <allow-path>, a missing or busy <file ref>.
# No size= and a backing file that cannot give it (no backing-fmt, missing,
# not the format named).  An existing file another process has open
# (qemu-io, read-write or read-only: its OFD locks) with overwrite="on":
# 'Failed to get "write" lock' naming the path, the file untouched.
# A creation that fails (cancelled during preallocation) removes the file it
# made, and not a file it did not make.
import os
import subprocess
import tempfile

import createtest
from createtest import refused
import jobtest
import nbdtest
from jobtest import bgtest, MiB


def check_options(d):
    img = createtest.tmp(d, 'a.qcow2')
    q = lambda size='1G', **o: createtest.snippet('qcow2', img, size, **o)  # noqa: E731
    cases = [
        (q(foo='1'), ["Unknown option 'foo'", img]),
        (q(size='1000'), ['size 1000 is not a multiple of 512', img]),
        (q(size='lots'), ["'lots'", "'size'"]),
        (q(cluster_size='1000'), ['cluster-size 1000 is not a power of two']),
        (q(cluster_size='4M'), ['cluster-size 4194304']),
        (q(cluster_size='256'), ['cluster-size 256']),
        (q(refcount_bits='3'), ['refcount-bits 3']),
        (q(refcount_bits='128'), ['refcount-bits 128']),
        (q(version='v2', refcount_bits='8'), ['refcount-bits other than 16 need version v3']),
        (q(version='v2', lazy_refcounts='on'), ['lazy-refcounts needs version v3']),
        (q(version='v2', compression_type='zstd'), ['compression-type', 'v3']),
        (q(version='v4'), ["'v4'", "'version'"]),
        (q(compression_type='lz4'), ["'lz4'", "'compression-type'"]),
        (q(backing_fmt='raw'), ['backing-fmt needs backing-file']),
        (q(backing_file='b.img', preallocation='metadata'), ['backing-file and preallocation']),
        (q(cluster_size='512', backing_file='x' * 600), ['do not fit in the first cluster']),
        (q(size='1T', cluster_size='512'), ['too large for cluster-size 512']),
        (createtest.snippet('raw', img, '1M', preallocation='metadata'),
         ["'metadata'", "'preallocation'"]),
        (createtest.snippet('vmdk', img, '1M'), ["Unknown driver 'vmdk'", 'qcow2']),
        ('<create filename="%s" size="1M"/>' % img, ["'driver'"]),
        ('<create driver="qcow2" size="1M"/>', ['filename=']),
        ('<create driver="qcow2" filename="%s"/>' % img, ["'size'"]),
        ('<create driver="qcow2" filename="%s" size="1M"><file ref="x"/></create>' % img,
         ['either filename=']),
        ('<create driver="qcow2" filename="%s" size="1M"><backing/></create>' % img,
         ['<backing>']),
    ]
    for xml, words in cases:
        refused(d, 'InvalidArgument' if '<backing/>' not in xml else 'InvalidXml', xml, *words)
        bgtest.check(not os.path.exists(img), 'nothing created for %s' % xml)


def check_existing(d):
    img = createtest.tmp(d, 'old.img')
    with open(img, 'wb') as f:
        f.write(b'keep me')
    refused(d, 'Exists', createtest.snippet('qcow2', img, '1M'), img, 'overwrite="on"')
    with open(img, 'rb') as f:
        bgtest.check_equal(f.read(), b'keep me', 'the existing file is untouched')
    nbdtest.add_file_node(d, 'held', img)
    refused(d, 'Busy', createtest.snippet('qcow2', img, '1M', overwrite='on'), img, "'held'")
    d.manager.RemoveNode('held')
    createtest.create(d, createtest.snippet('qcow2', img, '1M', overwrite='on'), 'ow0')
    jobtest.check_clean(img)


def check_size_from_backing(d):
    img = createtest.tmp(d, 'nosize.qcow2')
    raw = createtest.tmp(d, 'plain.raw')
    nbdtest.make_image(raw, MiB)
    q = '<create driver="qcow2" filename="%s" backing-file="%%s"%%s/>' % img
    for xml, err, words in [
            (q % ('plain.raw', ''), 'InvalidArgument', ["'size'", 'backing-fmt', 'plain.raw']),
            (q % ('plain.raw', ' backing-fmt="vmdk"'), 'InvalidArgument', ["'size'"]),
            (q % ('plain.raw', ' backing-fmt="qcow2"'), 'InvalidArgument',
             ['not a qcow2 image', raw]),
            (q % ('gone.qcow2', ' backing-fmt="qcow2"'), 'NotFound',
             [createtest.tmp(d, 'gone.qcow2')])]:
        refused(d, err, xml, *words)
        bgtest.check(not os.path.exists(img), 'nothing created for %s' % xml)


def hold_open(img, *flags):
    """qemu-io with img open (its OFD locks taken) until closed."""
    p = subprocess.Popen(['qemu-io', '-f', 'qcow2'] + list(flags) + [img],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write('read 0 512\n')
    p.stdin.flush()
    while 'read 512/512' not in p.stdout.readline():
        if p.poll() is not None:
            raise bgtest.TestFailure('qemu-io did not open %s' % img)
    return p


def check_other_process(d):
    img = createtest.tmp(d, 'used.qcow2')
    jobtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', img, str(MiB)])
    with open(img, 'rb') as f:
        before = f.read()
    ref = '<create driver="qcow2" size="2M"><file ref="ext"/></create>'
    for flags in ([], ['-r']):
        p = hold_open(img, *flags)
        try:
            refused(d, 'PermissionConflict', createtest.snippet('qcow2', img, '2M', overwrite='on'),
                    'Failed to get "write" lock', img)
            nbdtest.add_file_node(d, 'ext', img)  # <file ref>: the node's own locks refuse
            refused(d, 'PermissionConflict', ref, 'Failed to get "write" lock', img)
            d.manager.RemoveNode('ext')
        finally:
            p.communicate('quit\n', timeout=60)
        with open(img, 'rb') as f:
            bgtest.check(f.read() == before, 'the image in use is untouched (qemu-io %r)' % flags)
    createtest.create(d, createtest.snippet('qcow2', img, '2M', overwrite='on'), 'used0')
    bgtest.check_equal(createtest.info(img)['virtual-size'], 2 * MiB, 'created once closed')


def check_node_ref(d):
    img = createtest.tmp(d, 'node.img')
    nbdtest.make_image(img, MiB)
    nbdtest.add_file_node(d, 'store', img)
    ref = '<create driver="qcow2" size="1M"><file ref="%s"/></create>'
    refused(d, 'NotFound', ref % 'nope', "'nope'")
    d.manager.AddNode('<blockdev driver="raw" node-name="fmt"><file ref="store"/></blockdev>')
    refused(d, 'InvalidArgument', ref % 'fmt', "node 'fmt'", 'protocol node')
    nbdtest.add_export(d, 'e0', 'fmt', createtest.tmp(d, 'nbd.sock'))
    refused(d, 'Busy', ref % 'store', "'store'", 'writer')
    refused(d, 'InvalidArgument', '<create driver="file" size="1M"><file ref="store"/></create>',
            "driver 'file'")


def check_cancel_removes(d):
    img = createtest.tmp(d, 'big.raw')
    sig = d.signals()
    d.manager.CreateImage(createtest.snippet('raw', img, '2G', preallocation='full', id='big'))
    jobtest.wait_progress(d, 'big', 0.0001)
    jobtest.job(d, 'big').Pause()
    jobtest.job(d, 'big').Cancel(True)
    sig.wait_for(lambda items: any(i[1] == 'Completed' for i in items), timeout=60)
    done = sig.named('Completed')[0][3]
    bgtest.check(not bool(done[0]) and 'cancelled' in str(done[1]), 'Completed: %r' % (done,))
    bgtest.check(not os.path.exists(img), 'the partly created file was removed')
    # A file it did not make stays, cut short (overwrite says so).
    old = createtest.tmp(d, 'old.raw')
    nbdtest.make_image(old, MiB)
    d.manager.CreateImage(createtest.snippet('raw', old, '2G', preallocation='full',
                                             overwrite='on', id='big2', auto_dismiss='off'))
    jobtest.wait_progress(d, 'big2', 0.0001)
    jobtest.job(d, 'big2').Pause()
    jobtest.job(d, 'big2').Cancel(True)
    p = jobtest.wait_status(d, 'big2', 'concluded')
    bgtest.check('cancelled' in str(p['Error']), 'Error: %s' % p['Error'])
    bgtest.check(os.path.exists(old), 'a file the job did not make stays')


def check_sigterm():
    """SIGTERM during a creation: the job is cancelled, the file removed, the exit clean."""
    with bgtest.Daemon() as d:
        img = createtest.tmp(d, 'term.raw')
        d.manager.CreateImage(createtest.snippet('raw', img, '2G', preallocation='full'))
        jobtest.wait_progress(d, 'create0', 0.0001)
        d.stop()
        bgtest.check(not os.path.exists(img), 'the partly created file was removed')


def check_allow_path():
    with tempfile.TemporaryDirectory(prefix='bgtest-') as top:
        conf, allowed = os.path.join(top, 'conf'), os.path.join(top, 'allowed')
        os.mkdir(conf)
        os.mkdir(allowed)
        with open(os.path.join(conf, 'paths.xml'), 'w') as f:
            f.write('<blockgraph><allow-path>%s</allow-path></blockgraph>' % allowed)
        with bgtest.Daemon(config_dir=conf) as d:
            out = os.path.join(top, 'outside.qcow2')
            refused(d, 'AccessDenied', createtest.snippet('qcow2', out, '1M'), out)
            bgtest.check(not os.path.exists(out), 'nothing created outside')
            rel = createtest.snippet('qcow2', 'rel.qcow2', '1M')
            refused(d, 'InvalidArgument', rel, "'rel.qcow2'")
            inside = os.path.join(allowed, 'in.qcow2')
            createtest.create(d, createtest.snippet('qcow2', inside, '1M'), 'in0')
            jobtest.check_clean(inside)


def main():
    jobtest.need_qemu()
    for t in (check_options, check_existing, check_size_from_backing, check_other_process,
              check_node_ref, check_cancel_removes):
        with bgtest.Daemon() as d:
            t(d)
    check_sigterm()
    check_allow_path()


bgtest.run(main)
