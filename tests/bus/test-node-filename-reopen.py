#!/usr/bin/python3
# Filename of a format node follows its file child: a reopen that replaces
# the file changes it (and that of a node above), with PropertiesChanged.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    with bgtest.Daemon() as d:
        paths = {}
        for name in ('a', 'b'):
            paths[name] = os.path.join(d.tmpdir, name + '.img')
            with open(paths[name], 'wb') as f:
                f.truncate(1 << 20)
            d.manager.AddNode('<blockdev driver="file" node-name="f%s" filename="%s"/>'
                              % (name, paths[name]))
        d.manager.AddNode('<blockdev driver="raw" node-name="r"><file ref="fa"/></blockdev>')
        d.manager.AddNode('<blockdev driver="raw" node-name="top"><file ref="r"/></blockdev>')
        bgtest.check_equal(str(d.node_props('r')['Filename']), paths['a'], 'before')
        bgtest.check_equal(str(d.node_props('top')['Filename']), paths['a'], 'top before')

        sig = d.signals()
        d.node('r').Reopen('<blockdev driver="raw"><file ref="fb"/></blockdev>')
        bgtest.check_equal(str(d.node_props('r')['Filename']), paths['b'], 'after the reopen')
        bgtest.check_equal(str(d.node_props('top')['Filename']), paths['b'], 'top after')
        for node in ('r', 'top'):
            path = d.node_path(node)
            sig.wait_for(lambda items: any(
                i[1] == 'PropertiesChanged' and str(i[2]) == path and
                str(i[3][1].get('Filename', '')) == paths['b'] for i in items))


bgtest.run(main)
