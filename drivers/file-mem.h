/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Zero-copy writes into a file on tmpfs or ramfs (node_co_map_write): the
 * file mapped shared and whole, so that an NBD payload is received straight
 * into its page cache, one kernel copy instead of a copy into a buffer and
 * another out of it.  Only the kernel writes through the mapping.
 */

#include "graph/node.h"
#include "drivers/file-state.h"

/* The driver's write_mem: the mapping of [offset, +bytes), mapped on first use; NULL where not. */
void *file_mem_write(BlockNode *node, uint64_t offset, uint64_t bytes, bool continued);
/* Drops the mapping: the descriptor changes or closes. */
void file_mem_drop(FileState *s);
