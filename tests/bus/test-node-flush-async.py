#!/usr/bin/python3
# Node.Flush runs in a coroutine: while a slow flush (null-co latency-ns)
# is in flight, other calls are answered, the node cannot be removed (the
# call is a named user of it), and the flush replies when it is done.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

LATENCY_NS = 2 * 10**9


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="slow" latency-ns="%d"/>'
                          % LATENCY_NS)
        sig = d.signals()   # pumps the GLib loop that delivers async replies
        done = []
        d.node('slow').Flush(reply_handler=lambda: done.append('ok'),
                             error_handler=lambda e: done.append(e))
        sig.pump(0.1)

        # Served while the flush sleeps.
        graph = d.graph_xml()
        bgtest.check('node-name="slow"' in graph, 'GetGraph while flushing')
        d.manager.AddNode('<blockdev driver="null-co" node-name="quick"/>')
        bgtest.check_equal(int(d.node_props('quick')['Size']), 1 << 30)
        users = d.node_props('slow')['Users']
        bgtest.check_equal([str(u[0]).split(':')[0] for u in users], ['internal'],
                           'the flush call is a user of the node')
        e = bgtest.expect_error('Busy', d.manager.RemoveNode, 'slow')
        bgtest.check('flush' in e.get_dbus_message(), 'names the flush: ' + e.get_dbus_message())
        bgtest.check_equal(done, [], 'flush replied before its latency passed')

        sig.wait_for(lambda _: done, timeout=30)
        bgtest.check_equal(done, ['ok'], 'Flush reply')
        bgtest.check_equal(list(d.node_props('slow')['Users']), [], 'user gone after Flush')
        d.manager.RemoveNode('slow')

        # An inline child whose parent goes while its Flush runs stays until
        # the Flush is done, then goes with InterfacesRemoved.  (top is read-only so
        # that removing it does not flush, and wait for, kid itself.)
        d.manager.AddNode('<blockdev driver="raw" node-name="top" read-only="on">'
                          '<file driver="null-co" '
                          'node-name="kid" latency-ns="%d"/></blockdev>' % LATENCY_NS)
        done.clear()
        d.node('kid').Flush(reply_handler=lambda: done.append('ok'),
                            error_handler=lambda e: done.append(e))
        sig.pump(0.1)
        d.manager.RemoveNode('top')
        objects = d.managed_objects()
        bgtest.check(d.node_path('top') not in objects, 'top removed')
        bgtest.check(d.node_path('kid') in objects, 'kid kept while its Flush runs')
        sig.wait_for(lambda _: done, timeout=30)
        bgtest.check_equal(done, ['ok'], 'Flush of kid')
        kid = d.node_path('kid')
        sig.wait_for(lambda items: any(i[1] == 'InterfacesRemoved' and str(i[3][0]) == kid
                                       for i in items))
        bgtest.check(kid not in d.managed_objects(), 'kid gone after its Flush')


bgtest.run(main)
