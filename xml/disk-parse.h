/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A libvirt domain <disk> element -> DiskSpec: per layer of its
 * <backingStore> chain the options of a storage node and of a format node,
 * with the names QEMU takes (libvirt's qemuBlockStorageSourceGetBackendProps
 * and ...GetBlockdevFormatProps), plus the filters above the top layer.
 * Node names need the graph (indexes assigned when absent must not clash):
 * xml/disk.c turns a DiskSpec into nodes.
 *
 *   <disk type='file' device='disk'>
 *     <driver name='qemu' type='qcow2' cache='none' io='native' discard='unmap'/>
 *     <source file='/var/lib/vm/top.qcow2' index='2'/>
 *     <backingStore type='file' index='1'>
 *       <format type='qcow2'/>
 *       <source file='/var/lib/vm/base.qcow2'/>
 *       <backingStore/>
 *     </backingStore>
 *     <target dev='vda' bus='virtio'/>
 *     <iotune><total_iops_sec>500</total_iops_sec></iotune>
 *   </disk>
 */

#include <stdbool.h>
#include <glib.h>
#include <libxml/tree.h>

typedef enum DiskChainEnd {
    DISK_CHAIN_END_EMPTY,       /* <backingStore/>: no backing (JSON null) */
    DISK_CHAIN_END_IMAGE,       /* no <backingStore>: the image header's chain is opened */
} DiskChainEnd;

typedef struct DiskLayer {
    int index;                  /* libvirt's index=, or -1: assign one */
    char *path;                 /* the source, for messages and the cycle check */
    GHashTable *storage;        /* storage node options (QEMU names), no node-name */
    GHashTable *format;         /* format node options, no node-name */
    int line;
} DiskLayer;

typedef struct DiskSpec {
    GPtrArray *layers;          /* DiskLayer*, top first */
    DiskChainEnd chain_end;
    bool read_only;             /* <readonly/> */
    bool copy_on_read;          /* <driver copy_on_read='on'/> */
    GHashTable *iotune;         /* throttle limits (QEMU names), NULL: no <iotune> */
    char *group_name;           /* <iotune><group_name>, NULL: the disk's own group */
    char *target;               /* <target dev=>, may be NULL */
    char *source;               /* "<bus>" or the file, for messages */
    int line;
} DiskSpec;

void disk_spec_free(DiskSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DiskSpec, disk_spec_free)

/*
 * The folder of the keys of <secret type='ceph' uuid=U/>: U.base64 holds
 * the key (base64, as `ceph auth get-key` prints it), the layout of
 * libvirt's /etc/libvirt/secrets.  blockgraphd --secret-dir sets it.
 */
#define DISK_SECRET_DIR_DEFAULT "/etc/blockgraph/secrets"
void disk_set_secret_dir(const char *dir);
const char *disk_secret_dir(void);

/* Parses a <disk> element; unknown types and protocols are NotSupported naming them. */
DiskSpec *disk_parse_element(const xmlNode *elem, const char *source, GError **errp);
DiskSpec *disk_parse_xml(const char *text, gssize len, const char *source, GError **errp);
