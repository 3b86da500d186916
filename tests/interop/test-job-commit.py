#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# commit (QEMU iotest 040's checks), intermediate form: committing top and
# mid into a smaller base grows the base and leaves it equal to what
# `qemu-img commit` makes of a copy of the chain (qemu-img compare), the
# active layer's data unchanged, its header and backing link naming base,
# qemu-img check clean.  Bad input is refused and changes nothing.  A stream at the top and a commit at
# the bottom of one chain run at once; an overlapping commit is refused
# naming the stream.  (Active commit: test-job-commit-active.)
import os

import jobtest
from jobtest import bgtest, run, MiB

LAYERS = ['base', 'mid', 'top', 'act']


def make_chain(d, sizes, writes, sub=''):
    folder = os.path.join(d.tmpdir, sub)
    os.makedirs(folder, exist_ok=True)
    paths, below = {}, None
    for name, size in sizes:
        p = os.path.join(folder, name + '.qcow2')
        cmd = ['qemu-img', 'create', '-q', '-f', 'qcow2']
        if below:
            cmd += ['-b', paths[below], '-F', 'qcow2']
        run(cmd + [p, str(size)])
        for w in writes.get(name, []):
            run(['qemu-io', '-f', 'qcow2', '-c', w, p])
        paths[name], below = p, name
    return paths


def check_intermediate_commit(d):
    sizes = [('base', 4 * MiB), ('mid', 8 * MiB), ('top', 8 * MiB), ('act', 8 * MiB)]
    paths = make_chain(d, sizes, {
        'base': ['write -P 0x11 0 4M'], 'mid': ['write -P 0x22 1M 2M', 'write -P 0x23 5M 1M'],
        'top': ['write -P 0x33 2M 512k', 'write -z 3M 64k'], 'act': ['write -P 0x44 0 64k']})
    ref_base = jobtest.reference_commit(d, paths, ['base', 'mid', 'top'])
    jobtest.add_chain(d, LAYERS, paths)
    ref_act = jobtest.reference(d, paths['act'], 'act.raw')
    before = d.graph_xml()
    for name, xml in [
            ('InvalidArgument', 'node-name="act" top-node="mid" base-node="mid"'),
            ('InvalidArgument', 'node-name="act" top-node="mid" base-node="top"'),
            ('InvalidArgument', 'node-name="mid" top-node="top" base-node="base"'),
            ('NotFound', 'node-name="act" top-node="nosuch"')]:
        bgtest.expect_error(name, d.manager.StartJob, '<job type="commit" id="c" %s/>' % xml)
    bgtest.check_equal(d.graph_xml(), before, 'graph after refused commits')

    d.manager.StartJob('<job type="commit" id="c0" node-name="act" top-node="top" '
                       'base-node="base" auto-dismiss="off"/>')
    p = jobtest.wait_status(d, 'c0', 'concluded')
    bgtest.check_equal(str(p['Error']), '', 'commit succeeded')
    jobtest.job(d, 'c0').Dismiss()
    children = {str(c[0]): str(c[1]) for c in d.node_props('act')['Children']}
    bgtest.check_equal(children.get('backing'), 'base', 'act now backed by base')
    bgtest.check_equal(int(d.node_props('base')['Size']), 8 * MiB, 'base grew to the top size')
    d.node('act').Flush()
    d.node('base').Flush()
    bgtest.check_equal(jobtest.backing_of(paths['act'])[0], paths['base'], 'act header')
    ok, out = jobtest.compare(ref_act, paths['act'])
    bgtest.check(ok, 'act data unchanged: ' + out)
    p = run(['qemu-img', 'compare', '-U', '-f', 'qcow2', '-F', 'qcow2', ref_base,
             paths['base']], check=False)
    bgtest.check(p.returncode == 0, 'base equals qemu-img commit: ' + p.stdout + p.stderr)
    jobtest.check_clean(paths['base'])
    jobtest.check_clean(paths['act'])


def check_disjoint_and_overlapping(d):
    layers = ['b0', 'b1', 'b2', 'b3', 'b4']
    paths = make_chain(d, [(n, 16 * MiB) for n in layers], {
        'b0': ['write -P 0x10 0 16M'], 'b1': ['write -P 0x11 0 8M'],
        'b2': ['write -P 0x12 4M 4M'], 'b3': ['write -P 0x13 0 8M'],
        'b4': ['write -P 0x14 0 64k']}, sub='c2')
    jobtest.add_chain(d, layers, paths)
    ref = jobtest.reference(d, paths['b4'], 'b4.raw')
    d.manager.StartJob('<job type="stream" id="s" node-name="b4" base-node="b2" speed="1M"'
                       ' auto-dismiss="off"/>')
    d.manager.StartJob('<job type="commit" id="c" node-name="b2" top-node="b1" '
                       'base-node="b0" speed="1M" auto-dismiss="off"/>')
    bgtest.check_equal(str(jobtest.job_props(d, 's')['Status']), 'running', 'stream runs')
    bgtest.check_equal(str(jobtest.job_props(d, 'c')['Status']), 'running', 'commit runs')
    e = bgtest.expect_error('Busy', d.manager.StartJob,
                            '<job type="commit" id="x" node-name="b4" top-node="b3" '
                            'base-node="b1"/>')
    bgtest.check("job 's'" in e.get_dbus_message(), e.get_dbus_message())
    for j in ('s', 'c'):
        jobtest.job(d, j).SetSpeed(jobtest.dbus_u64(0))
    for j in ('s', 'c'):
        p = jobtest.wait_status(d, j, 'concluded')
        bgtest.check_equal(str(p['Error']), '', 'job %s succeeded' % j)
    chain = {n: {str(c[0]): str(c[1]) for c in d.node_props(n)['Children']}.get('backing')
             for n in ('b4', 'b2')}
    bgtest.check_equal(chain, {'b4': 'b2', 'b2': 'b0'}, 'both jobs changed their links')
    for n in ('b4', 'b2', 'b0'):
        d.node(n).Flush()
    ok, out = jobtest.compare(ref, paths['b4'])
    bgtest.check(ok, 'data unchanged after both jobs: ' + out)


def main():
    jobtest.need_qemu()
    with bgtest.Daemon() as d:
        check_intermediate_commit(d)
    with bgtest.Daemon() as d:
        check_disjoint_and_overlapping(d)


bgtest.run(main)
