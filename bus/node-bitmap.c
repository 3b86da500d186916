/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The dirty-bitmap part of org.blockgraph.BlockGraph1.Node: the Bitmaps
 * property and AddBitmap ... MergeBitmaps (graph/bitmap-action.h does the
 * work; these turn arguments and errors into D-Bus).
 */

#include "aio/loop.h"
#include "bus/bus.h"
#include "bus/node-bitmap.h"
#include "graph/bitmap-action.h"

int bus_node_get_bitmaps(sd_bus *bus, const char *path, const char *interface,
                         const char *property, sd_bus_message *reply, void *userdata,
                         sd_bus_error *ret_error)
{
    BlockNode *node = userdata;
    int r;

    /* Dirty counts and words change with the iothread's writes: read them between its dispatches. */
    if (node->loop && node_bitmaps(node))
        aio_loop_acquire(node->loop);
    r = sd_bus_message_open_container(reply, 'a', "(sutbbbb)");

    for (GList *l = node_bitmaps(node); r >= 0 && l; l = l->next) {
        const DirtyBitmap *bm = l->data;

        r = sd_bus_message_append(reply, "(sutbbbb)", bm->name, bm->granularity,
                                  bitmap_dirty_bytes(bm), (int)bitmap_recording(bm),
                                  (int)bm->persistent, (int)(bm->busy > 0),
                                  (int)bm->inconsistent);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* Runs a transaction of one verb; replies or sets the error. */
static int finish(sd_bus_message *m, Transaction *tran, bool ok, GError *err,
                  sd_bus_error *ret_error)
{
    g_autoptr(GError) e = err;

    tran_finish(tran, ok);
    if (!ok)
        return bus_error_set_gerror(ret_error, e);
    return sd_bus_reply_method_return(m, "");
}

int bus_node_method_add_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const char *name;
    uint32_t granularity;
    int persistent, disabled;
    GError *err = NULL;
    int r = sd_bus_message_read(m, "subb", &name, &granularity, &persistent, &disabled);

    if (r < 0)
        return r;
    Transaction *tran = tran_new();
    bool ok = node_bitmap_add(userdata, name, granularity, persistent, disabled, tran, &err);
    return finish(m, tran, ok, err, ret_error);
}

/* RemoveBitmap, ClearBitmap, EnableBitmap, DisableBitmap: one name each. */
typedef enum BitmapVerb { VERB_REMOVE, VERB_CLEAR, VERB_ENABLE, VERB_DISABLE } BitmapVerb;

static int one_name_verb(sd_bus_message *m, BlockNode *node, BitmapVerb verb,
                         sd_bus_error *ret_error)
{
    const char *name;
    GError *err = NULL;
    bool ok = false;
    int r = sd_bus_message_read(m, "s", &name);

    if (r < 0)
        return r;
    Transaction *tran = tran_new();
    switch (verb) {
    case VERB_REMOVE: ok = node_bitmap_remove(node, name, tran, &err); break;
    case VERB_CLEAR: ok = node_bitmap_clear(node, name, tran, &err); break;
    case VERB_ENABLE: ok = node_bitmap_enable(node, name, true, tran, &err); break;
    case VERB_DISABLE: ok = node_bitmap_enable(node, name, false, tran, &err); break;
    }
    return finish(m, tran, ok, err, ret_error);
}

int bus_node_method_remove_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    return one_name_verb(m, userdata, VERB_REMOVE, ret_error);
}

int bus_node_method_clear_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    return one_name_verb(m, userdata, VERB_CLEAR, ret_error);
}

int bus_node_method_enable_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    return one_name_verb(m, userdata, VERB_ENABLE, ret_error);
}

int bus_node_method_disable_bitmap(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    return one_name_verb(m, userdata, VERB_DISABLE, ret_error);
}

int bus_node_method_merge_bitmaps(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const char *target;
    g_auto(GStrv) sources = NULL;
    GError *err = NULL;
    int r = sd_bus_message_read(m, "s", &target);

    if (r >= 0)
        r = sd_bus_message_read_strv(m, &sources);
    if (r < 0)
        return r;
    Transaction *tran = tran_new();
    bool ok = node_bitmap_merge(userdata, target, (const char *const *)sources, tran, &err);
    return finish(m, tran, ok, err, ret_error);
}
