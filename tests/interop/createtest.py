# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared by the CreateImage tests: create through the daemon, create the
same with qemu-img (the oracle), and compare what qemu-img sees."""

import json
import os

import jobtest
from jobtest import bgtest, run

# <create> option -> qemu-img create -o option (value mapping where needed).
QEMU_OPTION = {
    'cluster-size': 'cluster_size', 'preallocation': 'preallocation',
    'backing-file': 'backing_file', 'backing-fmt': 'backing_fmt',
    'lazy-refcounts': 'lazy_refcounts', 'refcount-bits': 'refcount_bits',
    'compression-type': 'compression_type', 'version': 'compat',
}
QEMU_VALUE = {'v2': '0.10', 'v3': '1.1'}


def snippet(driver, filename, size, **opts):
    attrs = ''.join(' %s="%s"' % (k.replace('_', '-'), v) for k, v in opts.items())
    return '<create driver="%s" filename="%s" size="%s"%s/>' % (driver, filename, size, attrs)


def create(d, xml, jid):
    """CreateImage with auto-dismiss off; waits for the end; returns the job's properties."""
    xml = xml.replace('<create ', '<create id="%s" auto-dismiss="off" ' % jid, 1)
    path = d.manager.CreateImage(xml)
    bgtest.check_equal(str(path), jobtest.job_path(d, jid))
    p = jobtest.wait_status(d, jid, 'concluded')
    bgtest.check_equal(str(p['Type']), 'create')
    bgtest.check_equal(str(p['Error']), '', 'job %s: no error' % jid)
    jobtest.job(d, jid).Dismiss()
    return p


def qemu_create(path, fmt, size, **opts):
    o = ','.join('%s=%s' % (QEMU_OPTION[k.replace('_', '-')], QEMU_VALUE.get(v, v))
                 for k, v in opts.items())
    run(['qemu-img', 'create', '-q', '-f', fmt] + (['-o', o] if o else []) + [path, str(size)])


def info(path):
    out = json.loads(run(['qemu-img', 'info', '-U', '--output=json', path]).stdout)
    for k in ('filename', 'actual-size', 'full-backing-filename'):
        out.pop(k, None)
    return out


def image_map(path, fmt, keys):
    """qemu-img map, only keys of each extent, adjacent equal extents merged."""
    out = json.loads(run(['qemu-img', 'map', '-U', '-f', fmt, '--output=json', path]).stdout)
    merged = []
    for e in out:
        e = dict({k: e.get(k) for k in keys}, start=e['start'], length=e['length'])
        last = merged[-1] if merged else None
        if last and all(last[k] == e[k] for k in keys):
            last['length'] += e['length']
        else:
            merged.append(e)
    return merged


def check_like_qemu(ours, oracle, fmt, small_clusters=False, sparse=False):
    """qemu-img check passes; info and map (but host offsets) equal the oracle's.
    Whether a cluster below the file system's block size reads as zero depends
    on its neighbours in the file: small_clusters compares allocation only.
    sparse: a raw image without preallocation, where QEMU writes the first
    block (for its O_DIRECT alignment probe) and we write nothing."""
    if fmt == 'qcow2':
        jobtest.check_clean(ours)
    bgtest.check_equal(info(ours), info(oracle), 'qemu-img info of %s' % ours)
    if sparse:
        got = image_map(ours, fmt, ('data',))
        bgtest.check(all(not e['data'] for e in got), 'nothing allocated: %r' % got)
        return
    if fmt == 'raw':    # how the file system maps fallocated blocks varies: count them
        used = os.stat(ours).st_blocks * 512
        bgtest.check(used >= os.stat(ours).st_size, '%s: %d bytes allocated' % (ours, used))
        return
    keys = ('depth', 'present', 'data') + (() if small_clusters else ('zero',))
    mine, theirs = image_map(ours, fmt, keys), image_map(oracle, fmt, keys)
    bgtest.check(mine == theirs, 'qemu-img map of %s: %.2000r != %.2000r' % (ours, mine, theirs))


def reads_pattern(path, fmt, offset, length, pattern=0):
    """qemu-io reads the pattern there."""
    p = run(['qemu-io', '-f', fmt, '-c', 'read -P %d %d %d' % (pattern, offset, length), path],
            check=False)
    bgtest.check(p.returncode == 0 and 'Pattern verification failed' not in p.stdout,
                 'qemu-io read -P %d %d %d on %s: %s%s' % (pattern, offset, length, path,
                                                             p.stdout, p.stderr))


def refused(d, error, xml, *words):
    """CreateImage(xml) fails with error naming every word, and leaves no job behind."""
    e = bgtest.expect_error(error, d.manager.CreateImage, xml)
    msg = e.get_dbus_message()
    for w in words:
        bgtest.check(w in msg, '%r not in the error: %s' % (w, msg))
    jobs = [str(p) for p in d.managed_objects() if '/job/' in str(p)]
    bgtest.check(not jobs, 'no job left: %r' % jobs)


def tmp(d, name):
    return os.path.join(d.tmpdir, name)
