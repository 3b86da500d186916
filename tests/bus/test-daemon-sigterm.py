#!/usr/bin/python3
# SIGTERM while a slow Flush is running: the call still gets its reply, every
# node is flushed and closed, the daemon exits 0 (the harness checks exit
# status and sanitizer reports).
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="slow" latency-ns="1000000000"/>')
        d.manager.AddNode('<blockdev driver="raw" node-name="top"><file driver="null-co"/>'
                          '</blockdev>')
        sig = d.signals()
        done = []
        d.node('slow').Flush(reply_handler=lambda: done.append('ok'),
                             error_handler=lambda e: done.append(e))
        sig.pump(0.2)
        bgtest.check_equal(done, [], 'Flush replied too early')
        d.stop()        # SIGTERM; fails unless exit status 0
        sig.wait_for(lambda _: done, timeout=10)
        bgtest.check_equal(done, ['ok'], 'Flush reply across shutdown')
        err = d.stderr()
        bgtest.check('flushed and closed' in err, 'shutdown logged:\n' + err)
        bgtest.check('still in use' not in err, 'nodes left at shutdown:\n' + err)


bgtest.run(main)
