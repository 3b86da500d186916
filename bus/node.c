/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Node: one object per graph node under
 * /org/blockgraph/BlockGraph1/node/<encoded node-name>, served by a fallback
 * vtable so that nodes cost nothing on the bus until someone asks.
 */

#include <errno.h>
#include <string.h>

#include "aio/coroutine.h"
#include "bus/bus.h"
#include "bus/node-bitmap.h"
#include "graph/error.h"
#include "graph/graph.h"
#include "graph/io.h"
#include "graph/node.h"
#include "xml/blockdev-parse.h"
#include "xml/node-write.h"

/* ---- objects ------------------------------------------------------------- */

static int node_object_find(sd_bus *bus, const char *path, const char *interface,
                            void *userdata, void **ret_found, sd_bus_error *ret_error)
{
    g_autofree char *name = bus_path_decode(BUS_NODE_PREFIX, path);
    BlockNode *node;

    if (!name) {
        return 0;
    }
    node = graph_lookup(name);
    if (!node) {
        return 0;
    }
    *ret_found = node;
    return 1;
}

static int node_node_enumerator(sd_bus *bus, const char *path, void *userdata,
                                char ***ret_nodes, sd_bus_error *ret_error)
{
    GList *nodes = graph_nodes();
    char **paths = g_new0(char *, g_list_length(nodes) + 1);
    size_t n = 0;

    for (GList *l = nodes; l; l = l->next) {
        paths[n++] = bus_node_path(l->data);
    }
    *ret_nodes = paths;
    return 1;
}

/* ---- properties ---------------------------------------------------------- */

#define NODE_GETTER(fn) \
    static int fn(sd_bus *bus, const char *path, const char *interface, \
                  const char *property, sd_bus_message *reply, \
                  void *userdata, sd_bus_error *ret_error)

/* bool fields (sd-bus's default 'b' getter reads an int). */
NODE_GETTER(property_get_bool_field)
{
    return sd_bus_message_append(reply, "b", (int)*(const bool *)userdata);
}

NODE_GETTER(property_get_driver)
{
    BlockNode *node = userdata;

    return sd_bus_message_append(reply, "s", node_driver_published(node)->name);
}

NODE_GETTER(property_get_size)
{
    return sd_bus_message_append(reply, "t", node_size_published(userdata));
}

NODE_GETTER(property_get_writable)
{
    return sd_bus_message_append(reply, "b", (int)node_takes_writes(userdata));
}

NODE_GETTER(property_get_filename)
{
    BlockNode *node = userdata;

    return sd_bus_message_append(reply, "s", node->filename ? node->filename : "");
}

NODE_GETTER(property_get_failure_reason)
{
    BlockNode *node = userdata;

    const char *failure = node_failure_published(node);

    return sd_bus_message_append(reply, "s", failure ? failure : "");
}

NODE_GETTER(property_get_children)
{
    BlockNode *node = userdata;
    int r;

    r = sd_bus_message_open_container(reply, 'a', "(sso)");
    for (guint i = 0; r >= 0 && i < node->children->len; i++) {
        BlockChild *c = g_ptr_array_index(node->children, i);
        g_autofree char *child_path = bus_node_path(c->node);

        r = sd_bus_message_append(reply, "(sso)", c->role, c->node->name, child_path);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* "node:top", "export:e0", "job:job0". */
static char *node_user_describe(const BlockChild *c)
{
    const char *name = c->user_kind == BLOCK_USER_NODE && c->parent ? c->parent->name
                                                                    : c->user_name;

    return g_strdup_printf("%s:%s", node_user_kind_name(c->user_kind), name ? name : "");
}

static int append_user(sd_bus_message *reply, const BlockChild *c)
{
    g_autofree char *user = node_user_describe(c);
    g_auto(GStrv) taken = block_perm_names(c->perm);
    g_auto(GStrv) shared = block_perm_names(c->shared_perm);
    int r;

    r = sd_bus_message_open_container(reply, 'r', "ssasas");
    if (r >= 0) {
        r = sd_bus_message_append(reply, "ss", user, c->role ? c->role : "");
    }
    if (r >= 0) {
        r = sd_bus_message_append_strv(reply, taken);
    }
    if (r >= 0) {
        r = sd_bus_message_append_strv(reply, shared);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

NODE_GETTER(property_get_users)
{
    BlockNode *node = userdata;
    int r;

    r = sd_bus_message_open_container(reply, 'a', "(ssasas)");
    for (guint i = 0; r >= 0 && i < node->parents->len; i++) {
        r = append_user(reply, g_ptr_array_index(node->parents, i));
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* ---- methods ------------------------------------------------------------- */

static int method_get_xml(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autofree char *xml = node_to_xml(userdata);

    return sd_bus_reply_method_return(m, "s", xml);
}

/*
 * Flush, Resize and SetActive: a temporary internal user holds the node
 * while the call runs, so that it cannot be removed meanwhile (RemoveNode
 * answers Busy naming the call) and the request path has a link to check.
 * The user attaches in the call's coroutine under the graph lock: taking
 * resize may switch the node read-write, which opens its image in the
 * worker pool.
 */
typedef struct NodeCall NodeCall;
typedef int coroutine_fn NodeCallFn(NodeCall *call, GError **errp);

struct NodeCall {
    const char *what;       /* "Flush", for messages */
    const char *role;       /* "flush": the user's role and name */
    uint64_t perm;          /* what the user takes (it shares everything) */
    uint64_t size;          /* Resize */
    bool active;            /* SetActive */
    NodeCallFn *run;
    char *node_name;
    char *user_name;
    BlockChild *user;
};

static void node_call_free(NodeCall *call)
{
    g_free(call->node_name);
    g_free(call->user_name);
    g_free(call);
}

/* Attaches the call's user (refused while the node is being removed), runs it, lets go. */
static int coroutine_fn node_co_call(void *data, char **ret_path, GError **errp)
{
    NodeCall *call = data;
    BlockNode *node;
    int r;

    graph_co_lock();
    node = graph_lookup(call->node_name);
    if (node) {
        call->user = node_attach_user(node, BLOCK_USER_INTERNAL, call->user_name, call->role,
                                      call->perm, BLOCK_PERM_ALL, errp);
    } else {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No node '%s' known", call->node_name);
    }
    graph_unlock();
    if (!call->user) {
        return -ENOENT;
    }
    r = call->run(call, errp);
    if (r < 0 && !*errp) {
        bg_set_error_errno(errp, r, "%s of node '%s' failed", call->what, call->node_name);
    }
    /* May free the node (an inline child whose parent went meanwhile). */
    node_detach_user(call->user);
    return r;
}

static int node_call_start(sd_bus_message *m, BlockNode *node, const NodeCall *tmpl,
                           sd_bus_error *ret_error)
{
    NodeCall *call = g_new(NodeCall, 1);

    *call = *tmpl;
    call->node_name = g_strdup(node->name);
    call->user_name = g_strdup_printf("%s call from %s", tmpl->role,
                                      sd_bus_message_get_sender(m) ?: "?");
    call->user = NULL;
    return bus_call_start(m, call->what, node_co_call, call, (GDestroyNotify)node_call_free);
}

static int coroutine_fn node_co_flush_call(NodeCall *call, GError **errp)
{
    return node_co_flush(call->user);
}

static int method_flush(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    const NodeCall tmpl = { .what = "Flush", .role = "flush", .run = node_co_flush_call };

    return node_call_start(m, userdata, &tmpl, ret_error);
}

static int coroutine_fn node_co_resize_call(NodeCall *call, GError **errp)
{
    return node_co_truncate(call->user, call->size, errp);
}

static int method_resize(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    NodeCall tmpl = { .what = "Resize", .role = "resize", .perm = BLOCK_PERM_RESIZE,
                      .run = node_co_resize_call };
    int r;

    r = sd_bus_message_read(m, "t", &tmpl.size);
    if (r < 0) {
        return r;
    }
    return node_call_start(m, userdata, &tmpl, ret_error);
}

/* The snippet may leave node-name out; naming another node is an error. */
static int method_reopen(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    BlockNode *node = userdata;
    g_autoptr(GError) err = NULL;
    g_autoptr(BlockdevSpec) spec = NULL;
    const char *xml, *name;
    GPtrArray *specs;
    int r;

    r = sd_bus_message_read(m, "s", &xml);
    if (r < 0) {
        return r;
    }
    spec = blockdev_parse_xml(xml, -1, "<bus>", &err);
    if (!spec) {
        return bus_error_set_gerror(ret_error, err);
    }
    name = blockdev_spec_get(spec, "node-name");
    if (!name) {
        blockdev_spec_set(spec, "node-name", node->name);
    } else if (!g_str_equal(name, node->name)) {
        return bus_error_setf(ret_error, BG_ERROR_INVALID_ARGUMENT,
                              "Node.Reopen of node '%s' got a snippet for node '%s' "
                              "(use Manager.ReopenNodes to reopen several nodes)",
                              node->name, name);
    }
    specs = g_ptr_array_new_with_free_func((GDestroyNotify)blockdev_spec_free);
    g_ptr_array_add(specs, g_steal_pointer(&spec));
    return bus_reopen_start(m, specs);
}

static int coroutine_fn node_co_set_active_call(NodeCall *call, GError **errp)
{
    return node_co_set_active(call->user->node, call->active, errp);
}

static int method_set_active(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    /* Takes nothing, shares everything: it only keeps the node while it runs. */
    NodeCall tmpl = { .what = "SetActive", .role = "set-active",
                      .run = node_co_set_active_call };
    int active, r;

    r = sd_bus_message_read(m, "b", &active);
    if (r < 0) {
        return r;
    }
    tmpl.active = active;
    return node_call_start(m, userdata, &tmpl, ret_error);
}

/* ---- signals ------------------------------------------------------------- */

void bus_node_added(BlockNode *node)
{
    g_autofree char *path = bus_node_path(node);

    bus_emit_object_added(path, BUS_INTERFACE_NODE);
}

void bus_node_removed(BlockNode *node)
{
    g_autofree char *path = bus_node_path(node);

    bus_emit_object_removed(path, BUS_INTERFACE_NODE);
}

/* The property that shows each change (all EMITS_CHANGE in the vtable). */
static const char *const node_change_property[NODE_CHANGE_COUNT] = {
    [NODE_CHANGE_DRIVER] = "Driver",
    [NODE_CHANGE_SIZE] = "Size",
    [NODE_CHANGE_READ_ONLY] = "ReadOnly",
    [NODE_CHANGE_AUTO_READ_ONLY] = "AutoReadOnly",
    [NODE_CHANGE_WRITABLE] = "Writable",
    [NODE_CHANGE_ACTIVE] = "Active",
    [NODE_CHANGE_FILENAME] = "Filename",
    [NODE_CHANGE_FAILURE] = "FailureReason",
    [NODE_CHANGE_CHILDREN] = "Children",
    [NODE_CHANGE_USERS] = "Users",
    [NODE_CHANGE_BITMAPS] = "Bitmaps",
};

void bus_node_changed(BlockNode *node, NodeChange change)
{
    g_autofree char *path = bus_node_path(node);

    g_assert(change < NODE_CHANGE_COUNT && node_change_property[change]);
    bus_queue_property_changed(path, BUS_INTERFACE_NODE, node_change_property[change]);
}

/* ---- vtable -------------------------------------------------------------- */

#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

static const sd_bus_vtable node_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("NodeName", "s", NULL, offsetof(BlockNode, name),
                    SD_BUS_VTABLE_PROPERTY_CONST),
    /* Changes when a node fails and switches to the 'error' driver. */
    SD_BUS_PROPERTY("Driver", "s", property_get_driver, 0, CHANGES),
    SD_BUS_PROPERTY("Size", "t", property_get_size, 0, CHANGES),
    SD_BUS_PROPERTY("ReadOnly", "b", property_get_bool_field,
                    offsetof(BlockNode, read_only), CHANGES),
    SD_BUS_PROPERTY("AutoReadOnly", "b", property_get_bool_field,
                    offsetof(BlockNode, auto_read_only), CHANGES),
    SD_BUS_PROPERTY("Writable", "b", property_get_writable, 0, CHANGES),
    SD_BUS_PROPERTY("Active", "b", property_get_bool_field, offsetof(BlockNode, active), CHANGES),
    SD_BUS_PROPERTY("Filename", "s", property_get_filename, 0, CHANGES),
    SD_BUS_PROPERTY("FailureReason", "s", property_get_failure_reason, 0, CHANGES),
    SD_BUS_PROPERTY("Children", "a(sso)", property_get_children, 0, CHANGES),
    SD_BUS_PROPERTY("Users", "a(ssasas)", property_get_users, 0, CHANGES),
    SD_BUS_METHOD_WITH_NAMES("GetXML", "", , "s", SD_BUS_PARAM(xml),
                             method_get_xml, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Flush", "", "", method_flush, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Resize", "t", SD_BUS_PARAM(size), "", ,
                             method_resize, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Reopen", "s", SD_BUS_PARAM(xml), "", ,
                             method_reopen, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("SetActive", "b", SD_BUS_PARAM(active), "", ,
                             method_set_active, SD_BUS_VTABLE_UNPRIVILEGED),
    BUS_NODE_BITMAP_VTABLE,
    SD_BUS_VTABLE_END,
};

int bus_node_register(sd_bus *bus)
{
    return bus_register_fallback(bus, BUS_NODE_PREFIX, BUS_INTERFACE_NODE, node_vtable,
                                 node_object_find, node_node_enumerator);
}
