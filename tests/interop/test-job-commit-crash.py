#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash safety of commit, as test-job-stream-crash does for stream: SIGKILL
# of the daemon at several moments of an intermediate commit (mid into
# base, under top) and of an active commit (top into base).  Afterwards
# every image passes `qemu-img check` (no corruption; leaked clusters are
# allowed, as in the qcow2 crash test), and the guest data is unchanged
# (qemu-img compare against a raw copy made before): what top shows with
# whatever backing file its header names and, once an active commit was
# ready (the base flushed), what the base shows on its own.
import jobtest
from jobtest import bgtest

LAYERS = ['base', 'mid', 'top']
WRITES = {
    'base': ['write -P 0x11 0 16M'],
    'mid': ['write -P 0x22 1M 6M', 'write -z 9M 1M', 'write -P 0x23 12M 2M'],
    'top': ['write -P 0x33 2M 512k', 'write -P 0x34 13M 64k', 'write -P 0x35 15M 1M'],
}
SPEED = '8M'        # about 10 MiB to copy: a second or so


def check_guest_data(paths, ref, when, base_too):
    jobtest.check_images(paths, when)
    backing = jobtest.backing_of(paths['top'])[0]
    ok, out = jobtest.compare(ref, paths['top'])
    bgtest.check(ok, '%s: guest data of top (backing %r) changed: %s' % (when, backing, out))
    if base_too:
        ok, out = jobtest.compare(ref, paths['base'])
        bgtest.check(ok, '%s: the base does not hold the guest data: %s' % (when, out))


def start(d, active, moment):
    """The chain and the job: held back by its speed to be killed half way,
    at full speed to be killed at its end."""
    paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
    ref = jobtest.reference(d, paths['top'])
    jobtest.add_chain(d, LAYERS, paths)
    top = '' if active else ' top-node="mid"'
    speed = ' speed="%s"' % SPEED if isinstance(moment, float) else ''
    d.manager.StartJob('<job type="commit" id="c0" node-name="top"%s base-node="base"%s '
                       'auto-dismiss="off"/>' % (top, speed))
    return paths, ref


def crash_intermediate(moment):
    with bgtest.Daemon() as d:
        paths, ref = start(d, False, moment)
        if moment == 'concluded':
            jobtest.wait_status(d, 'c0', 'concluded')
        else:
            jobtest.wait_progress(d, 'c0', moment)
        jobtest.kill9(d)
        check_guest_data(paths, ref, 'intermediate commit killed at %s' % moment, False)


def crash_active(moment):
    with bgtest.Daemon() as d:
        paths, ref = start(d, True, moment)
        if moment in ('ready', 'concluded'):
            jobtest.wait_status(d, 'c0', 'ready')
        else:
            jobtest.wait_progress(d, 'c0', moment)
        if moment == 'concluded':
            jobtest.job(d, 'c0').Complete()
            jobtest.wait_status(d, 'c0', 'concluded')
        jobtest.kill9(d)
        check_guest_data(paths, ref, 'active commit killed at %s' % moment,
                         moment in ('ready', 'concluded'))


def main():
    jobtest.need_qemu()
    for moment in (0.5, 'concluded'):
        crash_intermediate(moment)
    for moment in (0.5, 'ready', 'concluded'):
        crash_active(moment)


bgtest.run(main)
