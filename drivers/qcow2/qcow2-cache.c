/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Write-back cache of metadata tables (L2 slices, refcount blocks).
 *
 * Entries are keyed by their host offset.  The cache is only used under the
 * image lock (s->lock), so it needs no locking of its own; an entry is
 * pinned (refs > 0) while a caller holds its table.  Before a dirty entry is
 * written, the cache it depends on is written and the file flushed: that is
 * how a refcount increment reaches the disk before the L2 entry that makes
 * use of the cluster.
 */

#include <errno.h>
#include <string.h>

#include "drivers/qcow2/qcow2.h"

typedef struct Qcow2CacheEntry {
    uint64_t offset;            /* 0: empty slot */
    void *table;
    unsigned refs;
    bool dirty;
    uint64_t lru;               /* last use, for eviction */
    bool used_since_clean;
} Qcow2CacheEntry;

struct Qcow2Cache {
    Qcow2State *s;
    Qcow2CacheEntry *entries;
    unsigned n;
    uint64_t entry_size;
    uint64_t lru_counter;
    GHashTable *index;          /* offset (uint64_t*) -> Qcow2CacheEntry* */
    GHashTable *by_table;       /* table memory -> Qcow2CacheEntry* */
    Qcow2Cache *depends;        /* write this one first */
    unsigned overlap_kind;      /* QCOW2_OL_* of what the entries are */
};

Qcow2Cache *qcow2_cache_new(Qcow2State *s, unsigned entries, uint64_t entry_size,
                            unsigned overlap_kind)
{
    Qcow2Cache *c = g_new0(Qcow2Cache, 1);
    c->s = s;
    c->n = MAX(entries, 2u);
    c->entry_size = entry_size;
    c->overlap_kind = overlap_kind;
    c->entries = g_new0(Qcow2CacheEntry, c->n);   /* tables allocated on first use */
    c->index = g_hash_table_new(g_int64_hash, g_int64_equal);
    c->by_table = g_hash_table_new(g_direct_hash, g_direct_equal);
    return c;
}

void qcow2_cache_free(Qcow2Cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->n; i++)
        g_free(c->entries[i].table);
    g_hash_table_unref(c->index);
    g_hash_table_unref(c->by_table);
    g_free(c->entries);
    g_free(c);
}

uint64_t qcow2_cache_entry_size(const Qcow2Cache *c)
{
    return c->entry_size;
}

void qcow2_cache_depends_on(Qcow2Cache *c, Qcow2Cache *dep)
{
    if (qcow2_cache_has_dirty(dep))
        c->depends = dep;
}

bool qcow2_cache_has_dirty(const Qcow2Cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].dirty)
            return true;
    }
    return false;
}

static int coroutine_fn cache_write_dependency(Qcow2Cache *c)
{
    if (!c->depends)
        return 0;
    Qcow2Cache *dep = c->depends;
    int ret = qcow2_cache_write(dep);
    if (ret < 0)
        return ret;
    ret = qcow2_file_flush(c->s);
    if (ret < 0)
        return ret;
    c->depends = NULL;
    return 0;
}

static int coroutine_fn cache_write_entry(Qcow2Cache *c, Qcow2CacheEntry *e)
{
    if (!e->dirty)
        return 0;
    int ret = cache_write_dependency(c);
    if (ret < 0)
        return ret;
    ret = qcow2_check_overlap(c->s, e->offset, c->entry_size, c->overlap_kind);
    if (ret < 0)
        return ret;
    /* A concurrent user may modify the table while it is written; it stays dirty then. */
    e->dirty = false;
    ret = qcow2_file_pwrite(c->s, e->offset, c->entry_size, e->table);
    if (ret < 0)
        e->dirty = true;
    return ret;
}

int coroutine_fn qcow2_cache_write(Qcow2Cache *c)
{
    int result = 0;
    for (unsigned i = 0; i < c->n; i++) {
        int ret = cache_write_entry(c, &c->entries[i]);
        if (ret < 0 && result == 0)
            result = ret;
    }
    return result;
}

static Qcow2CacheEntry *cache_find(Qcow2Cache *c, uint64_t offset)
{
    return g_hash_table_lookup(c->index, &offset);
}

/* Empties a slot (its table memory stays for reuse unless freed by the caller). */
static void cache_unset(Qcow2Cache *c, Qcow2CacheEntry *e)
{
    if (e->offset)
        g_hash_table_remove(c->index, &e->offset);
    e->offset = 0;
    e->dirty = false;
}

static void cache_set(Qcow2Cache *c, Qcow2CacheEntry *e, uint64_t offset)
{
    e->offset = offset;
    g_hash_table_insert(c->index, &e->offset, e);
}

/* Picks a victim slot: an empty one, else the least recently used unpinned one. */
static coroutine_fn int cache_evict(Qcow2Cache *c, Qcow2CacheEntry **ret_e)
{
    Qcow2CacheEntry *best = NULL;
    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->refs)
            continue;
        if (!e->offset) {
            best = e;
            break;
        }
        if (!best || e->lru < best->lru)
            best = e;
    }
    if (!best)
        return -ENOSPC;     /* every slot pinned: a bug in the callers */
    int ret = cache_write_entry(c, best);
    if (ret < 0)
        return ret;
    cache_unset(c, best);
    if (!best->table) {
        best->table = g_malloc(c->entry_size);
        g_hash_table_insert(c->by_table, best->table, best);
    }
    *ret_e = best;
    return 0;
}

static int coroutine_fn cache_do_get(Qcow2Cache *c, uint64_t offset, bool read,
                                     void **ret_table)
{
    Qcow2CacheEntry *e = cache_find(c, offset);
    if (!e) {
        int ret = cache_evict(c, &e);
        if (ret < 0)
            return ret;
        e->refs++;  /* pinned while loading */
        if (read) {
            ret = qcow2_file_pread(c->s, offset, c->entry_size, e->table);
        } else {
            memset(e->table, 0, c->entry_size);
        }
        e->refs--;
        if (ret < 0)
            return ret;
        /* Someone may have loaded the same table meanwhile (cannot happen under s->lock). */
        cache_set(c, e, offset);
    }
    e->refs++;
    e->lru = ++c->lru_counter;
    e->used_since_clean = true;
    *ret_table = e->table;
    return 0;
}

int coroutine_fn qcow2_cache_get(Qcow2Cache *c, uint64_t offset, void **ret_table)
{
    return cache_do_get(c, offset, true, ret_table);
}

int coroutine_fn qcow2_cache_get_empty(Qcow2Cache *c, uint64_t offset, void **ret_table)
{
    Qcow2CacheEntry *e = cache_find(c, offset);
    if (e) {
        memset(e->table, 0, c->entry_size);
        e->refs++;
        e->lru = ++c->lru_counter;
        *ret_table = e->table;
        return 0;
    }
    return cache_do_get(c, offset, false, ret_table);
}

static Qcow2CacheEntry *cache_entry_of(Qcow2Cache *c, const void *table)
{
    Qcow2CacheEntry *e = g_hash_table_lookup(c->by_table, table);
    g_assert(e);
    return e;
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    Qcow2CacheEntry *e = cache_entry_of(c, *table);
    g_assert(e->refs > 0);
    e->refs--;
    *table = NULL;
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, void *table)
{
    cache_entry_of(c, table)->dirty = true;
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset, uint64_t len)
{
    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->offset && e->offset >= offset && e->offset < offset + len && !e->refs)
            cache_unset(c, e);
    }
}

void qcow2_cache_clean_unused(Qcow2Cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->entries[i];
        if (e->offset && !e->refs && !e->dirty && !e->used_since_clean) {
            cache_unset(c, e);
            g_hash_table_remove(c->by_table, e->table);
            g_clear_pointer(&e->table, g_free);
        }
        e->used_since_clean = false;
    }
}
