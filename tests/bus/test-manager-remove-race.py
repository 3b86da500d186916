#!/usr/bin/python3
# A call on a node while RemoveNode is flushing it away: RemoveNode finishes,
# the call is refused with NotFound ("is being removed") or finds no object,
# and the daemon survives (no double free; the harness fails the test on a
# sanitizer report or an unclean SIGTERM).  Each call kind races once against
# the removal of a slow node (null-co latency-ns makes the removal's flush
# slow), and once against the release of an inline child whose parent is
# being removed.  GetXML still answers (it reads, synchronously).
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest
import dbus

LATENCY_NS = 200 * 10**6
GONE = (bgtest.ERROR + 'NotFound', 'org.freedesktop.DBus.Error.UnknownObject',
        'org.freedesktop.DBus.Error.UnknownMethod')


def calls(d, name, sock):
    """Every call kind that can reach a node, as (label, start(reply, error))."""
    node = lambda: d.node(name)
    export_xml = ('<export type="nbd" id="e-%s" node-name="%s">'
                  '<server type="unix" path="%s"/></export>' % (name, name, sock))
    reopen_xml = '<blockdev driver="null-co" latency-ns="%d"/>' % LATENCY_NS
    return [
        ('Flush', lambda ok, err: node().Flush(reply_handler=ok, error_handler=err)),
        ('Resize', lambda ok, err: node().Resize(dbus.UInt64(1 << 20),
                                                 reply_handler=ok, error_handler=err)),
        ('SetActive', lambda ok, err: node().SetActive(False, reply_handler=ok,
                                                       error_handler=err)),
        ('AddExport', lambda ok, err: d.manager.AddExport(export_xml, reply_handler=ok,
                                                          error_handler=err)),
        ('Reopen', lambda ok, err: node().Reopen(reopen_xml, reply_handler=ok,
                                                 error_handler=err)),
        ('GetXML', lambda ok, err: node().GetXML(reply_handler=ok, error_handler=err)),
        ('RemoveNode', lambda ok, err: d.manager.RemoveNode(name, reply_handler=ok,
                                                            error_handler=err)),
    ]


def record(results, key):
    return (lambda *a: results.setdefault(key, 'ok'),
            lambda e: results.setdefault(key, e))


def race(d, sig, label, remove_name, call_name, start):
    """RemoveNode(remove_name), then the call on call_name while the removal flushes.

    The daemon reads the calls in order and RemoveNode reaches the slow flush
    before its handler returns, so the call always finds the removal running.
    """
    results = {}
    ok, err = record(results, 'remove')
    d.manager.RemoveNode(remove_name, reply_handler=ok, error_handler=err)
    ok, err = record(results, 'call')
    start(ok, err)
    sig.wait_for(lambda _: len(results) == 2, timeout=60)
    bgtest.check_equal(results['remove'], 'ok', '%s: RemoveNode(%s)' % (label, remove_name))
    call = results['call']
    if label == 'GetXML':
        bgtest.check_equal(call, 'ok', 'GetXML while the node is removed')
    else:
        bgtest.check(call != 'ok', '%s on %s during its removal succeeded' % (label, call_name))
        bgtest.check(call.get_dbus_name() in GONE,
                     '%s: %s: %s' % (label, call.get_dbus_name(), call.get_dbus_message()))
        bgtest.check(call_name in call.get_dbus_message(),
                     '%s: the error names the node: %s' % (label, call.get_dbus_message()))
    bgtest.check(d.node_path(call_name) not in d.managed_objects(), '%s: node gone' % label)


def main():
    with bgtest.Daemon() as d:
        sig = d.signals()
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        for i, (label, _) in enumerate(calls(d, 'x', sock)):
            name = 'slow%d' % i
            d.manager.AddNode('<blockdev driver="null-co" node-name="%s" latency-ns="%d"/>'
                              % (name, LATENCY_NS))
            race(d, sig, label, name, name, calls(d, name, sock)[i][1])

        # An inline child goes with its parent: the call reaches it while the
        # removal flushes it.  (top is read-only, so its own close does not
        # wait: the removal reaches kid's flush at once.)
        for i, (label, _) in enumerate(calls(d, 'x', sock)):
            if label == 'RemoveNode':
                continue    # kid is not user-owned: refused for that reason
            top, kid = 'top%d' % i, 'kid%d' % i
            d.manager.AddNode('<blockdev driver="raw" node-name="%s" read-only="on">'
                              '<file driver="null-co" node-name="%s" read-only="off" '
                              'latency-ns="%d"/></blockdev>' % (top, kid, LATENCY_NS))
            race(d, sig, label, top, kid, calls(d, kid, sock)[i][1])
        bgtest.check_equal([str(p) for p in d.managed_objects() if '/node/' in p], [],
                           'nodes left')


bgtest.run(main)
