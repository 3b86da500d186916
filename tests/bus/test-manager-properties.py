#!/usr/bin/python3
# Manager.Version / Manager.Features, and introspection showing argument names.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    rc, out, _ = bgtest.run_daemon_once(['--version'])
    bgtest.check_equal(rc, 0, '--version exit code')
    version = out.split()[-1]
    with bgtest.Daemon() as d:
        props = d.props(bgtest.ROOT_PATH, bgtest.MANAGER)
        bgtest.check_equal(str(props['Version']), version, 'Version')
        features = [str(f) for f in props['Features']]
        for want in ('blockdev-add', 'job-mirror', 'job-backup', 'image-create', 'dirty-bitmaps',
                     'nbd-dirty-bitmap', 'transaction'):
            bgtest.check(want in features, 'Features lacks %s: %r' % (want, features))
        bgtest.check(len(features) == len(set(features)), 'duplicate Features: %r' % features)
        xml = d.iface(bgtest.ROOT_PATH, 'org.freedesktop.DBus.Introspectable').Introspect()
        for piece in ('interface name="org.blockgraph.BlockGraph1.Manager"',
                      'interface name="org.freedesktop.DBus.ObjectManager"',
                      'arg type="s" name="node_name" direction="in"',
                      'arg type="s" name="xml" direction="in"',
                      'arg type="s" name="format" direction="in"'):
            bgtest.check(piece in xml, 'introspection lacks %s' % piece)


bgtest.run(main)
