#!/usr/bin/python3
# meson install --destdir: the daemon, the D-Bus policy and activation file
# where the system bus reads them (for prefix /usr, the default), the unit
# whose Documentation= names an installed page, the docs, the RelaxNG schema
# that docs/xml.md names, the examples and the man page; the polkit actions.
# The unit is Type=notify with BusName=, sandboxed with the system bus's
# default allowed paths writable, and `systemd-analyze verify` has nothing to
# say about it (when systemd-analyze is installed).
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


SRC = os.environ.get('BLOCKGRAPH_SOURCE_ROOT',
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def default_allowed_paths():
    with open(os.path.join(SRC, 'policy', 'allow-path.h')) as f:
        m = re.search(r'#define ALLOW_PATH_SYSTEM_DEFAULTS \{(.*?)NULL \}', f.read())
    bgtest.check(m, 'ALLOW_PATH_SYSTEM_DEFAULTS not found')
    return re.findall(r'"([^"]+)"', m.group(1))


def unit_settings(text):
    settings = {}
    for line in text.splitlines():
        if '=' in line and not line.startswith('#'):
            key, value = line.split('=', 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def check_unit(unit, daemon):
    with open(unit) as f:
        text = f.read()
    s = unit_settings(text)
    for key, want in [('Type', 'notify'), ('BusName', 'org.blockgraph.BlockGraph1'),
                      ('ProtectSystem', 'strict'), ('PrivateTmp', 'yes'),
                      ('ProtectHome', 'yes'), ('NoNewPrivileges', 'yes')]:
        bgtest.check_equal(s.get(key), [want], 'unit ' + key)
    bgtest.check('CapabilityBoundingSet' in s, 'the unit has no CapabilityBoundingSet=')
    writable = ' '.join(s.get('ReadWritePaths', [])).replace('-/', '/').split()
    for path in default_allowed_paths():
        bgtest.check(path in writable, 'allowed path %s is not in ReadWritePaths=' % path)
    analyze = shutil.which('systemd-analyze')
    if not analyze:
        print('systemd-analyze not installed: unit not verified')
        return
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, 'blockgraphd.service')
        with open(copy, 'w') as f:      # verify wants an ExecStart= that exists
            f.write(re.sub(r'^ExecStart=\S+', 'ExecStart=' + daemon, text, flags=re.M))
        p = subprocess.run([analyze, 'verify', '--man=no', copy], capture_output=True,
                           text=True, timeout=60)
        out = (p.stdout + p.stderr).strip()
        bgtest.check(p.returncode == 0 and not out, 'systemd-analyze verify:\n' + out)
        p = subprocess.run([analyze, 'security', '--offline=true', copy], capture_output=True,
                           text=True, timeout=60)
        score = re.findall(r'Overall exposure level.*', p.stdout)
        print('systemd-analyze security: %s' % (score[0] if score else p.stderr.strip()))


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

        daemon = installed(os.path.join(prefix, buildoption('sbindir'), 'blockgraphd'))
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
        check_unit(unit, daemon)
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
