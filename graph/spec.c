/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph/spec.h"

static void child_spec_free(gpointer p)
{
    ChildSpec *c = p;

    g_free(c->role);
    g_free(c->ref);
    blockdev_spec_free(c->inline_spec);
    g_free(c);
}

BlockdevSpec *blockdev_spec_new(void)
{
    BlockdevSpec *spec = g_new0(BlockdevSpec, 1);

    spec->options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    spec->children = g_ptr_array_new_with_free_func(child_spec_free);
    return spec;
}

void blockdev_spec_free(BlockdevSpec *spec)
{
    if (!spec)
        return;
    g_hash_table_unref(spec->options);
    g_ptr_array_unref(spec->children);
    g_free(spec->source);
    g_free(spec);
}

void blockdev_spec_set(BlockdevSpec *spec, const char *name, const char *value)
{
    g_hash_table_replace(spec->options, g_strdup(name), g_strdup(value));
}

const char *blockdev_spec_get(const BlockdevSpec *spec, const char *name)
{
    return g_hash_table_lookup(spec->options, name);
}

ChildSpec *blockdev_spec_add_child(BlockdevSpec *spec, const char *role, ChildSpecKind kind)
{
    ChildSpec *c = g_new0(ChildSpec, 1);

    c->role = g_strdup(role);
    c->kind = kind;
    if (kind == CHILD_SPEC_INLINE)
        c->inline_spec = blockdev_spec_new();
    g_ptr_array_add(spec->children, c);
    return c;
}

void child_spec_apply_inherited_defaults(const ChildSpec *cs)
{
    if (cs->kind != CHILD_SPEC_INLINE || g_str_equal(cs->role, "backing"))
        return;
    if (!blockdev_spec_get(cs->inline_spec, "discard"))
        blockdev_spec_set(cs->inline_spec, "discard", "unmap");
}

const ChildSpec *blockdev_spec_find_child(const BlockdevSpec *spec, const char *role)
{
    for (guint i = 0; i < spec->children->len; i++) {
        const ChildSpec *c = g_ptr_array_index(spec->children, i);
        if (g_str_equal(c->role, role))
            return c;
    }
    return NULL;
}
