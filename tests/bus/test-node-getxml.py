#!/usr/bin/python3
# Node.GetXML: the full option set with children by reference; feeding it
# back to AddNode after RemoveNode reproduces the same node and XML.
import os
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'harness'))
import bgtest


def main():
    with bgtest.Daemon() as d:
        d.manager.AddNode('<blockdev driver="null-co" node-name="base" size="32M" '
                          'read-zeroes="on"/>')
        d.manager.AddNode('<blockdev driver="raw" node-name="top" offset="4096" size="1M" '
                          'discard="unmap"><file ref="base"/></blockdev>')
        graph_before = d.graph_xml()
        xmls = {n: str(d.node(n).GetXML()) for n in ('base', 'top')}
        props = {n: d.node_props(n) for n in ('base', 'top')}
        top = xmls['top']
        bgtest.check('node-name="top"' in top, 'GetXML names the node: ' + top)
        bgtest.check('ref="base"' in top, 'child by reference: ' + top)
        bgtest.check('discard="unmap"' in top, 'option kept: ' + top)
        bgtest.check('read-only="off"' in top, 'defaults written: ' + top)

        d.manager.RemoveNode('top')
        d.manager.RemoveNode('base')
        bgtest.check('node-name' not in d.graph_xml(), 'graph empty: ' + d.graph_xml())
        d.manager.AddNode(xmls['base'])
        d.manager.AddNode(xmls['top'])
        for n in ('base', 'top'):
            bgtest.check_equal(str(d.node(n).GetXML()), xmls[n], '%s GetXML round trip' % n)
            bgtest.check_equal(d.node_props(n), props[n], '%s properties round trip' % n)
        bgtest.check_equal(d.graph_xml(), graph_before, 'GetGraph xml round trip')


bgtest.run(main)
