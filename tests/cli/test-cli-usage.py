#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bgctl for people: --help for bgctl and for each command; wrong usage
# exits 2 with a message and a hint on stderr, nothing on stdout; no
# daemon on the bus, or no bus, exits 1 saying so; bash
# completion offers commands, subcommands, options and the daemon's names;
# the man page formats without warnings.
import os
import re
import shlex
import shutil
import subprocess

import clitest
from clitest import bgtest, ok, fails

SOURCE = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                        os.path.join(os.path.dirname(__file__), '..', '..'))


def commands():
    text = clitest.bgctl(None, '--help', check=0).stdout
    bgtest.check(text.startswith('Usage: bgctl'), text)
    block = text.split('Commands:\n')[1].split('\n\n')[0]
    names = []
    for line in block.splitlines():
        words = line.split()
        names.append(' '.join(words[:2]) if words[0] in ('export', 'job') else words[0])
    bgtest.check(len(names) >= 20, 'commands listed: %r' % names)
    return names


def check_help():
    for name in commands():
        out = clitest.bgctl(None, *name.split(), '--help', check=0).stdout
        bgtest.check(out.startswith('Usage: bgctl %s' % name), '%s --help: %r' % (name, out))
        bgtest.check('--json' in out, '%s --help lists the common options' % name)
        if name in ('status', 'job wait'):
            bgtest.check_equal(clitest.bgctl(None, 'help', *name.split(), check=0).stdout, out)
    out = clitest.bgctl(None, 'export', 'remove', '--help', check=0).stdout
    bgtest.check('--hard' in out, out)
    bgtest.check_equal(clitest.bgctl(None, '--version', check=0).stdout.split()[0], 'bgctl')


def usage(text, *args):
    p = fails(None, 2, text, *args)
    bgtest.check_equal(p.stdout, '')
    bgtest.check("Try 'bgctl --help'." in p.stderr, p.stderr)


def check_usage():
    usage('no command given')
    usage("unknown command 'frob'", 'frob')
    usage("unknown command 'job frob'", 'job', 'frob', 'x')
    usage("'job' needs a subcommand", 'job')
    usage("unknown option '--frob'", 'list', '--frob')
    usage("option '--address' needs a value", 'list', '--address')
    usage("'show' needs NAME", 'show')
    usage("too many arguments for 'remove'", 'remove', 'a', 'b')
    usage("'list' does not take --hard", 'list', '--hard')
    usage("'job pause' does not take --force", 'job', 'pause', '--force', 'j0')
    usage("'reopen' needs NAME OPTION=VALUE", 'reopen', 'x')


def check_no_daemon(tmpdir):
    fails(None, 1, 'cannot connect to unix:path=%s/none.sock: ' % tmpdir,
          '--address', 'unix:path=%s/none.sock' % tmpdir, 'status')
    other = os.path.join(tmpdir, 'other')
    os.mkdir(other)
    bus = bgtest.DBusDaemon(other)
    try:
        fails(None, 1, 'blockgraphd is not running on this bus', '--address', bus.address,
              'status')
        fails(None, 1, 'blockgraphd is not running on this bus', '--address', bus.address,
              'job', 'wait', 'j0')
    finally:
        bus.stop()


def complete(d, line):
    """What bash completion offers for the last word of line."""
    script = os.path.join(SOURCE, 'cli', 'bgctl.bash-completion')
    words = shlex.split(line) + ([''] if line.endswith(' ') else [])
    words[0] = clitest.BGCTL
    prog = ('source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _bgctl; printf "%%s\\n" "${COMPREPLY[@]}"'
            % (shlex.quote(script), ' '.join(shlex.quote(w) for w in words), len(words) - 1))
    p = subprocess.run(['bash', '-c', prog], capture_output=True, text=True, timeout=60)
    bgtest.check(p.returncode == 0 and not p.stderr, 'completion of %r: %s' % (line, p.stderr))
    return sorted(w for w in p.stdout.splitlines() if w)


def check_completion(d):
    bgtest.need_tool('bash')
    a = shlex.quote(d.address)
    d.manager.AddNode('<blockdev driver="null-co" node-name="disk0"/>')
    d.manager.AddNode('<blockdev driver="null-co" node-name="data1"/>')
    bgtest.check_equal(complete(d, 'bgctl jo'), ['job'])
    bgtest.check('wait' in complete(d, 'bgctl job '), 'job subcommands')
    bgtest.check_equal(complete(d, 'bgctl export remove --h'), ['--hard', '--help'])
    bgtest.check_equal(complete(d, 'bgctl --address %s remove d' % a), ['data1', 'disk0'])
    bgtest.check_equal(complete(d, 'bgctl --address %s reopen di' % a), ['disk0'])
    bgtest.check_equal(complete(d, 'bgctl --address %s reopen disk0 ' % a), [])
    bgtest.check_equal(complete(d, 'bgctl list '), ['exports', 'jobs', 'nodes'])


def check_man_page():
    if not shutil.which('groff'):
        return
    page = os.path.join(SOURCE, 'cli', 'bgctl.1')
    p = subprocess.run(['groff', '-man', '-Tutf8', '-ww', '-z', page], capture_output=True,
                       text=True, timeout=60)
    bgtest.check(p.returncode == 0 and not p.stderr, 'groff warns: %s' % p.stderr)
    with open(page) as f:
        text = f.read()
    for name in commands():
        bgtest.check(re.search(r'^\.(B|BI|BR|TP)\s.*%s' % re.escape(name.split()[-1]), text,
                               re.M), 'the man page describes %s' % name)


def main():
    check_help()
    check_usage()
    check_man_page()
    with bgtest.Daemon() as d:
        check_no_daemon(d.tmpdir)
        check_completion(d)


bgtest.run(main)
