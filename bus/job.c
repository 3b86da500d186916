/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.blockgraph.BlockGraph1.Job objects at /org/blockgraph/BlockGraph1/job/<encoded id>,
 * and Manager.StartJob and CreateImage (the Manager vtable points at
 * bus_manager_method_start_job and _create_image).
 * The logic lives in jobs/; this file is its bus face.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "graph/error.h"
#include "jobs/job.h"
#include "jobs/create.h"
#include "xml/create-parse.h"
#include "xml/job-parse.h"

static char *job_path(const Job *job)
{
    return bus_path_encode(BUS_JOB_PREFIX, job->id);
}

/* ---- objects ------------------------------------------------------------------ */

static int job_object_find(sd_bus *bus, const char *path, const char *interface,
                           void *userdata, void **ret_found, sd_bus_error *ret_error)
{
    g_autofree char *id = bus_path_decode(BUS_JOB_PREFIX, path);
    Job *job = id ? job_lookup(id) : NULL;

    if (!job)
        return 0;
    *ret_found = job;
    return 1;
}

static int job_node_enumerator(sd_bus *bus, const char *path, void *userdata,
                               char ***ret_nodes, sd_bus_error *ret_error)
{
    GList *list = job_list();
    /* sd-bus frees the array and its strings with free() */
    char **nodes = calloc(g_list_length(list) + 1, sizeof(char *));
    size_t n = 0;

    if (!nodes)
        return -ENOMEM;
    for (GList *it = list; it; it = it->next) {
        g_autofree char *p = job_path(it->data);
        nodes[n++] = strdup(p);
    }
    *ret_nodes = nodes;
    return 1;
}

/* ---- properties --------------------------------------------------------------- */

#define JOB_GETTER(name)                                                                   \
    static int name(sd_bus *bus, const char *path, const char *interface,                 \
                    const char *property, sd_bus_message *reply, void *userdata,          \
                    sd_bus_error *ret_error)

/*
 * Getters run unlocked (bus/bus-loop.c); the run() of a job in an
 * iothread changes its state there: they hold that loop first.
 */
static Job *job_held(void *userdata)
{
    Job *job = userdata;

    if (job->loop)
        aio_loop_acquire(job->loop);
    return job;
}

/* A counter run() updates. */
#define JOB_U64_GETTER(name, field)                                                        \
    JOB_GETTER(name)                                                                       \
    {                                                                                      \
        return sd_bus_message_append(reply, "t", job_held(userdata)->field);             \
    }

JOB_U64_GETTER(property_get_current, progress_current)
JOB_U64_GETTER(property_get_total, progress_total)
JOB_U64_GETTER(property_get_rate, rate)

JOB_GETTER(property_get_type)
{
    return sd_bus_message_append(reply, "s", ((Job *)userdata)->drv->type);
}

JOB_GETTER(property_get_status)
{
    return sd_bus_message_append(reply, "s", job_status_name(job_held(userdata)->status));
}

JOB_GETTER(property_get_error)
{
    Job *job = job_held(userdata);

    return sd_bus_message_append(reply, "s", job->error ? job->error : "");
}

JOB_GETTER(property_get_expected_end)
{
    return sd_bus_message_append(reply, "t", job_expected_end_us(job_held(userdata)));
}

JOB_GETTER(property_get_auto_finalize)
{
    return sd_bus_message_append(reply, "b", (int)((Job *)userdata)->auto_finalize);
}

JOB_GETTER(property_get_auto_dismiss)
{
    return sd_bus_message_append(reply, "b", (int)((Job *)userdata)->auto_dismiss);
}

JOB_GETTER(property_get_nodes)
{
    Job *job = userdata;
    int r = sd_bus_message_open_container(reply, 'a', "s");

    for (guint i = 0; r >= 0 && i < job->links->len; i++) {
        BlockChild *c = g_ptr_array_index(job->links, i);
        r = sd_bus_message_append(reply, "s", c->node->name);
    }
    return r < 0 ? r : sd_bus_message_close_container(reply);
}

/* ---- methods ------------------------------------------------------------------ */

static int reply_result(sd_bus_message *m, bool ok, GError *err, sd_bus_error *ret_error)
{
    if (!ok)
        return bus_error_set_gerror(ret_error, err);
    bus_flush_property_changes();
    return sd_bus_reply_method_return(m, "");
}

static int method_pause(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;

    bool ok = job_user_pause(userdata, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_resume(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;

    bool ok = job_user_resume(userdata, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    int force = 0;
    int r = sd_bus_message_read(m, "b", &force);

    if (r < 0)
        return r;
    bool ok = job_user_cancel(userdata, force, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_complete(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;

    bool ok = job_user_complete(userdata, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_dismiss(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;

    bool ok = job_dismiss(userdata, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_set_speed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    uint64_t speed;
    int r = sd_bus_message_read(m, "t", &speed);

    if (r < 0)
        return r;
    bool ok = job_set_speed(userdata, speed, &err);

    return reply_result(m, ok, err, ret_error);
}

static int method_get_xml(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autofree char *xml = job_to_xml(userdata);

    return sd_bus_reply_method_return(m, "s", xml);
}

/* Finalize and StartJob reply later (bus_call_start). */
static int coroutine_fn job_co_finalize_call(void *data, char **ret_path, GError **errp)
{
    const char *id = data;
    Job *job = job_lookup(id);

    if (!job) {
        g_set_error(errp, BG_ERROR, BG_ERROR_NOT_FOUND, "No job '%s' known", id);
        return -ENOENT;
    }
    return job_co_finalize(job, errp) ? 0 : -EINVAL;
}

static int method_finalize(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    return bus_call_start(m, "Job.Finalize", job_co_finalize_call,
                          g_strdup(((Job *)userdata)->id), g_free);
}

/* ---- Manager.StartJob -------------------------------------------------------------- */

typedef struct StartCall {
    JobSpec *spec;
    char *xml;
    uint32_t uid;
} StartCall;

static void start_call_free(StartCall *call)
{
    job_spec_free(call->spec);
    g_free(call->xml);
    g_free(call);
}

static int coroutine_fn job_co_start_call(void *data, char **ret_path, GError **errp)
{
    StartCall *call = data;
    Job *job = job_co_start(call->spec, call->xml, call->uid, errp);

    if (!job)
        return -EINVAL;
    *ret_path = job_path(job);
    return 0;
}

uint32_t bus_caller_uid(sd_bus_message *m)
{
    sd_bus_creds *creds = NULL;
    uid_t uid = (uid_t)-1;

    if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds) >= 0)
        sd_bus_creds_get_euid(creds, &uid);
    sd_bus_creds_unref(creds);
    return (uint32_t)uid;
}

int bus_manager_method_start_job(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
    StartCall *call;
    JobSpec *spec;
    int r = sd_bus_message_read(m, "s", &xml);

    if (r < 0)
        return r;
    spec = job_parse_xml(xml, -1, "<bus>", &err);
    if (!spec)
        return bus_error_set_gerror(ret_error, err);
    call = g_new0(StartCall, 1);
    call->spec = spec;
    call->xml = g_strdup(xml);
    call->uid = bus_caller_uid(m);
    return bus_call_start(m, "StartJob", job_co_start_call, call,
                          (GDestroyNotify)start_call_free);
}

/* ---- Manager.CreateImage ---------------------------------------------------------- */

typedef struct CreateCall {
    CreateSpec *spec;
    char *xml;
    uint32_t uid;
} CreateCall;

static void create_call_free(CreateCall *call)
{
    create_spec_free(call->spec);
    g_free(call->xml);
    g_free(call);
}

static int coroutine_fn job_co_create_call(void *data, char **ret_path, GError **errp)
{
    CreateCall *call = data;
    Job *job = create_job_co_start(call->spec, call->xml, call->uid, errp);

    if (!job)
        return -EINVAL;
    *ret_path = job_path(job);
    return 0;
}

int bus_manager_method_create_image(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    g_autoptr(GError) err = NULL;
    const char *xml;
    CreateCall *call;
    CreateSpec *spec;
    int r = sd_bus_message_read(m, "s", &xml);

    if (r < 0)
        return r;
    spec = create_parse_xml(xml, -1, "<bus>", &err);
    if (!spec)
        return bus_error_set_gerror(ret_error, err);
    call = g_new0(CreateCall, 1);
    call->spec = spec;
    call->xml = g_strdup(xml);
    call->uid = bus_caller_uid(m);
    return bus_call_start(m, "CreateImage", job_co_create_call, call,
                          (GDestroyNotify)create_call_free);
}

/* ---- signals ------------------------------------------------------------------- */

static void bus_job_added(Job *job)
{
    g_autofree char *path = job_path(job);

    bus_emit_object_added(path, BUS_INTERFACE_JOB);
}

static void bus_job_removed(Job *job)
{
    g_autofree char *path = job_path(job);

    bus_emit_object_removed(path, BUS_INTERFACE_JOB);
}

static void bus_job_changed(Job *job, const char *property)
{
    g_autofree char *path = job_path(job);

    bus_queue_property_changed(path, BUS_INTERFACE_JOB, property);
    /* Every state a job passes through is seen, not only the last of a loop turn. */
    if (strcmp(property, "Status") == 0)
        bus_flush_property_changes();
}

static void bus_job_emit(Job *job, const char *member, const char *types, ...)
{
    sd_bus *bus = bus_get();
    g_autofree char *path = NULL;
    sd_bus_message *msg = NULL;
    va_list ap;
    int r;

    if (!bus)
        return;
    path = job_path(job);
    bus_flush_property_changes();   /* the state the signal speaks of is seen first */
    r = sd_bus_message_new_signal(bus, &msg, path, BUS_INTERFACE_JOB, member);
    if (r >= 0) {
        va_start(ap, types);
        r = sd_bus_message_appendv(msg, types, ap);
        va_end(ap);
    }
    if (r >= 0)
        r = sd_bus_send(bus, msg, NULL);
    if (r < 0)
        g_warning("Failed to send Job.%s for job '%s': %s", member, job->id, g_strerror(-r));
    sd_bus_message_unref(msg);
}

static void bus_job_io_error(Job *job, const char *operation, const char *action)
{
    bus_job_emit(job, "IOError", "ss", operation, action);
}

static void bus_job_completed(Job *job, bool success, const char *error)
{
    bus_job_emit(job, "Completed", "bs", (int)success, error);
}

static const JobListener bus_job_listener = {
    .added = bus_job_added,
    .removed = bus_job_removed,
    .changed = bus_job_changed,
    .io_error = bus_job_io_error,
    .completed = bus_job_completed,
};

#define CHANGES SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable job_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Id", "s", NULL, offsetof(Job, id), CONST),
    SD_BUS_PROPERTY("Type", "s", property_get_type, 0, CONST),
    SD_BUS_PROPERTY("Status", "s", property_get_status, 0, CHANGES),
    SD_BUS_PROPERTY("CurrentProgress", "t", property_get_current, 0, CHANGES),
    SD_BUS_PROPERTY("TotalProgress", "t", property_get_total, 0, CHANGES),
    SD_BUS_PROPERTY("Speed", "t", NULL, offsetof(Job, speed), CHANGES),
    SD_BUS_PROPERTY("Rate", "t", property_get_rate, 0, CHANGES),
    SD_BUS_PROPERTY("StartTime", "t", NULL, offsetof(Job, start_time_us), CONST),
    SD_BUS_PROPERTY("ExpectedEndTime", "t", property_get_expected_end, 0, CHANGES),
    SD_BUS_PROPERTY("Error", "s", property_get_error, 0, CHANGES),
    SD_BUS_PROPERTY("AutoFinalize", "b", property_get_auto_finalize, 0, CONST),
    SD_BUS_PROPERTY("AutoDismiss", "b", property_get_auto_dismiss, 0, CONST),
    SD_BUS_PROPERTY("Nodes", "as", property_get_nodes, 0, CHANGES),
    SD_BUS_PROPERTY("StartedByUID", "u", NULL, offsetof(Job, started_by_uid), CONST),
    SD_BUS_METHOD("Pause", "", "", method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Resume", "", "", method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("Cancel", "b", SD_BUS_PARAM(force), "", , method_cancel,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Complete", "", "", method_complete, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Finalize", "", "", method_finalize, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("Dismiss", "", "", method_dismiss, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("SetSpeed", "t", SD_BUS_PARAM(speed), "", , method_set_speed,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_NAMES("GetXML", "", , "s", SD_BUS_PARAM(xml), method_get_xml,
                             SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_NAMES("IOError", "ss", SD_BUS_PARAM(operation) SD_BUS_PARAM(action), 0),
    SD_BUS_SIGNAL_WITH_NAMES("Completed", "bs", SD_BUS_PARAM(success) SD_BUS_PARAM(error), 0),
    SD_BUS_VTABLE_END,
};

int bus_job_register(sd_bus *bus)
{
    job_set_listener(&bus_job_listener);
    return bus_register_fallback(bus, BUS_JOB_PREFIX, BUS_INTERFACE_JOB, job_vtable,
                                 job_object_find, job_node_enumerator);
}
