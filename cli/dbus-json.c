/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: any D-Bus value as a JSON value: numbers, booleans and strings as
 * such, arrays and structs as arrays, dictionaries as objects (keys as
 * strings), variants as what they hold.  --json prints these, and the
 * tables read the same objects, so both show the daemon's own properties. */
#include <errno.h>
#include <string.h>

#include "bgctl.h"

static int read_basic(sd_bus_message *m, char type, JsonNode **ret)
{
    union {
        uint8_t y; int16_t n; uint16_t q; int32_t i; uint32_t u;
        int64_t x; uint64_t t; double d; int b; const char *s;
    } v;
    JsonNode *node = json_node_new(JSON_NODE_VALUE);
    int r = sd_bus_message_read_basic(m, type, &v);

    if (r <= 0) {
        json_node_unref(node);
        return r < 0 ? r : -EBADMSG;
    }
    switch (type) {
    case 'y': json_node_set_int(node, v.y); break;
    case 'n': json_node_set_int(node, v.n); break;
    case 'q': json_node_set_int(node, v.q); break;
    case 'i': case 'h': json_node_set_int(node, v.i); break;
    case 'u': json_node_set_int(node, v.u); break;
    case 'x': json_node_set_int(node, v.x); break;
    case 't': json_node_set_int(node, (gint64)v.t); break;
    case 'd': json_node_set_double(node, v.d); break;
    case 'b': json_node_set_boolean(node, v.b); break;
    default: json_node_set_string(node, v.s); break;
    }
    *ret = node;
    return 1;
}

/* The key of a dict entry, as a JSON object key. */
static char *read_key(sd_bus_message *m, char type)
{
    g_autoptr(JsonNode) key = NULL;

    if (read_basic(m, type, &key) <= 0)
        return NULL;
    if (json_node_get_value_type(key) == G_TYPE_STRING)
        return g_strdup(json_node_get_string(key));
    if (json_node_get_value_type(key) == G_TYPE_BOOLEAN)
        return g_strdup(json_node_get_boolean(key) ? "true" : "false");
    if (json_node_get_value_type(key) == G_TYPE_DOUBLE)
        return g_strdup_printf("%g", json_node_get_double(key));
    return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(key));
}

static int read_dict(sd_bus_message *m, const char *contents, JsonNode **ret)
{
    g_autoptr(JsonObject) object = json_object_new();
    g_autofree char *entry = g_strndup(contents + 1, strlen(contents) - 2);
    int r;

    while ((r = sd_bus_message_enter_container(m, 'e', entry)) > 0) {
        g_autofree char *key = read_key(m, entry[0]);
        JsonNode *value = NULL;
        if (!key)
            return -EBADMSG;
        r = json_from_message(m, &value);
        if (r <= 0)
            return r < 0 ? r : -EBADMSG;
        json_object_set_member(object, key, value);
        r = sd_bus_message_exit_container(m);
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    *ret = json_node_init_object(json_node_alloc(), object);
    return 1;
}

static int read_list(sd_bus_message *m, JsonNode **ret)
{
    g_autoptr(JsonArray) array = json_array_new();
    JsonNode *item;
    int r;

    while ((r = json_from_message(m, &item)) > 0)
        json_array_add_element(array, item);
    if (r < 0)
        return r;
    *ret = json_node_init_array(json_node_alloc(), array);
    return 1;
}

/* Reads the next complete value of m; 0 at the end of the enclosing container. */
int json_from_message(sd_bus_message *m, JsonNode **ret)
{
    const char *contents;
    char type;
    int r;

    r = sd_bus_message_peek_type(m, &type, &contents);
    if (r <= 0)
        return r;
    if (type != 'a' && type != 'r' && type != 'v')
        return read_basic(m, type, ret);
    r = sd_bus_message_enter_container(m, type, contents);
    if (r <= 0)
        return r < 0 ? r : -EBADMSG;
    if (type == 'a' && contents[0] == '{')
        r = read_dict(m, contents, ret);
    else if (type == 'v')
        r = json_from_message(m, ret);
    else
        r = read_list(m, ret);
    if (r <= 0)
        return r < 0 ? r : -EBADMSG;
    r = sd_bus_message_exit_container(m);
    return r < 0 ? r : 1;
}
