#!/usr/bin/python3
# SIGTERM with a node whose flush does not end (null-co latency-ns, here
# longer than --shutdown-timeout): the daemon still exits, with status 1,
# after logging an error that names the node and says data may be lost.
# A bad --shutdown-timeout value is refused at start.
import os
import signal
import subprocess
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    rc, _, err = bgtest.run_daemon_once(['--shutdown-timeout=soon'])
    bgtest.check_equal(rc, 2, 'bad value refused:\n' + err)
    bgtest.check('--shutdown-timeout' in err, 'names the option:\n' + err)

    with bgtest.Daemon(args=['--shutdown-timeout=1']) as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="slow" '
                          'latency-ns="10000000000"/>')
        d.manager.AddNode('<blockdev driver="null-co" node-name="quick"/>')
        d._stopped = True           # this test checks the exit itself
        d.proc.send_signal(signal.SIGTERM)
        try:
            rc = d.proc.wait(30)    # only turns a hang into a failure
        except subprocess.TimeoutExpired:
            d.proc.kill()
            d.proc.wait()
            raise bgtest.TestFailure('no exit after SIGTERM:\n' + d.stderr())
        err = d.stderr()
        bgtest.check_equal(rc, 1, 'exit status after the timeout:\n' + err)
        errors = [l for l in err.splitlines() if 'error:' in l and "Node 'slow'" in l]
        bgtest.check(len(errors) == 1 and 'may be lost' in errors[0],
                     'error names the node and the risk:\n' + err)
        bgtest.check("'quick'" not in err, 'only the stuck node is named:\n' + err)
        bgtest.check(not bgtest._sanitizer_report(err), 'sanitizer report:\n' + err)


bgtest.run(main)
