/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: the command line of blockgraphd (shared declarations). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>

#define BG_BUS_NAME "org.blockgraph.BlockGraph1"
#define BG_ROOT_PATH "/org/blockgraph/BlockGraph1"
#define BG_MANAGER BG_BUS_NAME ".Manager"
#define BG_NODE BG_BUS_NAME ".Node"
#define BG_EXPORT BG_BUS_NAME ".Export"
#define BG_JOB BG_BUS_NAME ".Job"

/* Exit codes: what scripts test. */
typedef enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,   /* the daemon (or a file, or the bus) said no */
    CTL_EXIT_USAGE = 2,   /* the command line is wrong */
    CTL_EXIT_INTERRUPTED = 130,   /* job wait stopped by Ctrl-C (128 + SIGINT) */
} CtlExit;

/* Options that only some commands take (Command.options). */
typedef enum {
    CTL_OPT_FORCE = 1 << 0,
    CTL_OPT_HARD = 1 << 1,
    CTL_OPT_SVG = 1 << 2,
    CTL_OPT_QUIET = 1 << 3,
    CTL_OPT_NO_WAIT = 1 << 4,
} CtlOption;

typedef struct Command Command;

typedef struct Ctl {
    sd_bus *bus;
    const Command *command;
    bool json;
    bool force;
    bool hard;
    bool quiet;
    bool no_wait;
    const char *svg;
    char **args;          /* the command's own arguments */
    int n_args;
} Ctl;

struct Command {
    const char *name;     /* "job wait" */
    const char *synopsis; /* "ID" */
    int min_args, max_args;   /* max -1: any number */
    unsigned options;     /* CtlOption bits it accepts */
    const char *help;     /* what it does, for --help */
    int (*run)(Ctl *ctl);
};

/* main.c */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bus.c: calls, errors, object paths */
int ctl_connect(Ctl *ctl, int kind, const char *address);
int ctl_call(Ctl *ctl, const char *path, const char *iface, const char *method,
             sd_bus_message **ret_reply, const char *types, ...);
int ctl_bus_failed(const sd_bus_error *error, int r, const char *what);
char *ctl_object_path(const char *kind, const char *name);
int ctl_call_object(Ctl *ctl, const char *kind, const char *name, const char *iface,
                    const char *method, sd_bus_message **ret_reply, const char *types, ...);
int ctl_get_all(Ctl *ctl, const char *path, const char *iface, const char *what,
                JsonObject **ret);
int ctl_managed_objects(Ctl *ctl, JsonObject **ret);
GPtrArray *ctl_objects_of(JsonObject *managed, const char *iface, const char *key);
int ctl_get_string(Ctl *ctl, const char *path, const char *iface, const char *method,
                   const char *arg, char **ret);

/* dbus-json.c: any D-Bus value as JSON */
int json_from_message(sd_bus_message *m, JsonNode **ret);

/* json-out.c */
void json_print(JsonNode *node);
void json_print_object(JsonObject *object);
const char *json_str(JsonObject *o, const char *key);
uint64_t json_u64(JsonObject *o, const char *key);
bool json_bool(JsonObject *o, const char *key);

/* format.c: sizes, rates, durations for people */
char *format_bytes(uint64_t bytes);
char *format_duration(uint64_t seconds);

/* snippet.c: reading and editing XML snippets */
int snippet_read(const char *file, char **ret_text);

/* add.c: adds a snippet or a <blockgraph> document (only_element: one kind) */
int add_file(Ctl *ctl, const char *file, const char *only_element);

/* the command groups */
int cmd_status(Ctl *ctl);
int cmd_list(Ctl *ctl);
int cmd_tree(Ctl *ctl);
int cmd_show(Ctl *ctl);
int cmd_add(Ctl *ctl);
int cmd_remove(Ctl *ctl);
int cmd_reopen(Ctl *ctl);
int cmd_export_add(Ctl *ctl);
int cmd_export_remove(Ctl *ctl);
int cmd_job_start(Ctl *ctl);
int cmd_job_list(Ctl *ctl);
int cmd_job_verb(Ctl *ctl);
int cmd_job_speed(Ctl *ctl);
int cmd_job_wait(Ctl *ctl);
int job_wait(Ctl *ctl, const char *id);
int cmd_create(Ctl *ctl);
int cmd_graph(Ctl *ctl);

/* list.c: the tables `list` and `job list` print */
int list_print(Ctl *ctl, bool nodes, bool exports, bool jobs);

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_(f) __attribute__((cleanup(f)))
