/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* Manager.Transaction(as actions) (bus/transaction.c). */
int bus_manager_method_transaction(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

/*
 * Whether the snippet is a <job> action (it needs manage-jobs, as StartJob
 * does); anything else is a bitmap action or unparseable (manage-nodes).
 */
bool transaction_snippet_is_job(const char *xml);
