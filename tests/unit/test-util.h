/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers for unit tests that drive the graph without the bus: each runs
 * one graph operation in a coroutine on the loop and waits for it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "aio/loop.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/io.h"

/* AddNode from a <blockdev> snippet; NULL with *ret_err (or a test failure if ret_err is NULL). */
BlockNode *tu_add_xml(const char *xml, GError **ret_err);
GError *tu_remove(const char *name);
/* Detaches leftover users and removes every node (test teardown). */
void tu_remove_all(void);
/* Reopens with the NULL-terminated snippets in one transaction; returns the error or NULL. */
GError *tu_reopen(const char *first_xml, ...) G_GNUC_NULL_TERMINATED;

BlockChild *tu_attach(BlockNode *node, const char *user, uint64_t perm, GError **ret_err);
void tu_detach(BlockChild *c);

/* A drain begun in a coroutine of its own; done once node_co_drain_begin returned. */
typedef struct TuDrain {
    BlockNode *node;
    bool done;
} TuDrain;

void tu_drain_start(TuDrain *d);

int tu_pread(BlockChild *c, uint64_t offset, void *buf, uint64_t len);
int tu_pwrite(BlockChild *c, uint64_t offset, const void *buf, uint64_t len);

/* assert_error(err, code, fragment): err has that code and message part; frees err. */

/* Every node's GetXML, joined: to show that a failed call changed nothing. */
char *tu_graph_snapshot(void);

/* A temporary file of `size` bytes where byte i is (i / 512 + seed) & 0xff; free with tu_unlink. */
char *tu_pattern_file(uint64_t size, int seed);
void tu_unlink(char *path);

#define assert_error(err, ecode, fragment)                                              \
    do {                                                                               \
        GError *_e = (err);                                                            \
        assert_non_null(_e);                                                           \
        if (!g_error_matches(_e, BG_ERROR, ecode) || !strstr(_e->message, fragment))    \
            fail_msg("unexpected error %s: %s", bg_error_code_name(_e->code), _e->message); \
        g_error_free(_e);                                                              \
    } while (0)
