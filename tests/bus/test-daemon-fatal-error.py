#!/usr/bin/python3
# A start-up error that ends the daemon (no bus to serve on, --check-config
# without a folder) is logged at error level, not as a warning, and the
# exit status is nonzero.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    rc, out, err = bgtest.run_daemon_once(['--address=unix:path=/nonexistent/bus.sock'])
    bgtest.check(rc != 0, 'started without a bus: rc %d' % rc)
    bgtest.check('blockgraphd: error: ' in err and 'warning' not in err,
                 'no bus is not logged as an error:\n' + err)
    rc, out, err = bgtest.run_daemon_once(['--check-config'])
    bgtest.check(rc != 0 and 'blockgraphd: error: ' in err and '--config-dir' in err,
                 '--check-config without a folder: rc %d\n%s' % (rc, err))


bgtest.run(main)
