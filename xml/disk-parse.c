/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt <disk> -> DiskSpec, with the options libvirt gives QEMU for each layer. */

#include "xml/disk-parse.h"

#include <stdlib.h>
#include <string.h>

#include "graph/driver.h"
#include "graph/error.h"
#include "xml/xml-util.h"

/* What <driver> says for the whole chain (libvirt's qemuDomainPrepareDiskSourceData). */
typedef struct DiskDriver {
    char *format;           /* type= of the top layer */
    const char *direct, *no_flush;  /* cache= mapped, NULL: not given */
    char *io;               /* native|threads|io_uring: the file node's aio */
    char *discard;
    char *detect_zeroes;    /* the top layer only */
} DiskDriver;

typedef struct DiskParser {
    const char *source;
    DiskSpec *spec;
    DiskDriver drv;
} DiskParser;

/* cache= as libvirt maps it (qemuDomainDiskCachemodeFlags): direct, no-flush. */
static const struct {
    const char *mode, *direct, *no_flush;
} cache_modes[] = {
    { "none", "on", "off" },
    { "writeback", "off", "off" },
    { "writethrough", "off", "off" },
    { "directsync", "on", "off" },
    { "unsafe", "off", "on" },
};

/* libvirt's <iotune> elements and the throttle limits they set. */
static const struct {
    const char *libvirt, *qemu;
} iotune_names[] = {
    { "total_bytes_sec", "bps-total" },
    { "read_bytes_sec", "bps-read" },
    { "write_bytes_sec", "bps-write" },
    { "total_iops_sec", "iops-total" },
    { "read_iops_sec", "iops-read" },
    { "write_iops_sec", "iops-write" },
    { "total_bytes_sec_max", "bps-total-max" },
    { "read_bytes_sec_max", "bps-read-max" },
    { "write_bytes_sec_max", "bps-write-max" },
    { "total_iops_sec_max", "iops-total-max" },
    { "read_iops_sec_max", "iops-read-max" },
    { "write_iops_sec_max", "iops-write-max" },
    { "total_bytes_sec_max_length", "bps-total-max-length" },
    { "read_bytes_sec_max_length", "bps-read-max-length" },
    { "write_bytes_sec_max_length", "bps-write-max-length" },
    { "total_iops_sec_max_length", "iops-total-max-length" },
    { "read_iops_sec_max_length", "iops-read-max-length" },
    { "write_iops_sec_max_length", "iops-write-max-length" },
    { "size_iops_sec", "iops-size" },
};

static void disk_layer_free(gpointer p)
{
    DiskLayer *l = p;

    if (!l)
        return;
    g_free(l->path);
    if (l->storage)
        g_hash_table_unref(l->storage);
    if (l->format)
        g_hash_table_unref(l->format);
    g_free(l);
}

void disk_spec_free(DiskSpec *spec)
{
    if (!spec)
        return;
    g_ptr_array_unref(spec->layers);
    if (spec->iotune)
        g_hash_table_unref(spec->iotune);
    g_free(spec->group_name);
    g_free(spec->target);
    g_free(spec->source);
    g_free(spec);
}

static void disk_driver_clear(DiskDriver *d)
{
    g_free(d->format);
    g_free(d->io);
    g_free(d->discard);
    g_free(d->detect_zeroes);
}

static GHashTable *options_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static void opt_set(GHashTable *opts, const char *name, const char *value)
{
    if (value)
        g_hash_table_replace(opts, g_strdup(name), g_strdup(value));
}

static const xmlNode *find_child(const xmlNode *elem, const char *name)
{
    bg_xml_foreach_element(sub, elem)
        if (g_str_equal(bg_xml_name(sub), name))
            return sub;
    return NULL;
}

static unsigned count_children(const xmlNode *elem, const char *name)
{
    unsigned n = 0;

    bg_xml_foreach_element(sub, elem)
        n += g_str_equal(bg_xml_name(sub), name);
    return n;
}

/* ---- <driver> ---- */

static bool parse_cache(DiskParser *p, const xmlNode *elem, const char *cache, GError **errp)
{
    for (size_t i = 0; i < G_N_ELEMENTS(cache_modes); i++) {
        if (g_str_equal(cache, cache_modes[i].mode)) {
            p->drv.direct = cache_modes[i].direct;
            p->drv.no_flush = cache_modes[i].no_flush;
            return true;
        }
    }
    bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                     "<driver cache='%s'>: unknown cache mode (expected none, writeback, "
                     "writethrough, directsync or unsafe)", cache);
    return false;
}

static bool check_value(DiskParser *p, const xmlNode *elem, const char *attr, const char *value,
                        const char *const *allowed, GError **errp)
{
    if (!value || g_strv_contains(allowed, value))
        return true;
    g_autofree char *list = g_strjoinv(", ", (char **)allowed);
    bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                     "<driver %s='%s'>: expected one of %s", attr, value, list);
    return false;
}

static bool parse_driver(DiskParser *p, const xmlNode *elem, GError **errp)
{
    static const char *const io_values[] = { "native", "threads", "io_uring", NULL };
    static const char *const discard_values[] = { "unmap", "ignore", NULL };
    static const char *const dz_values[] = { "off", "on", "unmap", NULL };
    static const char *const onoff[] = { "on", "off", NULL };
    g_autofree char *cache = bg_xml_get_attr(elem, "cache");
    g_autofree char *cor = bg_xml_get_attr(elem, "copy_on_read");
    DiskDriver *d = &p->drv;

    d->format = bg_xml_get_attr(elem, "type");
    d->io = bg_xml_get_attr(elem, "io");
    d->discard = bg_xml_get_attr(elem, "discard");
    d->detect_zeroes = bg_xml_get_attr(elem, "detect_zeroes");
    if ((cache && !parse_cache(p, elem, cache, errp)) ||
        !check_value(p, elem, "io", d->io, io_values, errp) ||
        !check_value(p, elem, "discard", d->discard, discard_values, errp) ||
        !check_value(p, elem, "detect_zeroes", d->detect_zeroes, dz_values, errp) ||
        !check_value(p, elem, "copy_on_read", cor, onoff, errp))
        return false;
    p->spec->copy_on_read = g_strcmp0(cor, "on") == 0;
    /* libvirt: detect_zeroes=unmap without discard=unmap is on (virDomainDiskGetDetectZeroesMode). */
    if (g_strcmp0(d->detect_zeroes, "unmap") == 0 && g_strcmp0(d->discard, "unmap") != 0) {
        g_free(d->detect_zeroes);
        d->detect_zeroes = g_strdup("on");
    }
    return true;
}

/* ---- <source> ---- */

static bool need_attr(DiskParser *p, const xmlNode *elem, const char *attr, char **ret,
                      GError **errp)
{
    *ret = bg_xml_get_attr(elem, attr);
    if (*ret && **ret)
        return true;
    bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                     "<%s> needs a '%s' attribute", bg_xml_name(elem), attr);
    return false;
}

static bool parse_nbd_host(DiskParser *p, const xmlNode *src, DiskLayer *l, GError **errp)
{
    const xmlNode *host = find_child(src, "host");
    g_autofree char *transport = host ? bg_xml_get_attr(host, "transport") : NULL;
    g_autofree char *name = NULL, *port = NULL, *socket = NULL;

    if (!host) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, src,
                         "<source protocol='nbd'> needs a <host> element");
        return false;
    }
    if (g_strcmp0(transport, "unix") == 0) {
        if (!need_attr(p, host, "socket", &socket, errp))
            return false;
        opt_set(l->storage, "server.type", "unix");
        opt_set(l->storage, "server.path", socket);
        l->path = g_strdup_printf("nbd+unix://%s", socket);
        return true;
    }
    if (transport && !g_str_equal(transport, "tcp")) {
        bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, host,
                         "<host transport='%s'> is not supported (tcp or unix)", transport);
        return false;
    }
    if (!need_attr(p, host, "name", &name, errp))
        return false;
    port = bg_xml_get_attr(host, "port");
    opt_set(l->storage, "server.type", "inet");
    opt_set(l->storage, "server.host", name);
    opt_set(l->storage, "server.port", port ? port : "10809");
    l->path = g_strdup_printf("nbd://%s:%s", name, port ? port : "10809");
    return true;
}

/* Where <secret type='ceph' uuid=…> keys are found (disk_set_secret_dir). */
static char *secret_dir;

void disk_set_secret_dir(const char *dir)
{
    g_free(secret_dir);
    secret_dir = g_strdup(dir);
}

const char *disk_secret_dir(void)
{
    return secret_dir ? secret_dir : DISK_SECRET_DIR_DEFAULT;
}

/*
 * <auth username><secret type='ceph' uuid/></auth>, in <source> or (older
 * libvirt) in <disk>: the user, and the key in the secret folder's
 * <uuid>.base64 (libvirt's own layout in /etc/libvirt/secrets).
 */
static bool parse_rbd_auth(DiskParser *p, const xmlNode *src, DiskLayer *l, GError **errp)
{
    const xmlNode *auth = find_child(src, "auth");
    const xmlNode *secret;
    g_autofree char *type = NULL, *uuid = NULL, *file = NULL;

    if (!auth && src->parent && src->parent->type == XML_ELEMENT_NODE)
        auth = find_child(src->parent, "auth");
    if (!auth)
        return true;
    g_autofree char *user = bg_xml_get_attr(auth, "username");

    opt_set(l->storage, "user", user);
    secret = find_child(auth, "secret");
    if (!secret)
        return true;
    type = bg_xml_get_attr(secret, "type");
    uuid = bg_xml_get_attr(secret, "uuid");
    if (!type || !g_str_equal(type, "ceph")) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, secret,
                         "<secret> of an rbd disk needs type='ceph', not '%s'", type ? type : "");
        return false;
    }
    if (!uuid || !g_uuid_string_is_valid(uuid)) {
        bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, secret,
                         "<secret type='ceph'> needs a uuid= (a usage= is libvirt's to "
                         "resolve): the key is read from <uuid>.base64 in %s",
                         disk_secret_dir());
        return false;
    }
    file = g_strdup_printf("%s.base64", uuid);
    g_hash_table_replace(l->storage, g_strdup("key-file"),
                         g_build_filename(disk_secret_dir(), file, NULL));
    return true;
}

/* <host name port> elements: one is server.host/port, several a list in server.host. */
static bool parse_rbd_hosts(DiskParser *p, const xmlNode *src, DiskLayer *l, GError **errp)
{
    g_autoptr(GString) list = g_string_new(NULL);
    unsigned n = count_children(src, "host");

    bg_xml_foreach_element(host, src) {
        g_autofree char *name = NULL;
        g_autofree char *port = NULL;

        if (!g_str_equal(bg_xml_name(host), "host"))
            continue;
        if (!need_attr(p, host, "name", &name, errp))
            return false;
        port = bg_xml_get_attr(host, "port");
        if (strchr(name, ',') || (port && strchr(port, ','))) {
            bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, host,
                             "<host name='%s' port='%s'>: a monitor's name or port has no "
                             "','", name, port ? port : "");
            return false;
        }
        if (n == 1) {
            opt_set(l->storage, "server.host", name);
            opt_set(l->storage, "server.port", port);
            return true;
        }
        g_string_append_printf(list, "%s%s%s%s:%s", list->len ? "," : "",
                               strchr(name, ':') ? "[" : "", name, strchr(name, ':') ? "]" : "",
                               port ? port : "6789");
    }
    if (n > 1)
        opt_set(l->storage, "server.host", list->str);
    return true;
}

/*
 * <source protocol='rbd' name='pool[/namespace]/image'> with <host name
 * port> elements (the monitors), <snapshot name>, <config file> and <auth>.
 */
static bool parse_rbd(DiskParser *p, const xmlNode *src, const char *name, DiskLayer *l,
                      GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(name ? name : "", "/", 3);
    guint n = g_strv_length(parts);
    const xmlNode *snap = find_child(src, "snapshot");
    const xmlNode *config = find_child(src, "config");
    g_autofree char *snap_name = snap ? bg_xml_get_attr(snap, "name") : NULL;
    g_autofree char *conf = config ? bg_xml_get_attr(config, "file") : NULL;

    if (n < 2 || !*parts[0] || !*parts[n - 1]) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, src,
                         "<source protocol='rbd'> needs name='pool/image' (or "
                         "'pool/namespace/image'), not '%s'", name ? name : "");
        return false;
    }
    opt_set(l->storage, "driver", "rbd");
    opt_set(l->storage, "pool", parts[0]);
    opt_set(l->storage, "namespace", n == 3 ? parts[1] : NULL);
    opt_set(l->storage, "image", parts[n - 1]);
    opt_set(l->storage, "snapshot", snap_name);
    opt_set(l->storage, "conf", conf);
    if (!parse_rbd_hosts(p, src, l, errp) || !parse_rbd_auth(p, src, l, errp))
        return false;
    l->path = g_strdup_printf("rbd:%s%s%s", name, snap_name ? "@" : "", snap_name ? snap_name : "");
    return true;
}

static bool parse_network(DiskParser *p, const xmlNode *src, DiskLayer *l, GError **errp)
{
    g_autofree char *protocol = NULL;
    g_autofree char *name = bg_xml_get_attr(src, "name");

    if (!need_attr(p, src, "protocol", &protocol, errp))
        return false;
    if ((!g_str_equal(protocol, "nbd") && !g_str_equal(protocol, "rbd")) ||
        !block_driver_find(protocol)) {
        bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, src,
                         "<source protocol='%s'> is not supported (known: nbd, rbd)", protocol);
        return false;
    }
    if (g_str_equal(protocol, "rbd"))
        return parse_rbd(p, src, name, l, errp);
    opt_set(l->storage, "driver", "nbd");
    opt_set(l->storage, "export", name);
    return parse_nbd_host(p, src, l, errp);
}

/* The storage node of one layer, libvirt's qemuBlockStorageSourceGetBackendProps. */
static bool parse_source(DiskParser *p, const xmlNode *owner, const char *type, DiskLayer *l,
                         GError **errp)
{
    const xmlNode *src = find_child(owner, "source");

    if (!src) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, owner,
                         "<%s> has no <source>", bg_xml_name(owner));
        return false;
    }
    l->storage = options_new();
    if (g_str_equal(type, "network")) {
        if (!parse_network(p, src, l, errp))
            return false;
    } else {
        bool block = g_str_equal(type, "block");

        if (!need_attr(p, src, block ? "dev" : "file", &l->path, errp))
            return false;
        opt_set(l->storage, "driver", block ? "host_device" : "file");
        opt_set(l->storage, "filename", l->path);
        opt_set(l->storage, "aio", p->drv.io);
    }
    opt_set(l->storage, "auto-read-only", "on");
    opt_set(l->storage, "discard", "unmap");
    opt_set(l->storage, "cache.direct", p->drv.direct);
    opt_set(l->storage, "cache.no-flush", p->drv.no_flush);
    return true;
}

/* ---- layers ---- */

static bool parse_index(DiskParser *p, const xmlNode *elem, DiskLayer *l, GError **errp)
{
    g_autofree char *text = bg_xml_get_attr(elem, "index");
    char *end = NULL;
    long v;

    l->index = -1;
    if (!text)
        return true;
    v = strtol(text, &end, 10);
    if (!*text || *end || v < 1 || v > 99999) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                         "index='%s' of <%s>: expected a number from 1 to 99999", text,
                         bg_xml_name(elem));
        return false;
    }
    l->index = (int)v;
    return true;
}

static bool check_type(DiskParser *p, const xmlNode *elem, const char *type, GError **errp)
{
    static const char *const types[] = { "file", "block", "network", NULL };

    if (!type) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                         "<%s> needs a 'type' attribute (file, block or network)",
                         bg_xml_name(elem));
        return false;
    }
    if (g_strv_contains(types, type))
        return true;
    bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, elem,
                     "<%s type='%s'> is not supported (file, block or network)",
                     bg_xml_name(elem), type);
    return false;
}

static bool check_format(DiskParser *p, const xmlNode *elem, const char *format, GError **errp)
{
    const BlockDriver *drv = block_driver_find(format);

    if (drv && drv->kind == BLOCK_DRIVER_FORMAT)
        return true;
    bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, elem,
                     "image format '%s' is not supported (this build has: qcow2, raw)", format);
    return false;
}

/* The format node of one layer, libvirt's qemuBlockStorageSourceGetBlockdevFormatProps. */
static void layer_format(DiskParser *p, DiskLayer *l, const char *format, bool top)
{
    l->format = options_new();
    opt_set(l->format, "driver", format);
    opt_set(l->format, "read-only", !top || p->spec->read_only ? "on" : "off");
    opt_set(l->format, "discard", p->drv.discard);
    if (top)
        opt_set(l->format, "detect-zeroes", p->drv.detect_zeroes);
    opt_set(l->format, "cache.direct", p->drv.direct);
    opt_set(l->format, "cache.no-flush", p->drv.no_flush);
}

static DiskLayer *parse_layer(DiskParser *p, const xmlNode *elem, bool top, GError **errp)
{
    g_autoptr(GPtrArray) hold = g_ptr_array_new_with_free_func(disk_layer_free);
    DiskLayer *l = g_new0(DiskLayer, 1);
    g_autofree char *type = bg_xml_get_attr(elem, "type");
    g_autofree char *format = NULL;
    const xmlNode *fmt_elem = top ? find_child(elem, "driver") : find_child(elem, "format");

    /* libvirt writes the top's index on its <source>, the others' on <backingStore>. */
    const xmlNode *index_elem = top ? find_child(elem, "source") : elem;

    g_ptr_array_add(hold, l);
    l->line = (int)xmlGetLineNo(elem);
    if (!check_type(p, elem, type, errp) ||
        !parse_index(p, index_elem ? index_elem : elem, l, errp) ||
        !parse_source(p, elem, type, l, errp))
        return NULL;
    format = top ? g_strdup(p->drv.format) : fmt_elem ? bg_xml_get_attr(fmt_elem, "type") : NULL;
    if (!format && !top) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, elem,
                         "<backingStore> needs <format type='...'/> (libvirt does not probe "
                         "backing images)");
        return NULL;
    }
    if (!format)
        format = g_strdup("raw");      /* libvirt's default for the top */
    if (!check_format(p, fmt_elem ? fmt_elem : elem, format, errp))
        return NULL;
    layer_format(p, l, format, top);
    g_ptr_array_steal_index(hold, 0);
    return l;
}

static bool parse_chain(DiskParser *p, const xmlNode *disk, GError **errp)
{
    const xmlNode *elem = disk;
    DiskLayer *l = parse_layer(p, disk, true, errp);

    if (!l)
        return false;
    g_ptr_array_add(p->spec->layers, l);
    for (;;) {
        const xmlNode *next = find_child(elem, "backingStore");

        if (!next) {
            p->spec->chain_end = DISK_CHAIN_END_IMAGE;
            return true;
        }
        if (!xmlHasProp(next, (const xmlChar *)"type") && !bg_xml_first_element(next)) {
            p->spec->chain_end = DISK_CHAIN_END_EMPTY;
            return true;
        }
        l = parse_layer(p, next, false, errp);
        if (!l)
            return false;
        g_ptr_array_add(p->spec->layers, l);
        elem = next;
    }
}

/* ---- <iotune>, the rest ---- */

static const char *iotune_limit(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(iotune_names); i++)
        if (g_str_equal(name, iotune_names[i].libvirt))
            return iotune_names[i].qemu;
    return NULL;
}

static bool parse_iotune(DiskParser *p, const xmlNode *iotune, GError **errp)
{
    p->spec->iotune = options_new();
    bg_xml_foreach_element(e, iotune) {
        const char *name = bg_xml_name(e);
        const char *limit = iotune_limit(name);
        xmlChar *raw = xmlNodeGetContent(e);
        g_autofree char *text = g_strstrip(g_strdup((const char *)raw));

        xmlFree(raw);
        if (g_str_equal(name, "group_name")) {
            g_free(p->spec->group_name);
            p->spec->group_name = g_steal_pointer(&text);
        } else if (!limit) {
            bg_xml_set_error(errp, BG_ERROR_NOT_SUPPORTED, p->source, e,
                             "<iotune> element <%s> is not supported", name);
            return false;
        } else {
            opt_set(p->spec->iotune, limit, text);
        }
    }
    return true;
}

static bool parse_disk(DiskParser *p, const xmlNode *elem, GError **errp)
{
    const xmlNode *drv = find_child(elem, "driver");
    const xmlNode *target = find_child(elem, "target");
    const xmlNode *iotune = find_child(elem, "iotune");

    p->spec->read_only = find_child(elem, "readonly") != NULL;
    if (drv && !parse_driver(p, drv, errp))
        return false;
    if (p->spec->copy_on_read && p->spec->read_only) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, p->source, drv,
                         "copy_on_read='on' needs a writable disk (not <readonly/>)");
        return false;
    }
    if (target)
        p->spec->target = bg_xml_get_attr(target, "dev");
    if (iotune && !parse_iotune(p, iotune, errp))
        return false;
    return parse_chain(p, elem, errp);
}

DiskSpec *disk_parse_element(const xmlNode *elem, const char *source, GError **errp)
{
    g_autoptr(DiskSpec) spec = g_new0(DiskSpec, 1);
    DiskParser p = { .source = source, .spec = spec };
    bool ok;

    spec->layers = g_ptr_array_new_with_free_func(disk_layer_free);
    spec->source = g_strdup(source);
    spec->line = (int)xmlGetLineNo(elem);
    ok = bg_xml_check_root(elem, "disk", source, errp) && parse_disk(&p, elem, errp);
    disk_driver_clear(&p.drv);
    return ok ? g_steal_pointer(&spec) : NULL;
}

DiskSpec *disk_parse_xml(const char *text, gssize len, const char *source, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read(text, len, source, errp);

    if (!doc)
        return NULL;
    return disk_parse_element(xmlDocGetRootElement(doc), source, errp);
}
