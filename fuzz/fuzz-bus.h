/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a bus call can carry: a D-Bus string is valid UTF-8 without NUL
 * bytes, and sd-bus refuses a message with any other string before a
 * method sees it.  The harnesses of bus calls return at once on other
 * input (the config harness, whose input is a file, takes any bytes).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

static inline bool fuzz_bus_string_ok(const uint8_t *data, size_t size)
{
    return g_utf8_validate((const char *)data, (gssize)size, NULL);
}
