/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "xml/config-file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "graph/error.h"
#include "xml/blockdev-parse.h"
#include "xml/iothread-parse.h"
#include "xml/xml-util.h"

static void config_item_free(gpointer p)
{
    ConfigItem *item = p;

    if (!item)
        return;
    blockdev_spec_free(item->blockdev);
    export_spec_free(item->export);
    g_free(item->allow_path);
    g_free(item->iothread);
    disk_spec_free(item->disk);
    g_free(item->source);
    g_free(item);
}

void config_file_free(ConfigFile *file)
{
    if (!file)
        return;
    g_ptr_array_unref(file->items);
    g_free(file->path);
    g_free(file);
}

/* <allow-path>/var/lib/blockgraph</allow-path>: text only, an absolute path. */
static char *parse_allow_path(const xmlNode *elem, const char *source, GError **errp)
{
    g_autofree char *text = NULL;
    xmlChar *raw;

    if (elem->properties || bg_xml_first_element(elem)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                         "<allow-path> holds a folder name only (no attributes or elements)");
        return NULL;
    }
    raw = xmlNodeGetContent(elem);
    text = g_strstrip(g_strdup(raw ? (const char *)raw : ""));
    xmlFree(raw);
    if (!g_path_is_absolute(text)) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_ARGUMENT, source, elem,
                         "<allow-path> '%s' is not an absolute path", text);
        return NULL;
    }
    return g_steal_pointer(&text);
}

static ConfigItem *parse_item(const xmlNode *elem, const char *source, GError **errp)
{
    g_autofree ConfigItem *item = g_new0(ConfigItem, 1);
    const char *name = bg_xml_name(elem);

    if (g_str_equal(name, "blockdev")) {
        item->kind = CONFIG_ITEM_BLOCKDEV;
        item->blockdev = blockdev_parse_element(elem, source, errp);
        if (!item->blockdev)
            return NULL;
    } else if (g_str_equal(name, "export")) {
        item->kind = CONFIG_ITEM_EXPORT;
        item->export = export_parse_element(elem, source, errp);
        if (!item->export)
            return NULL;
    } else if (g_str_equal(name, "allow-path")) {
        item->kind = CONFIG_ITEM_ALLOW_PATH;
        item->allow_path = parse_allow_path(elem, source, errp);
        if (!item->allow_path)
            return NULL;
    } else if (g_str_equal(name, "iothread")) {
        item->kind = CONFIG_ITEM_IOTHREAD;
        item->iothread = iothread_parse_element(elem, source, errp);
        if (!item->iothread)
            return NULL;
    } else if (g_str_equal(name, "disk")) {
        item->kind = CONFIG_ITEM_DISK;
        item->disk = disk_parse_element(elem, source, errp);
        if (!item->disk)
            return NULL;
    } else {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, elem,
                         "unknown element <%s> in <blockgraph> (expected <blockdev>, <export>, "
                         "<disk>, <iothread> or <allow-path>)", name);
        return NULL;
    }
    item->source = g_strdup(source);
    item->line = (int)xmlGetLineNo(elem);
    return g_steal_pointer(&item);
}

static ConfigFile *config_file_new(const char *source)
{
    ConfigFile *file = g_new0(ConfigFile, 1);

    file->path = g_strdup(source);
    file->items = g_ptr_array_new_with_free_func(config_item_free);
    return file;
}

/* A libvirt <domain>: its <devices><disk> entries; the rest describes the guest. */
static ConfigFile *config_file_from_domain(const xmlNode *root, const char *source,
                                           GError **errp)
{
    g_autoptr(ConfigFile) file = config_file_new(source);

    bg_xml_foreach_element(devices, root) {
        if (!g_str_equal(bg_xml_name(devices), "devices"))
            continue;
        bg_xml_foreach_element(elem, devices) {
            if (!g_str_equal(bg_xml_name(elem), "disk"))
                continue;
            ConfigItem *item = parse_item(elem, source, errp);
            if (!item)
                return NULL;
            g_ptr_array_add(file->items, item);
        }
    }
    return g_steal_pointer(&file);
}

static ConfigFile *config_file_from_doc(xmlDoc *doc, const char *source, GError **errp)
{
    const xmlNode *root = xmlDocGetRootElement(doc);
    g_autoptr(ConfigFile) file = NULL;

    if (g_str_equal(bg_xml_name(root), "domain"))
        return config_file_from_domain(root, source, errp);
    if (!bg_xml_check_root(root, "blockgraph", source, errp) ||
        !bg_xml_check_no_text(root, source, errp))
        return NULL;
    if (root->properties) {
        bg_xml_set_error(errp, BG_ERROR_INVALID_XML, source, root,
                         "<blockgraph> takes no attributes (found '%s')",
                         (const char *)root->properties->name);
        return NULL;
    }
    file = config_file_new(source);
    bg_xml_foreach_element(elem, root) {
        ConfigItem *item = parse_item(elem, source, errp);

        if (!item)
            return NULL;
        g_ptr_array_add(file->items, item);
    }
    return g_steal_pointer(&file);
}

ConfigFile *config_file_parse(const char *text, gssize len, const char *source,
                              GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read_limited(text, len, source, &bg_xml_file_limits, errp);

    return doc ? config_file_from_doc(doc, source, errp) : NULL;
}

ConfigFile *config_file_load(const char *path, GError **errp)
{
    g_autoptr(xmlDoc) doc = bg_xml_read_file(path, errp);

    return doc ? config_file_from_doc(doc, path, errp) : NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool check_is_dir(const char *dir, GError **errp)
{
    struct stat st;

    if (stat(dir, &st) < 0) {
        bg_set_error_errno(errp, -errno, "Configuration folder '%s': %s", dir,
                           g_strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(errp, BG_ERROR, BG_ERROR_INVALID_ARGUMENT,
                    "Configuration folder '%s' is not a directory", dir);
        return false;
    }
    return true;
}

char **config_dir_list(const char *dir, GError **errp)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) d = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!check_is_dir(dir, errp))
        return NULL;
    d = g_dir_open(dir, 0, &err);
    if (!d) {
        g_set_error(errp, BG_ERROR, BG_ERROR_IO_ERROR,
                    "Failed to open configuration folder: %s", err->message);
        return NULL;
    }
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".xml") && name[0] != '.')
            g_ptr_array_add(names, g_strdup(name));
    }
    if (names->len > 1)
        qsort(names->pdata, names->len, sizeof(char *), compare_names);
    for (guint i = 0; i < names->len; i++) {
        char *path = g_build_filename(dir, names->pdata[i], NULL);

        /*
         * Sub-folders named *.xml are not configuration files; a FIFO or a
         * device would block or never end, so only regular files are read.
         */
        if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
            g_free(path);
        } else if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_warning("%s: not a regular file, skipped", path);
            g_free(path);
        } else {
            g_ptr_array_add(paths, path);
        }
    }
    g_ptr_array_add(paths, NULL);
    g_ptr_array_set_free_func(paths, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&paths), FALSE);
}
