#!/usr/bin/python3
# meson install --destdir: the daemon, the D-Bus policy and activation file
# where the system bus reads them (for prefix /usr, the default), the unit
# whose Documentation= names an installed page, the docs, the RelaxNG schema
# that docs/xml.md names, the examples and the man page.
import os
import re
import shutil
import subprocess
import sys
import tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest

BUILD = os.environ.get('BLOCKGRAPH_BUILD_ROOT')


def buildoption(name):
    out = subprocess.run(['meson', 'introspect', '--buildoptions', BUILD],
                         capture_output=True, text=True, check=True).stdout
    import json
    for opt in json.loads(out):
        if opt['name'] == name:
            return opt['value']
    raise bgtest.TestFailure('no build option %s' % name)


def main():
    if not BUILD:
        bgtest.skip('BLOCKGRAPH_BUILD_ROOT not set (run through meson test)')
    bgtest.need_tool('meson')
    prefix = buildoption('prefix')
    datadir = os.path.join(prefix, buildoption('datadir'))
    with tempfile.TemporaryDirectory() as dest:
        p = subprocess.run(['meson', 'install', '-C', BUILD, '--no-rebuild', '--quiet',
                            '--destdir', dest], capture_output=True, text=True, timeout=120)
        bgtest.check(p.returncode == 0, 'meson install failed:\n%s%s' % (p.stdout, p.stderr))

        def installed(path):
            full = dest + path
            bgtest.check(os.path.isfile(full), '%s is not installed' % path)
            return full

        installed(os.path.join(prefix, buildoption('sbindir'), 'blockgraphd'))
        installed(os.path.join(datadir, 'dbus-1', 'system.d', 'org.blockgraph.BlockGraph1.conf'))
        installed(os.path.join(datadir, 'dbus-1', 'system-services',
                               'org.blockgraph.BlockGraph1.service'))
        installed(os.path.join(datadir, 'blockgraph', 'blockgraph.rng'))
        installed(os.path.join(datadir, 'polkit-1', 'actions', 'org.blockgraph.BlockGraph1.policy'))
        for page in ('dbus-api.md', 'xml.md', 'nbd.md', 'permissions.md', 'security.md'):
            installed(os.path.join(datadir, 'doc', 'blockgraph', page))
        installed(os.path.join(datadir, 'doc', 'blockgraph', 'examples', '10-null.xml'))
        installed(os.path.join(prefix, buildoption('mandir'), 'man8', 'blockgraphd.8'))
        unit = installed(os.path.join(prefix, 'lib', 'systemd', 'system', 'blockgraphd.service'))
        with open(unit) as f:
            docs = re.findall(r'^Documentation=(.*)$', f.read(), re.M)
        bgtest.check(docs, 'the unit has no Documentation=')
        for url in docs[0].split():
            if url.startswith('file://'):
                installed(url[len('file://'):])
        # The schema docs/xml.md tells people to use is the installed one.
        with open(os.path.join(os.environ['BLOCKGRAPH_SOURCE_ROOT'], 'docs', 'xml.md')) as f:
            named = re.findall(r'(/usr/share/blockgraph/\S+\.rng)', f.read())
        bgtest.check(named, 'docs/xml.md names no schema path')
        if prefix == '/usr':
            for path in named:
                installed(path)
            installed('/usr/share/dbus-1/system.d/org.blockgraph.BlockGraph1.conf')


bgtest.run(main)
