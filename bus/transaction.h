/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

/* Manager.Transaction(as actions) (bus/transaction.c). */
int bus_manager_method_transaction(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
