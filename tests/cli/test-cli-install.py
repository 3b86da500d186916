#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# meson install --destdir puts bgctl in bin, its man page in man1, the bash
# completion where bash-completion looks for it (completions/bgctl, loaded
# on demand by the command's name) and docs/bgctl.md in the docs.
import os
import subprocess
import tempfile

import clitest
from clitest import bgtest

BUILD = os.environ.get('BLOCKGRAPH_BUILD_ROOT')


def buildoptions():
    import json
    out = subprocess.run(['meson', 'introspect', '--buildoptions', BUILD],
                         capture_output=True, text=True, check=True).stdout
    return {o['name']: o['value'] for o in json.loads(out)}


def main():
    if not BUILD:
        bgtest.skip('BLOCKGRAPH_BUILD_ROOT not set (run through meson test)')
    bgtest.need_tool('meson')
    opts = buildoptions()
    prefix = opts['prefix']
    datadir = os.path.join(prefix, opts['datadir'])
    with tempfile.TemporaryDirectory() as dest:
        p = subprocess.run(['meson', 'install', '-C', BUILD, '--no-rebuild', '--quiet',
                            '--destdir', dest], capture_output=True, text=True, timeout=120)
        bgtest.check(p.returncode == 0, 'meson install failed:\n%s%s' % (p.stdout, p.stderr))

        def installed(path):
            full = dest + path
            bgtest.check(os.path.isfile(full), '%s is not installed' % path)
            return full

        exe = installed(os.path.join(prefix, opts['bindir'], 'bgctl'))
        bgtest.check(os.access(exe, os.X_OK), 'bgctl is executable')
        bgtest.check_equal(subprocess.run([exe, '--version'], capture_output=True, text=True,
                                          timeout=30).stdout.split()[0], 'bgctl')
        installed(os.path.join(prefix, opts['mandir'], 'man1', 'bgctl.1'))
        completion = installed(os.path.join(datadir, 'bash-completion', 'completions', 'bgctl'))
        with open(completion) as f:
            bgtest.check('complete -F _bgctl bgctl' in f.read(), 'the completion registers')
        installed(os.path.join(datadir, 'doc', 'blockgraph', 'bgctl.md'))


bgtest.run(main)
