/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Who may change the graph: polkit decides every method that changes
 * something (bus/authorize.c), reads stay open.  The table in
 * authorize-actions.c maps each method to its polkit action.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

#define AUTHORIZE_ACTION_PREFIX "org.blockgraph.BlockGraph1."

typedef enum AuthorizeMode {
    AUTHORIZE_NONE,         /* anyone the bus lets through may call anything */
    AUTHORIZE_POLKIT,       /* changing methods ask polkit; uid 0 does not */
} AuthorizeMode;

/* Parses "polkit" / "none".  False on anything else. */
bool authorize_mode_parse(const char *text, AuthorizeMode *ret);
const char *authorize_mode_name(AuthorizeMode mode);

/* Set before bus_open (main.c); the default is AUTHORIZE_NONE. */
void bus_authorize_set_mode(AuthorizeMode mode);
AuthorizeMode bus_authorize_mode(void);

/*
 * The polkit action ("org.blockgraph.BlockGraph1.manage-nodes") a call of
 * member on interface needs, or NULL for a read (open to everyone).
 * interface NULL: a call that does not name its interface; it needs
 * manage-nodes (the strictest reading of an ambiguous call).
 */
const char *authorize_action_for(const char *interface, const char *member);

/* The polkit actions one method call needs, each asked in turn. */
#define AUTHORIZE_MAX_ACTIONS 4
typedef struct AuthorizeActions {
    const char *actions[AUTHORIZE_MAX_ACTIONS];
    size_t n;                   /* 0: a read, open */
} AuthorizeActions;

/*
 * The actions call m needs: authorize_action_for its member, except that
 * Manager.Transaction needs what each of its actions would need alone
 * (a <job> manage-jobs, a bitmap action manage-nodes).  Reads m's body
 * and rewinds it.
 */
void authorize_actions_for_call(sd_bus_message *m, AuthorizeActions *ret);

/* Installs the filter that holds changing calls until polkit answered (bus_open). */
int bus_authorize_attach(sd_bus *bus);

/* Drops the questions still pending (bus_close); their callers get no reply. */
void bus_authorize_detach(void);
