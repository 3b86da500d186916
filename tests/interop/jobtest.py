# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared set-up for the job tests: qcow2 chains written with qemu-io,
nodes named per layer, and waiting for a job's state."""

import os
import signal
import time

import nbdtest
from nbdtest import bgtest, run

MiB = 1 << 20
JOB = 'org.blockgraph.BlockGraph1.Job'


def need_qemu():
    bgtest.need_tool('qemu-img')
    bgtest.need_tool('qemu-io')


def make_chain(d, layers, size=16 * MiB, writes=None):
    """qcow2 images layers[0] (the base) .. layers[-1] (the top), each backed
    by the one before; writes: {layer: ['write -P 0x11 0 1M', ...]}.
    Returns {layer: path}."""
    paths = {}
    below = None
    for name in layers:
        p = os.path.join(d.tmpdir, name + '.qcow2')
        cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
        if below:
            cmd += ['-b', paths[below], '-F', 'qcow2']
        run(cmd + [p, str(size)])
        for w in (writes or {}).get(name, []):
            run(['qemu-io', '-f', 'qcow2', '-c', w, p])
        paths[name] = p
        below = name
    return paths


def add_chain(d, layers, paths, read_only=(), iothread=None):
    """AddNode per layer, base first: '<name>' over file '<name>-file'
    (bound to iothread when given)."""
    below = None
    io = ' iothread="%s"' % iothread if iothread else ''
    for name in layers:
        ro = ' read-only="on"' if name in read_only else ''
        backing = '<backing ref="%s"/>' % below if below else '<backing/>'
        d.manager.AddNode('<blockdev driver="qcow2" node-name="%s"%s%s>'
                          '<file driver="file" node-name="%s-file" filename="%s"%s/>%s'
                          '</blockdev>' % (name, ro, io, name, paths[name], ro, backing))
        below = name


def reference(d, top_path, name='ref.raw'):
    """What the guest sees through top, as a raw file."""
    ref = os.path.join(d.tmpdir, name)
    run(['qemu-img', 'convert', '-U', '-O', 'raw', top_path, ref])
    return ref


def reference_commit(d, paths, layers, sub='ref', guest_writes=()):
    """Copies of layers (base first, each backed by the one before), the
    guest's writes (pattern, offset, length) applied to the top copy with
    qemu-io, then `qemu-img commit` of the top into the first; returns the
    base copy."""
    import shutil
    ref = os.path.join(d.tmpdir, sub)
    os.makedirs(ref)
    below = None
    for name in layers:
        dst = os.path.join(ref, name + '.qcow2')
        shutil.copyfile(paths[name], dst)
        if below:
            run(['qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', below, '-F', 'qcow2', dst])
        below = dst
    for pattern, off, length in guest_writes:
        run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x%02x %d %d' % (pattern, off, length),
             below])
    run(['qemu-img', 'commit', '-q', '-b', os.path.join(ref, layers[0] + '.qcow2'), below])
    return os.path.join(ref, layers[0] + '.qcow2')


def job_path(d, jid):
    return d.manager_path('job', jid)


def job_props(d, jid):
    return d.props(job_path(d, jid), JOB)


def job(d, jid):
    return d.iface(job_path(d, jid), JOB)


def wait_status(d, jid, statuses, timeout=60.0):
    """Polls until the job's Status is one of statuses; returns its properties."""
    if isinstance(statuses, str):
        statuses = (statuses,)
    end = time.monotonic() + timeout
    while True:
        p = job_props(d, jid)
        if str(p['Status']) in statuses:
            return p
        if time.monotonic() > end:
            raise bgtest.TestFailure('job %s still %s (waiting for %s): %s'
                                     % (jid, p['Status'], statuses, dict(p)))
        time.sleep(0.02)


def compare(a, b, fmt_b='qcow2'):
    """qemu-img compare (raw a against b); True when the guest data is equal."""
    p = run(['qemu-img', 'compare', '-U', '-f', 'raw', '-F', fmt_b, a, b], check=False)
    return p.returncode == 0, p.stdout + p.stderr


def backing_of(path):
    import json
    info = json.loads(run(['qemu-img', 'info', '-U', '--output=json', path]).stdout)
    return info.get('backing-filename'), info.get('backing-filename-format')


def allocated_ranges(path):
    """[(start, length)] that the image itself holds (depth 0 in qemu-img map)."""
    import json
    out = json.loads(run(['qemu-img', 'map', '-U', '--output=json', path]).stdout)
    return [(e['start'], e['length']) for e in out if e['depth'] == 0 and
            (e['data'] or e.get('zero'))]


def check_clean(path):
    p = run(['qemu-img', 'check', '-U', path], check=False)
    bgtest.check(p.returncode == 0, 'qemu-img check %s:\n%s%s' % (path, p.stdout, p.stderr))


def covers(ranges, start, length):
    """Whether the (start, length) list covers [start, start + length)."""
    pos = start
    for s, n in sorted(ranges):
        if s <= pos < s + n:
            pos = s + n
    return pos >= start + length


def dbus_u64(v):
    import dbus
    return dbus.UInt64(v)


def kill9(d):
    """SIGKILL, no shutdown at all; the harness then only cleans up."""
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d._stopped = True


def wait_progress(d, jid, fraction):
    """Polls until CurrentProgress reaches fraction of TotalProgress."""
    def reached():
        p = job_props(d, jid)
        cur, total = int(p['CurrentProgress']), int(p['TotalProgress'])
        return total > 0 and cur >= fraction * total
    deadline = time.monotonic() + 60
    while not reached():
        bgtest.check(time.monotonic() < deadline, 'no progress to %g' % fraction)
        time.sleep(0.01)


def check_images(paths, when):
    """qemu-img check of every image: no corruption (leaked clusters, exit 3,
    are allowed after a kill, as in the qcow2 crash test)."""
    for name, path in paths.items():
        p = run(['qemu-img', 'check', path], check=False)
        bgtest.check(p.returncode in (0, 3), '%s: qemu-img check %s (exit %d):\n%s%s'
                     % (when, name, p.returncode, p.stdout, p.stderr))
