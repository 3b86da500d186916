#!/usr/bin/python3
# A client that probes before it acts: it reads Manager.Features and the
# Driver objects (DynamicReadOnly, Capabilities, Options' mutability), picks
# the driver that switches read-write on demand, opens a node with
# auto-read-only, and sees Writable follow the first writer and the last one
# leaving; it only asks Reopen to change options Driver.Options calls mutable.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def drivers(d):
    found = {}
    for path, ifaces in d.managed_objects().items():
        if bgtest.DRIVER in ifaces:
            props = ifaces[bgtest.DRIVER]
            found[str(props['Name'])] = props
    return found


def main():
    with bgtest.Daemon() as d:
        features = [str(f) for f in d.props(bgtest.ROOT_PATH, bgtest.MANAGER)['Features']]
        bgtest.check('dynamic-auto-read-only' in features, 'Features: %s' % features)
        bgtest.check('blockdev-reopen' in features, 'Features: %s' % features)

        drv = drivers(d)
        dynamic = sorted(n for n, p in drv.items() if bool(p['DynamicReadOnly']))
        bgtest.check_equal(dynamic, ['file', 'host_device', 'rbd'], 'drivers with DynamicReadOnly')
        file_caps = [str(c) for c in drv['file']['Capabilities']]
        raw_caps = [str(c) for c in drv['raw']['Capabilities']]
        bgtest.check('dynamic-read-only' in file_caps and 'locking' in file_caps, file_caps)
        bgtest.check('fallback-read-only' in raw_caps and 'reopen' in raw_caps, raw_caps)
        qcow2_caps = [str(c) for c in drv['qcow2']['Capabilities']]
        bgtest.check('backing' in qcow2_caps, qcow2_caps)

        # Act on it: an auto-read-only file node opens read-only ...
        img = os.path.join(d.tmpdir, 'disk.img')
        with open(img, 'wb') as f:
            f.truncate(1 << 20)
        d.manager.AddNode('<blockdev driver="file" node-name="disk" filename="%s" '
                          'auto-read-only="on"/>' % img)
        bgtest.check_equal(bool(d.node_props('disk')['Writable']), False, 'Writable idle')
        sig = d.signals()
        # ... switches when a writer (a writable export) attaches ...
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        export = d.manager.AddExport('<export type="nbd" id="e0" node-name="disk" '
                                     'writable="on"><server type="unix" path="%s"/></export>'
                                     % sock)
        bgtest.check_equal(bool(d.node_props('disk')['Writable']), True, 'Writable with writer')
        path = d.node_path('disk')
        sig.wait_for(lambda items: any(i[1] == 'PropertiesChanged' and str(i[2]) == path
                                       and 'Writable' in i[3][1] for i in items))
        users = d.node_props('disk')['Users']
        bgtest.check(any(str(u[0]) == 'export:e0' and 'write' in [str(p) for p in u[2]]
                         for u in users), 'Users: %s' % users)
        # ... and back when the last writer leaves.
        bgtest.remove_export_safe(d, export)
        bgtest.check_equal(bool(d.node_props('disk')['Writable']), False, 'Writable after')

        # Options' mutability decides what a client may reopen.
        opts = {str(o[0]): bool(o[3]) for o in drv['file']['Options']}
        bgtest.check_equal((opts['filename'], opts['cache.no-flush']), (False, True),
                           'mutability of filename, cache.no-flush')
        d.node('disk').Reopen('<blockdev driver="file" filename="%s" auto-read-only="on" '
                              'discard="unmap"><cache no-flush="on"/></blockdev>' % img)
        xml = str(d.node('disk').GetXML())
        bgtest.check('no-flush="on"' in xml and 'discard="unmap"' in xml, xml)


bgtest.run(main)
