/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A sandbox for the harnesses that drive the graph with XML: a scratch
 * folder of small images (raw and qcow2) restored before every input, a
 * fixed set of nodes to refer to, and every "filename" an input names
 * redirected into the scratch folder, so that no input reaches a file
 * outside it.  Log output is dropped; a g_critical aborts (a bug).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "graph/spec.h"

/*
 * Creates the scratch folder (once) and restores its files: all of them if
 * the graph is empty, else those fuzz_spec_sandbox pointed the input at
 * (call it first) that the baseline nodes do not hold.
 */
void fuzz_graph_begin(void);

/* Adds the baseline nodes (null0, file0, raw0, qf0, q0) if the graph is empty. */
void fuzz_graph_baseline(void);

/*
 * Points every filename in spec and its inline children into the scratch
 * folder; fuzz_graph_begin restores those files.
 */
void fuzz_spec_sandbox(BlockdevSpec *spec);

/* graph_co_add_node / graph_co_reopen in a coroutine on the loop. */
bool fuzz_graph_add(const BlockdevSpec *spec);
bool fuzz_graph_reopen(GPtrArray *specs);

/* Removes the nodes the baseline does not have (all nodes if every is true). */
void fuzz_graph_clear(bool every);

/* The NUL-separated parts of an input as strings (g_strfreev). */
char **fuzz_split(const uint8_t *data, size_t size);
