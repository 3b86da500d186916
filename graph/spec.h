/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A parsed <blockdev> snippet before it meets the graph: raw option texts
 * (dotted names for nested groups) and child links by role.  xml/ produces
 * it; graph/ validates the options against the driver tables and builds
 * nodes from it.
 */

#include <glib.h>

typedef enum ChildSpecKind {
    CHILD_SPEC_INLINE,      /* <file driver="file" .../>: a new node */
    CHILD_SPEC_REF,         /* <backing ref="base0"/>: an existing node */
    CHILD_SPEC_NONE,        /* <backing/>: explicitly no child */
} ChildSpecKind;

typedef struct BlockdevSpec BlockdevSpec;

typedef struct ChildSpec {
    char *role;
    ChildSpecKind kind;
    char *ref;                  /* CHILD_SPEC_REF */
    BlockdevSpec *inline_spec;  /* CHILD_SPEC_INLINE */
    int line;
} ChildSpec;

struct BlockdevSpec {
    GHashTable *options;        /* char* name -> char* text, owned */
    GPtrArray *children;        /* ChildSpec*, owned, document order */
    char *source;               /* file name or "<bus>" for messages; may be NULL */
    int line;                   /* line of the element, 0 if unknown */
};

BlockdevSpec *blockdev_spec_new(void);
void blockdev_spec_free(BlockdevSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BlockdevSpec, blockdev_spec_free)

void blockdev_spec_set(BlockdevSpec *spec, const char *name, const char *value);
const char *blockdev_spec_get(const BlockdevSpec *spec, const char *name);
ChildSpec *blockdev_spec_add_child(BlockdevSpec *spec, const char *role,
                                   ChildSpecKind kind);
const ChildSpec *blockdev_spec_find_child(const BlockdevSpec *spec, const char *role);

/*
 * Defaults a node defined inline takes from being a child, as QEMU's
 * inherited options: a storage child (not backing) defaults to
 * discard=unmap, because its parent decides which discards to pass down.
 * Options the snippet sets win.
 */
void child_spec_apply_inherited_defaults(const ChildSpec *cs);
