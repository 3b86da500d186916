#!/usr/bin/python3
# Bad input to AddNode / RemoveNode / GetGraph: each gets the documented
# error naming what is wrong, the graph is unchanged and the daemon serves on.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

SETUP = [
    '<blockdev driver="null-co" node-name="base" size="16M"/>',
    '<blockdev driver="raw" node-name="top"><file ref="base"/></blockdev>',
    '<blockdev driver="raw" node-name="w"><file driver="null-co" node-name="wkid"/></blockdev>',
]

# (xml, error, words the message must contain)
BAD_ADDS = [
    ('<blockdev driver="null-co" node-name="x"', 'InvalidXml', ['line 1']),
    ('<blockdev driver="null-co"\n node-name="x">\n<oops></blockdev>', 'InvalidXml', ['line']),
    ('<blockdev driver="no-such-driver" node-name="x"/>', 'InvalidArgument', ['no-such-driver']),
    ('<blockdev driver="null-co" node-name="x" sise="1M"/>', 'InvalidArgument', ['sise']),
    ('<blockdev driver="null-co" node-name="x" size="lots"/>', 'InvalidArgument', ['size']),
    ('<blockdev driver="null-co" node-name="x" read-only="maybe"/>', 'InvalidArgument',
     ['read-only']),
    ('<blockdev driver="null-co" node-name="9x"/>', 'InvalidArgument', ['9x']),
    ('<blockdev driver="null-co" node-name="base"/>', 'Exists', ['base']),
    ('<blockdev driver="raw" node-name="x"><file ref="ghost"/></blockdev>', 'NotFound',
     ['ghost']),
    # all or nothing: a bad inline grandchild leaves no node behind
    ('<blockdev driver="raw" node-name="x"><file driver="raw" node-name="y">'
     '<file driver="null-co" node-name="z" bogus="1"/></file></blockdev>',
     'InvalidArgument', ['bogus']),
]
FILE_CASES = [
    ('<blockdev driver="file" node-name="x" filename="/nonexistent/dir/image.raw"/>',
     None, ['/nonexistent/dir/image.raw']),
]


def main():
    with bgtest.Daemon() as d:
        for xml in SETUP:
            d.manager.AddNode(xml)
        before = d.graph_xml()
        objects_before = sorted(d.managed_objects().keys())

        cases = BAD_ADDS
        if d.manager_path('driver', 'file') in d.managed_objects():
            cases = cases + FILE_CASES
        for xml, name, words in cases:
            if name is None:
                try:
                    d.manager.AddNode(xml)
                except bgtest.dbus.exceptions.DBusException as e:
                    err = e
                else:
                    raise bgtest.TestFailure('AddNode(%r) succeeded' % xml)
                bgtest.check(err.get_dbus_name().startswith(bgtest.ERROR),
                             'error %s not in our domain' % err.get_dbus_name())
            else:
                err = bgtest.expect_error(name, d.manager.AddNode, xml)
            msg = err.get_dbus_message()
            for w in words:
                bgtest.check(w in msg, 'message for %r lacks %r: %s' % (xml, w, msg))
            bgtest.check_equal(d.graph_xml(), before, 'graph changed by %r' % xml)

        e = bgtest.expect_error('Busy', d.manager.RemoveNode, 'base')
        bgtest.check('top' in e.get_dbus_message(), 'RemoveNode error names the user: %s'
                     % e.get_dbus_message())
        bgtest.expect_error('NotFound', d.manager.RemoveNode, 'ghost')
        e = bgtest.expect_error('InvalidArgument', d.manager.RemoveNode, 'wkid')
        bgtest.check('wkid' in e.get_dbus_message(), e.get_dbus_message())
        bgtest.expect_error('InvalidArgument', d.manager.GetGraph, 'json')

        # Every error about a snippet starts with its source and line, AddNode's as reopen's.
        bad = '<blockdev driver="null-co" node-name="base" size="lots"/>'
        for call, arg, prefix in ((d.manager.AddNode, bad.replace('"base"', '"x"'), '<bus> line 1: '),
                                  (d.node('base').Reopen, bad, '<bus> line 1: '),
                                  (d.manager.ReopenNodes, [bad], '<bus>[0] line 1: ')):
            e = bgtest.expect_error('InvalidArgument', call, arg)
            bgtest.check(e.get_dbus_message().startswith(prefix), e.get_dbus_message())

        bgtest.check_equal(d.graph_xml(), before, 'graph changed')
        bgtest.check_equal(sorted(d.managed_objects().keys()), objects_before, 'objects changed')
        # still serving, and the good path still works
        d.manager.AddNode('<blockdev driver="null-co" node-name="x"/>')
        d.manager.RemoveNode('x')
        bgtest.check_equal(d.graph_xml(), before, 'graph after add+remove')


bgtest.run(main)
