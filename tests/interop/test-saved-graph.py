#!/usr/bin/python3
# Manager.GetGraph("xml") saved into a configuration folder loads back: a
# 300-deep qcow2 chain (opened from the image headers), a node with an
# unnamed inline child and an NBD export; a second daemon started on the
# folder shows the same graph and serves the same data.
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbdtest
from nbdtest import bgtest

DEPTH = 300
SIZE = 4 * nbdtest.MiB


def layer(tmp, i):
    return os.path.join(tmp, 'layer%03d.qcow2' % i)


def qemu_io_write(img, pattern, offset):
    """Writes 64 KiB into img alone, without opening its backing chain."""
    spec = ('json:{"driver": "qcow2", "backing": null, '
            '"file": {"driver": "file", "filename": "%s"}}' % img)
    nbdtest.run(['qemu-io', '-c', 'write -P %d %d 64k' % (pattern, offset), spec])


def make_chain(tmp):
    """layer000 .. layer299, each backed by the one before; data in three
    layers.  qemu-img makes the base and one overlay; the other overlays are
    copies of it naming their own backing file (names of equal length)."""
    base, first = layer(tmp, 0), layer(tmp, 1)
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, str(SIZE)])
    nbdtest.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', base, '-F', 'qcow2',
                 first, str(SIZE)])
    with open(first, 'rb') as f:
        template = f.read()
    bgtest.check(template.count(base.encode()) == 1, 'backing name in the overlay header')
    for i in range(2, DEPTH):
        with open(layer(tmp, i), 'wb') as f:
            f.write(template.replace(base.encode(), layer(tmp, i - 1).encode()))
    for i, offset, pattern in ((0, 0, 0x11), (DEPTH // 2, 65536, 0x22),
                               (DEPTH - 1, 131072, 0x33)):
        qemu_io_write(layer(tmp, i), pattern, offset)
    return layer(tmp, DEPTH - 1)


def read_export(d, uri, out):
    nbdtest.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', uri, out])
    with open(out, 'rb') as f:
        return f.read()


def graph_state(d):
    nodes = sorted(str(p) for p in d.managed_objects() if '/node/' in p)
    return str(d.manager.GetGraph('xml')), nodes


def main():
    bgtest.need_tool('qemu-img')
    bgtest.need_tool('qemu-io')
    with bgtest.Daemon() as d:
        top = make_chain(d.tmpdir)
        sock = os.path.join(d.tmpdir, 'nbd.sock')
        d.manager.AddNode('<blockdev driver="qcow2" node-name="top">'
                          '<file driver="file" node-name="top-file" filename="%s"/>'
                          '</blockdev>' % top)
        d.manager.AddNode('<blockdev driver="raw" node-name="side">'
                          '<file driver="null-co" size="1M"/></blockdev>')
        _, uri = nbdtest.add_export(d, 'e0', 'top', sock, writable=False)
        first = graph_state(d)
        data = read_export(d, uri, os.path.join(d.tmpdir, 'first.raw'))
        bgtest.check_equal(len(first[1]), 2 * DEPTH + 2, 'nodes in the first daemon')
        bgtest.check('<export' in first[0], 'GetGraph leaves the export out:\n' + first[0])
        bgtest.check(data[0:65536] == b'\x11' * 65536 and data[65536:131072] == b'\x22' * 65536 and
                 data[131072:196608] == b'\x33' * 65536,
                     'chain data as written')

        conf = os.path.join(d.tmpdir, 'conf')
        os.mkdir(conf)
        with open(os.path.join(conf, '10-saved.xml'), 'w') as f:
            f.write(first[0])
        d.stop()    # releases the images' locks

        with bgtest.Daemon(config_dir=conf) as d2:
            bgtest.check('not applied' not in d2.stderr(), d2.stderr())
            second = graph_state(d2)
            bgtest.check_equal(second[0], first[0], 'GetGraph("xml") after loading it')
            bgtest.check_equal(second[1], first[1], 'node objects after loading')
            again = read_export(d2, uri, os.path.join(d2.tmpdir, 'second.raw'))
            bgtest.check(again == data, 'the export serves other data after loading')


bgtest.run(main)
