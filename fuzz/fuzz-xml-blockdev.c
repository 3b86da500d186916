/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for Manager.AddNode: the input is a <blockdev> snippet.
 * It is parsed as the bus parses it, its filenames are pointed into the
 * sandbox (fuzz-graph.h), and it is added to a graph that holds the
 * baseline nodes (null0, file0, raw0, qf0, q0) to refer to.  Every node's
 * GetXML must then parse again as a <blockdev>.  Whatever the input added
 * is removed afterwards.
 */

#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fuzz-bus.h"
#include "fuzz/fuzz-graph.h"
#include "graph/graph.h"
#include "xml/blockdev-parse.h"
#include "xml/node-write.h"

/* GetXML of every node must be a snippet that parses. */
static void check_get_xml(void)
{
    for (GList *l = graph_nodes(); l; l = l->next) {
        g_autofree char *xml = node_to_xml(l->data);
        g_autoptr(GError) err = NULL;
        g_autoptr(BlockdevSpec) spec = blockdev_parse_xml(xml, -1, "<bus>", &err);
        if (!spec) {
            fprintf(stderr, "GetXML does not parse: %s\n%s\n", err->message, xml);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;

    if (!fuzz_bus_string_ok(data, size))
        return 0;
    g_autoptr(BlockdevSpec) spec = blockdev_parse_xml((const char *)data, size, "<bus>", &err);
    if (!spec)
        return 0;
    fuzz_spec_sandbox(spec);
    fuzz_graph_begin();
    fuzz_graph_baseline();
    if (fuzz_graph_add(spec))
        check_get_xml();
    fuzz_graph_clear(false);
    return 0;
}
