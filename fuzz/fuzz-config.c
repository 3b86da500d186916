/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for configuration files: the input is a whole
 * <blockgraph> document.  It is parsed as start-up parses a file, then its
 * <blockdev> items are added in order (filenames pointed into the sandbox
 * of fuzz-graph.h) until one fails, as start-up applies a file; exports are
 * only parsed (a listener is no business of a fuzzer).  What the input
 * added is removed afterwards.
 */

#include "fuzz/fuzz-graph.h"
#include "graph/graph.h"
#include "xml/config-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(ConfigFile) file = config_file_parse((const char *)data, size, "fuzz.xml", &err);

    if (!file)
        return 0;
    for (guint i = 0; i < file->items->len; i++) {
        ConfigItem *item = g_ptr_array_index(file->items, i);
        if (item->kind == CONFIG_ITEM_BLOCKDEV)
            fuzz_spec_sandbox(item->blockdev);
    }
    fuzz_graph_begin();
    fuzz_graph_baseline();
    for (guint i = 0; i < file->items->len; i++) {
        ConfigItem *item = g_ptr_array_index(file->items, i);
        if (item->kind == CONFIG_ITEM_EXPORT) {
            g_free(export_server_describe(&item->export->server));
            continue;
        }
        /* A <disk> is only parsed: adding it would open the files it names. */
        if (item->kind != CONFIG_ITEM_BLOCKDEV)
            continue;
        if (!fuzz_graph_add(item->blockdev))
            break;
    }
    fuzz_graph_clear(false);
    return 0;
}
