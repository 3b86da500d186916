#!/usr/bin/python3
# A node kept only by a running call (an inline child whose parent was
# removed) is released when the call ends.  That release changes the graph,
# so it waits for a graph change in progress: here an AddNode that links the
# node and then fails.  Before, the call let go in the middle of the AddNode,
# whose rollback then left the node in the graph with nobody holding it.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

LATENCY_NS = 600 * 10**6


def main():
    with bgtest.Daemon() as d:
        sig = d.signals()
        d.manager.AddNode('<blockdev driver="raw" node-name="top" read-only="on">'
                          '<file driver="null-co" node-name="kid" read-only="off" '
                          'read-zeroes="on" latency-ns="%d"/></blockdev>' % LATENCY_NS)
        results = {}
        d.node('kid').Flush(reply_handler=lambda: results.setdefault('flush', 'ok'),
                            error_handler=lambda e: results.setdefault('flush', e))
        d.manager.RemoveNode('top')
        bgtest.check(d.node_path('kid') in d.managed_objects(), 'kid kept by its Flush')
        sig.pump(LATENCY_NS / 2e9)
        # Links kid, reads its (zero) header for LATENCY_NS, fails: the Flush
        # ends meanwhile.
        d.manager.AddNode('<blockdev driver="qcow2" node-name="q"><file ref="kid"/></blockdev>',
                          reply_handler=lambda _: results.setdefault('add', 'ok'),
                          error_handler=lambda e: results.setdefault('add', e))
        sig.wait_for(lambda _: len(results) == 2, timeout=60)
        bgtest.check_equal(results['flush'], 'ok', 'Flush of kid')
        bgtest.check(results['add'] != 'ok', 'AddNode of a qcow2 node over zeroes succeeded')
        kid = d.node_path('kid')
        sig.wait_for(lambda _: kid not in d.managed_objects(), timeout=20)


bgtest.run(main)
