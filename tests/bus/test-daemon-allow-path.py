#!/usr/bin/python3
# <allow-path> in the configuration folder confines every path a caller can
# make the daemon open: node filenames (symlinks resolved first, '..' and
# look-alike prefixes outside, relative paths refused), backing files named
# in qcow2 headers (one naming /etc/passwd is refused, naming it), and export
# socket paths.  Refusals are AccessDenied naming the path; nothing is added.
import os
import shutil
import subprocess
import sys
import tempfile
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def qemu_img(*args):
    subprocess.run(['qemu-img'] + list(args), check=True, capture_output=True, timeout=60)


def file_xml(name, path):
    return ('<blockdev driver="file" node-name="%s" filename="%s" read-only="on"/>'
            % (name, path))


def qcow2_xml(name, path):
    return ('<blockdev driver="qcow2" node-name="%s" read-only="on">'
            '<file driver="file" filename="%s" read-only="on"/></blockdev>' % (name, path))


def denied(d, xml, path):
    e = bgtest.expect_error('AccessDenied', d.manager.AddNode, xml)
    bgtest.check("'%s'" % path in e.get_dbus_message(), 'error names %s: %s'
                  % (path, e.get_dbus_message()))


def nodes(d):
    return sorted(str(p).rsplit('/', 1)[1] for p in d.managed_objects() if '/node/' in p)


def make_files(top):
    allowed = os.path.join(top, 'allowed')
    os.mkdir(allowed)
    os.mkdir(allowed + '-evil')
    with open(os.path.join(allowed, 'a.raw'), 'wb') as f:
        f.truncate(1 << 20)
    with open(os.path.join(allowed + '-evil', 'b.raw'), 'wb') as f:
        f.truncate(1 << 20)
    with open(os.path.join(top, 'outside.raw'), 'wb') as f:
        f.truncate(1 << 20)
    os.symlink('/etc/passwd', os.path.join(allowed, 'link'))
    qemu_img('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/passwd', '-F', 'raw',
             os.path.join(allowed, 'passwd.qcow2'), '1M')
    qemu_img('create', '-q', '-f', 'qcow2', '-u', '-b', '../outside.raw', '-F', 'raw',
             os.path.join(allowed, 'up.qcow2'), '1M')
    qemu_img('create', '-q', '-f', 'qcow2', '-u', '-b', 'a.raw', '-F', 'raw',
             os.path.join(allowed, 'good.qcow2'), '1M')
    return allowed


def check_nodes(d, top, allowed):
    d.manager.AddNode(file_xml('ok', os.path.join(allowed, 'a.raw')))
    denied(d, file_xml('p', '/etc/passwd'), '/etc/passwd')
    denied(d, file_xml('l', os.path.join(allowed, 'link')), os.path.join(allowed, 'link'))
    denied(d, file_xml('u', allowed + '/../outside.raw'), allowed + '/../outside.raw')
    denied(d, file_xml('e', allowed + '-evil/b.raw'), allowed + '-evil/b.raw')
    e = bgtest.expect_error('InvalidArgument', d.manager.AddNode, file_xml('r', 'a.raw'))
    bgtest.check('Relative path' in e.get_dbus_message(), e.get_dbus_message())
    # Backing files named in image headers.
    denied(d, qcow2_xml('q1', os.path.join(allowed, 'passwd.qcow2')), '/etc/passwd')
    denied(d, qcow2_xml('q2', os.path.join(allowed, 'up.qcow2')), allowed + '/../outside.raw')
    d.manager.AddNode(qcow2_xml('q3', os.path.join(allowed, 'good.qcow2')))
    bgtest.check_equal(int(d.node_props('q3')['Size']), 1 << 20, 'size of the good overlay')
    bgtest.check(all(n.startswith('ok') or n.startswith('q3') or n.startswith('_')
                     for n in nodes(d)), 'nodes after refusals: %s' % nodes(d))


def check_sockets(d, top, allowed):
    def export(eid, path):
        return ('<export type="nbd" id="%s" node-name="ok"><server type="unix" path="%s"/>'
                '</export>' % (eid, path))
    e = bgtest.expect_error('AccessDenied', d.manager.AddExport,
                            export('e1', os.path.join(top, 'out.sock')))
    bgtest.check(os.path.join(top, 'out.sock') in e.get_dbus_message(), e.get_dbus_message())
    os.symlink(top, os.path.join(allowed, 'up'))
    bgtest.expect_error('AccessDenied', d.manager.AddExport,
                        export('e2', os.path.join(allowed, 'up', 'via-link.sock')))
    bgtest.check(not os.path.exists(os.path.join(top, 'via-link.sock')), 'no socket outside')
    d.manager.AddExport(export('e3', os.path.join(allowed, 'in.sock')))
    bgtest.check(os.path.exists(os.path.join(allowed, 'in.sock')), 'socket inside')


def check_system_defaults(top, allowed):
    """Without <allow-path>, the system bus is confined to the short default list
    (--check-config runs as on the system bus); a session bus is not."""
    conf = os.path.join(top, 'conf-default')
    os.mkdir(conf)
    with open(os.path.join(conf, '10-node.xml'), 'w') as f:
        f.write('<blockgraph>%s</blockgraph>' % file_xml('n', os.path.join(allowed, 'a.raw')))
    rc, out, err = bgtest.run_daemon_once(['--check-config', '--config-dir=' + conf])
    bgtest.check(rc != 0 and 'outside the allowed paths (/var/lib/blockgraph, /run/blockgraph)'
                 in err, 'system defaults: rc %d %s' % (rc, err))
    rc, out, err = bgtest.run_daemon_once(['--session', '--check-config', '--config-dir=' + conf])
    bgtest.check_equal(rc, 0, 'session bus, unrestricted: %s' % err)


def main():
    bgtest.need_tool('qemu-img')
    top = os.path.realpath(tempfile.mkdtemp(prefix='bgtest-allow-'))
    try:
        allowed = make_files(top)
        conf = os.path.join(top, 'conf')
        os.mkdir(conf)
        with open(os.path.join(conf, '10-allow.xml'), 'w') as f:
            f.write('<blockgraph><allow-path>%s</allow-path></blockgraph>' % allowed)
        with bgtest.Daemon(config_dir=conf) as d:
            features = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
            bgtest.check('allow-path' in features, 'Features: %s' % features)
            check_nodes(d, top, allowed)
            check_sockets(d, top, allowed)
        check_system_defaults(top, allowed)
    finally:
        shutil.rmtree(top, ignore_errors=True)


bgtest.run(main)
