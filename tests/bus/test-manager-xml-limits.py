#!/usr/bin/python3
# Oversized XML from the bus (50,000 attributes, 100,000 child elements,
# 300-deep nesting, a huge value) gets InvalidXml naming the limit at once,
# and the daemon keeps answering other callers.  The call deadline only
# turns a stalled loop into a failure.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

DEADLINE = 10   # seconds; these calls took 12-32 s when the loop stalled


def attributes(n):
    return '<blockdev driver="null-co" node-name="x" %s/>' % ' '.join(
        'a%d=""' % i for i in range(n))


def children(n):
    return '<blockdev driver="raw" node-name="x">%s</blockdev>' % ('<backing/>' * n)


def nested(n):
    return '<blockdev driver="raw" node-name="x">%s%s</blockdev>' % (
        '<cache>' * n, '</cache>' * n)


# (text, words the message must contain); every one is InvalidXml.
CASES = [
    (attributes(50000), ['<bus>', 'larger than the limit of 65536 bytes']),
    (attributes(65), ['<bus> line 1:', 'more than 64 attributes']),
    (children(100000), ['larger than the limit']),
    (children(1100), ['more than 1024 elements']),
    (nested(300), ['nested more than 32 elements deep']),
    ('<blockdev driver="null-co" node-name="%s"/>' % ('n' * 70000), ['larger than the limit']),
    ('<blockdev driver="null-co" node-name="%s"/>' % ('n' * 5000),
     ["attribute 'node-name'", 'longer than 4096 bytes']),
]


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="n0" size="1M"/>')
        for text, words in CASES:
            err = bgtest.expect_error('InvalidXml', d.manager.AddNode, text, timeout=DEADLINE)
            for w in words:
                bgtest.check(w in err.get_dbus_message(),
                             'error lacks %r: %s' % (w, err.get_dbus_message()[:300]))
            bgtest.expect_error('InvalidXml', d.node('n0').Reopen, text, timeout=DEADLINE)
            bgtest.expect_error('InvalidXml', d.manager.ReopenNodes, [text], timeout=DEADLINE)
        err = bgtest.expect_error('InvalidXml', d.manager.AddExport,
                                  '<export type="nbd" id="e" node-name="n0" %s/>'
                                  % ' '.join('a%d=""' % i for i in range(100)),
                                  timeout=DEADLINE)
        bgtest.check('more than 64 attributes' in err.get_dbus_message(),
                     err.get_dbus_message())
        # ReopenNodes: no more snippets, and no more text together, than a file holds.
        small = '<blockdev driver="null-co" node-name="n0" size="1M"/>'
        big = '<blockdev driver="null-co" node-name="n0" size="1M"%s/>' % (' ' * 63000)
        for snippets, words in ([small] * 1025, 'more than 1024 snippets'), \
                               ([big] * 70, 'larger than the limit of 4194304 bytes together'):
            err = bgtest.expect_error('InvalidXml', d.manager.ReopenNodes, snippets,
                                      timeout=DEADLINE)
            bgtest.check(words in err.get_dbus_message(), err.get_dbus_message()[:300])
        # The daemon still serves, and nothing was added.
        bgtest.check_equal(int(d.node_props('n0')['Size']), 1 << 20)
        bgtest.check_equal(sorted(str(p).rsplit('/', 1)[1] for p in d.managed_objects()
                                  if '/node/' in p), ['n0'])


bgtest.run(main)
