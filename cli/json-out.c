/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: JSON output (--json) and reading the property objects. */
#include "bgctl.h"

void json_print(JsonNode *node)
{
    g_autoptr(JsonGenerator) generator = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_pretty(generator, TRUE);
    json_generator_set_root(generator, node);
    text = json_generator_to_data(generator, NULL);
    printf("%s\n", text);
}

void json_print_object(JsonObject *object)
{
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), object);

    json_print(node);
}

/* A string member, "" when missing or not a string. */
const char *json_str(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    if (!n || json_node_get_value_type(n) != G_TYPE_STRING)
        return "";
    return json_node_get_string(n);
}

uint64_t json_u64(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64)
        return 0;
    return (uint64_t)json_node_get_int(n);
}

bool json_bool(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;

    return n && json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}
