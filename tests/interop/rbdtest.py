# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared set-up for the rbd tests: rbd nodes on the test cluster
(tests/harness/ceph.py), NBD exports of them, and QEMU's rbd driver
(qemu-block-extra) as the oracle."""

import os
import nbdtest
from nbdtest import bgtest, MiB  # noqa: F401
import ceph  # noqa: F401


def need_qemu_rbd():
    """Skips unless qemu-img/qemu-io can open rbd: images (qemu-block-extra)."""
    for tool in ('qemu-img', 'qemu-io'):
        bgtest.need_tool(tool)
    p = nbdtest.run(['qemu-img', '--help'], check=False)
    if ' rbd' not in p.stdout:
        bgtest.skip("qemu-img has no rbd driver (install qemu-block-extra)")


def blockdev(cl, node, image, extra=''):
    return ('<blockdev driver="rbd" node-name="%s" %s image="%s" %s/>'
            % (node, cl.blockdev_options(), image, extra))


def add_node(d, cl, node, image, extra=''):
    return d.manager.AddNode(blockdev(cl, node, image, extra))


def qemu_target(cl, image, snapshot=None):
    """QEMU's legacy rbd: file name for pool/image on this cluster."""
    return 'rbd:%s/%s%s:conf=%s' % (cl.pool, image, '@' + snapshot if snapshot else '',
                                    cl.conf)


def qemu_io(target, *cmds, fmt='raw', read_only=False):
    args = ['qemu-io', '-f', fmt] + (['-r'] if read_only else [])
    for c in cmds:
        args += ['-c', c]
    p = nbdtest.run(args + [target], check=False)
    out = p.stdout + p.stderr
    bgtest.check(p.returncode == 0 and 'error' not in out.lower() and
                 'fail' not in out.lower(), 'qemu-io %r on %s: %s' % (cmds, target, out))
    return out


def export(d, eid, node, writable=True):
    return nbdtest.add_export(d, eid, node, os.path.join(d.tmpdir, eid + '.sock'),
                              writable=writable)


def remove_export(d, path):
    bgtest.remove_export_safe(d, path)
