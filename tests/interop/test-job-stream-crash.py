#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash safety of stream: a stream held back by its speed limit is cut short
# by SIGKILL of the daemon at several moments (early, half way, late, and
# just after the job concluded and before anything else happened).  After
# each kill every image of the chain passes `qemu-img check` (no corruption;
# leaked clusters are allowed, as in the qcow2 crash test) and the top, read
# with whatever backing file its header names, shows the guest exactly what
# the chain showed before the job (qemu-img compare against a raw copy).
#
# A kill just after the job rewrote top's header to its new backing file
# once lost the streamed data: the header change was flushed, but top's L2
# tables mapping the copied clusters were still only in the qcow2 metadata
# cache.  The job now flushes top (and the base) before it changes the
# header; END_DEFECT = True would report such kills (XFAIL) instead.
import sys

import jobtest
from jobtest import bgtest

LAYERS = ['base', 'mid', 'top']
WRITES = {
    'base': ['write -P 0x11 0 16M'],
    'mid': ['write -P 0x22 1M 6M', 'write -z 9M 1M', 'write -P 0x23 12M 2M'],
    'top': ['write -P 0x33 2M 512k', 'write -P 0x34 13M 64k'],
}
END_DEFECT = False
SPEED = '8M'        # about 9 MiB to copy: a second or so per run


def check_chain(paths, ref, when):
    jobtest.check_images(paths, when)
    backing = jobtest.backing_of(paths['top'])[0]
    ok, out = jobtest.compare(ref, paths['top'])
    msg = '%s: guest data of top (backing %r) changed: %s' % (when, backing, out)
    if END_DEFECT and backing != paths['mid']:
        sys.stderr.write('%s: %s\n' % ('XPASS' if ok else 'XFAIL (known defect)', msg))
        return
    bgtest.check(ok, msg)


def crash_at(moment, base_node):
    with bgtest.Daemon() as d:
        paths = jobtest.make_chain(d, LAYERS, writes=WRITES)
        ref = jobtest.reference(d, paths['top'])
        jobtest.add_chain(d, LAYERS, paths)
        base = ' base-node="base"' if base_node else ''
        d.manager.StartJob('<job type="stream" id="s0" node-name="top"%s speed="%s" '
                           'auto-dismiss="off"/>' % (base, SPEED))
        if moment == 'concluded':
            jobtest.wait_status(d, 's0', 'concluded')
        else:
            jobtest.wait_progress(d, 's0', moment)
        jobtest.kill9(d)
        check_chain(paths, ref, 'killed at %s (%s)' % (moment, base.strip() or 'whole chain'))


def main():
    jobtest.need_qemu()
    for moment in (0.2, 0.6, 'concluded'):
        crash_at(moment, base_node=True)
    crash_at(0.5, base_node=False)
    crash_at('concluded', base_node=False)


bgtest.run(main)
