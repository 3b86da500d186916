/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for Manager.ReopenNodes: the input is one or more
 * <blockdev> snippets separated by NUL bytes, reopened in one transaction
 * on a fresh baseline graph (fuzz-graph.h: null0, file0, raw0 on file0,
 * qf0, q0 on qf0 with raw0 as backing), filenames pointed into the sandbox.
 * The graph is taken down after every reopen that succeeded.
 */

#include <string.h>

#include "fuzz/fuzz-bus.h"
#include "fuzz/fuzz-graph.h"
#include "graph/graph.h"
#include "xml/blockdev-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_auto(GStrv) parts = fuzz_split(data, size);
    g_autoptr(GError) err = NULL;

    for (char **p = parts; *p; p++)
        if (!fuzz_bus_string_ok((const uint8_t *)*p, strlen(*p)))
            return 0;
    g_autoptr(GPtrArray) specs = blockdev_parse_xml_list((const char *const *)parts, &err);
    if (!specs)
        return 0;       /* the bus refuses the call before the graph sees it */
    for (guint i = 0; i < specs->len; i++)
        fuzz_spec_sandbox(g_ptr_array_index(specs, i));
    if (!specs->len)
        return 0;
    fuzz_graph_begin();
    fuzz_graph_baseline();
    /* A failed reopen changes nothing: the baseline serves the next input. */
    fuzz_graph_clear(fuzz_graph_reopen(specs));
    return 0;
}
