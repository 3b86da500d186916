/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for Manager.AddExport's parser: the input is an
 * <export> snippet; what parses is also described as the listener key.
 */

#include "fuzz/fuzz-bus.h"
#include "xml/export-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_bus_string_ok(data, size))
        return 0;

    g_autoptr(GError) err = NULL;
    g_autoptr(ExportSpec) spec = export_parse_xml((const char *)data, size, "<bus>", &err);

    if (spec)
        g_free(export_server_describe(&spec->server));
    return 0;
}
