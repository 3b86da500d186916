/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Configuration files: a <blockgraph> root holding <blockdev>, <export>
 * and libvirt <disk> elements, or a libvirt <domain> whose
 * <devices><disk> entries are the items, parsed into an ordered list of
 * items.  Applying a file (all or
 * nothing) is the daemon's job; this only parses.
 *
 *   <blockgraph>
 *     <blockdev driver="file" node-name="f0" filename="/var/lib/vm/a.raw"/>
 *     <export type="nbd" id="e0" node-name="f0"><server type="unix" path="/run/a.sock"/></export>
 *     <allow-path>/var/lib/vm</allow-path>
 *   </blockgraph>
 *
 * <allow-path> (policy/allow-path.h) confines every path a caller can make
 * the daemon open; the daemon collects them from every file before it
 * applies any.
 */

#include <glib.h>

#include "graph/spec.h"
#include "xml/disk-parse.h"
#include "xml/export-parse.h"

typedef enum ConfigItemKind {
    CONFIG_ITEM_BLOCKDEV,
    CONFIG_ITEM_EXPORT,
    CONFIG_ITEM_ALLOW_PATH,
    CONFIG_ITEM_DISK,           /* a libvirt <disk> (AddDisk) */
    CONFIG_ITEM_IOTHREAD,       /* <iothread id="io1"/> */
} ConfigItemKind;

typedef struct ConfigItem {
    ConfigItemKind kind;
    BlockdevSpec *blockdev;     /* CONFIG_ITEM_BLOCKDEV */
    ExportSpec *export;         /* CONFIG_ITEM_EXPORT */
    char *allow_path;           /* CONFIG_ITEM_ALLOW_PATH: an absolute folder */
    DiskSpec *disk;             /* CONFIG_ITEM_DISK */
    char *iothread;             /* CONFIG_ITEM_IOTHREAD: its id */
    char *source;               /* the file */
    int line;
} ConfigItem;

typedef struct ConfigFile {
    char *path;
    GPtrArray *items;           /* ConfigItem*, document order */
} ConfigFile;

void config_file_free(ConfigFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ConfigFile, config_file_free)

/* Reads and parses path; errors name the file and line. */
ConfigFile *config_file_load(const char *path, GError **errp);

/* Parses text as if read from source (for tests and the bus). */
ConfigFile *config_file_parse(const char *text, gssize len, const char *source,
                              GError **errp);

/*
 * The "*.xml" files directly in dir, as full paths sorted by file name
 * (NULL-terminated, g_strfreev).  A missing path or a non-directory is an
 * error naming it; an empty folder gives an empty list.
 */
char **config_dir_list(const char *dir, GError **errp);
