/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "graph/driver.h"

extern const BlockDriver block_driver_file;
extern const BlockDriver block_driver_null_co;
extern const BlockDriver block_driver_raw;
extern const BlockDriver block_driver_error;
extern const BlockDriver block_driver_qcow2;
extern const BlockDriver block_driver_nbd;
