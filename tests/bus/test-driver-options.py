#!/usr/bin/python3
# Driver objects: one per driver, with kind, child roles and the option
# table (common options first, then the driver's own).
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

COMMON = ['node-name', 'driver', 'iothread', 'read-only', 'auto-read-only', 'discard', 'detect-zeroes',
          'cache.direct', 'cache.no-flush', 'force-share']


def driver(d, name):
    return d.props(d.manager_path('driver', name), bgtest.DRIVER)


def driver_at(d, path):
    return d.props(path, bgtest.DRIVER)


def options(props):
    return {str(o[0]): (str(o[1]), str(o[2]), bool(o[3]), str(o[4])) for o in props['Options']}


def main():
    with bgtest.Daemon() as d:
        paths = [str(p) for p in d.managed_objects() if '/driver/' in p]
        names = sorted(str(driver_at(d, p)['Name']) for p in paths)
        for n in ('null-co', 'raw'):
            bgtest.check(n in names, 'no Driver object for %s: %r' % (n, names))
        bgtest.check(d.manager_path('driver', 'null-co') in paths, 'null-co path encoding')

        null = driver(d, 'null-co')
        bgtest.check_equal(str(null['Name']), 'null-co')
        bgtest.check_equal(str(null['Kind']), 'protocol')
        bgtest.check_equal(list(null['ChildRoles']), [], 'null-co ChildRoles')
        opts = options(null)
        names = [str(o[0]) for o in null['Options']]
        bgtest.check_equal(names[:len(COMMON)], COMMON, 'common options first')
        bgtest.check('size' in opts and opts['size'][0] == 'size', 'null-co size: %r'
                     % (opts.get('size'),))
        bgtest.check(opts['read-zeroes'][0] == 'bool', 'read-zeroes type %r' % (opts['read-zeroes'],))
        bgtest.check(opts['discard'][0].startswith('enum('), 'discard type %r' % (opts['discard'],))
        bgtest.check(opts['read-only'][1] == 'off', 'read-only default %r' % (opts['read-only'],))
        bgtest.check(all(o[3] for o in opts.values()), 'every option has a description')

        bgtest.check('at most 10000000000' in opts['latency-ns'][3],
                     'latency-ns names its limit: %r' % (opts['latency-ns'],))
        # A latency beyond the limit would hold requests and drains for ever.
        e = bgtest.expect_error('InvalidArgument', d.manager.AddNode,
                                '<blockdev driver="null-co" node-name="slow" '
                                'latency-ns="18446744073709551615"/>')
        bgtest.check("'latency-ns'" in e.get_dbus_message() and "'slow'" in e.get_dbus_message(),
                     'error names option and node: %s' % e.get_dbus_message())
        d.manager.AddNode('<blockdev driver="null-co" node-name="slow" latency-ns="1000000"/>')

        # Mutable means the driver can change it: null-co has no reopen of its own,
        # so only what the core applies (read-only, discard, ...) is mutable.
        bgtest.check_equal(opts['cache.direct'][2], False, 'null-co cache.direct mutable')
        bgtest.check_equal(opts['read-only'][2], True, 'null-co read-only mutable')
        bgtest.check_equal(options(driver(d, 'file'))['cache.direct'][2], True,
                           'file cache.direct mutable')
        d.manager.AddNode('<blockdev driver="null-co" node-name="n"/>')
        e = bgtest.expect_error('NotSupported', d.node('n').Reopen,
                                '<blockdev driver="null-co"><cache direct="on"/></blockdev>')
        bgtest.check("'cache.direct'" in e.get_dbus_message(), e.get_dbus_message())
        d.node('n').Reopen('<blockdev driver="null-co" discard="unmap"/>')

        raw = driver(d, 'raw')
        bgtest.check_equal(str(raw['Kind']), 'format')
        bgtest.check('file' in [str(r) for r in raw['ChildRoles']], 'raw takes a file child')
        ropts = options(raw)
        bgtest.check('offset' in ropts and 'size' in ropts, 'raw offset/size: %r' % list(ropts))
        bgtest.check_equal(len(names), len(set(names)), 'duplicate option names')

        bgtest.expect_error('org.freedesktop.DBus.Error.UnknownObject',
                            lambda: driver(d, 'no-such-driver'))


bgtest.run(main)
