/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * AddDisk / RemoveDisk: a DiskSpec (a libvirt <disk>) becomes nodes named as
 * libvirt names them for QEMU: per layer libvirt-<index>-storage and
 * libvirt-<index>-format, above the top a copy-on-read filter
 * (libvirt-CoR-<target dev>) and a throttle filter libvirt-<index>-filter.
 * The nodes are added as one tree (the top node user-owned, the others its
 * inline children), so that adding is all or nothing and removing the top
 * removes the disk.
 */

#include "aio/coroutine.h"
#include "graph/node.h"
#include "xml/disk-parse.h"

/* Builds the disk, all or nothing; returns its topmost node. */
BlockNode *coroutine_fn disk_co_add(const DiskSpec *spec, GError **errp);

/* Removes what disk_co_add built for the disk whose topmost node is name. */
int coroutine_fn disk_co_remove(const char *name, GError **errp);
