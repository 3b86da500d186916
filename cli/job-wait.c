/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl job wait ID: follows a job through its PropertiesChanged and
 * Completed signals (no polling) until it ends, or until it waits for a
 * person (ready: `job complete`; pending without auto-finalize: `job
 * finalize`).  On a terminal a bar is redrawn at each change and each
 * second; otherwise a line is printed each second.  Exit 0 when the job
 * succeeded or waits for a person, 1 when it failed or was cancelled. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "bgctl.h"
#include "progress.h"

typedef struct {
    Ctl *ctl;
    const char *id;
    char *path;
    JsonObject *props;     /* the job's properties as last heard */
    bool tty;
    bool drawn;            /* a bar is on the screen (no newline yet) */
    bool done;
    bool failed;
    bool interrupted;
    char *error;
    sd_event *event;
} Wait;

static int64_t seconds_left(JsonObject *props)
{
    uint64_t end = json_u64(props, "ExpectedEndTime");
    struct timespec now;

    if (end == 0)
        return -1;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_us = (uint64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    return end > now_us ? (int64_t)((end - now_us + 999999) / 1000000) : 0;
}

static void show(Wait *w, bool final)
{
    Progress p = {
        .id = w->id,
        .status = json_str(w->props, "Status"),
        .current = json_u64(w->props, "CurrentProgress"),
        .total = json_u64(w->props, "TotalProgress"),
        .rate = json_u64(w->props, "Rate"),
        .seconds_left = seconds_left(w->props),
    };
    struct winsize ws = {};
    g_autofree char *text = NULL;

    if (w->ctl->json)
        return;
    if (!w->tty) {
        text = progress_line(&p);
        printf("%s\n", text);
        fflush(stdout);
        return;
    }
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
        ws.ws_col = 80;
    text = progress_bar(&p, ws.ws_col);
    printf("\r%s\033[K%s", text, final ? "\n" : "");
    w->drawn = !final;
    fflush(stdout);
}

/* Ends the wait when the job has ended or waits for a person. */
static void check_status(Wait *w)
{
    const char *status = json_str(w->props, "Status");

    if (strcmp(status, "concluded") == 0 || strcmp(status, "null") == 0) {
        w->done = true;
        if (*json_str(w->props, "Error")) {
            w->failed = true;
            g_free(w->error);
            w->error = g_strdup(json_str(w->props, "Error"));
        }
    } else if (strcmp(status, "ready") == 0 ||
               (strcmp(status, "pending") == 0 && !json_bool(w->props, "AutoFinalize"))) {
        w->done = true;
    }
    if (w->done)
        sd_event_exit(w->event, 0);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Wait *w = userdata;
    g_autoptr(JsonNode) changed = NULL;
    const char *iface;
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;

    if (sd_bus_message_read(m, "s", &iface) < 0 || strcmp(iface, BG_JOB) != 0)
        return 0;
    if (json_from_message(m, &changed) <= 0 || !JSON_NODE_HOLDS_OBJECT(changed))
        return 0;
    json_object_iter_init(&iter, json_node_get_object(changed));
    while (json_object_iter_next(&iter, &key, &value))
        json_object_set_member(w->props, key, json_node_copy(value));
    if (w->tty)
        show(w, false);
    check_status(w);
    return 0;
}

static int on_completed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Wait *w = userdata;
    const char *message;
    int success;

    if (sd_bus_message_read(m, "bs", &success, &message) < 0)
        return 0;
    w->done = true;
    w->failed = !success;
    g_free(w->error);
    w->error = g_strdup(message);
    /* Sent as the job concludes: the Status change follows it. */
    json_object_set_string_member(w->props, "Status", "concluded");
    return sd_event_exit(w->event, 0);
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Wait *w = userdata;
    const char *path;

    if (sd_bus_message_read(m, "o", &path) >= 0 && strcmp(path, w->path) == 0) {
        w->done = true;
        sd_event_exit(w->event, 0);
    }
    return 0;
}

static int on_second(sd_event_source *s, uint64_t usec, void *userdata)
{
    Wait *w = userdata;

    show(w, false);
    return sd_event_source_set_time(s, usec + 1000000);
}

/* Ctrl-C: the bar's line is ended and the job goes on without us. */
static int on_interrupt(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    Wait *w = userdata;

    if (w->drawn)
        putchar('\n');
    w->drawn = false;
    w->interrupted = true;
    return sd_event_exit(w->event, 0);
}

static int add_matches(Wait *w)
{
    sd_bus *bus = w->ctl->bus;
    int r;

    r = sd_bus_match_signal(bus, NULL, BG_BUS_NAME, w->path, "org.freedesktop.DBus.Properties",
                            "PropertiesChanged", on_properties_changed, w);
    if (r >= 0)
        r = sd_bus_match_signal(bus, NULL, BG_BUS_NAME, w->path, BG_JOB, "Completed",
                                on_completed, w);
    if (r >= 0)
        r = sd_bus_match_signal(bus, NULL, BG_BUS_NAME, BG_ROOT_PATH,
                                "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved",
                                on_interfaces_removed, w);
    if (r < 0)
        return ctl_fail("cannot follow job '%s': %s", w->id, strerror(-r));
    return 0;
}

static int follow(Wait *w)
{
    sd_event_source *timer = NULL;
    int r;

    r = sd_event_add_time_relative(w->event, &timer, CLOCK_MONOTONIC, 1000000, 0, on_second, w);
    if (r >= 0)
        r = sd_event_source_set_enabled(timer, SD_EVENT_ON);
    if (r >= 0)
        r = sd_event_add_signal(w->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_interrupt, w);
    if (r < 0) {
        sd_event_source_unref(timer);
        return ctl_fail("cannot set up the wait: %s", strerror(-r));
    }
    if (w->tty)
        show(w, false);
    r = sd_event_loop(w->event);
    sd_event_source_unref(timer);
    if (r != 0)
        return ctl_fail("lost the connection to the bus while waiting for job '%s'", w->id);
    if (w->interrupted) {
        ctl_fail("stopped waiting; job '%s' goes on", w->id);
        return CTL_EXIT_INTERRUPTED;
    }
    return 0;
}

static int report(Wait *w)
{
    const char *status = json_str(w->props, "Status");

    if (w->ctl->json) {
        g_autoptr(JsonObject) out = json_object_new();
        json_object_set_object_member(out, "Job", json_object_ref(w->props));
        json_object_set_boolean_member(out, "Success", !w->failed);
        json_object_set_string_member(out, "Error", w->error ? w->error : "");
        json_print_object(out);
    } else {
        show(w, true);
    }
    if (w->failed)
        return ctl_fail("job '%s' failed: %s", w->id, w->error ? w->error : "unknown error");
    if (!w->ctl->json && strcmp(status, "ready") == 0)
        printf("Job '%s' is ready: 'bgctl job complete %s' finishes it.\n", w->id, w->id);
    else if (!w->ctl->json && strcmp(status, "pending") == 0)
        printf("Job '%s' is pending: 'bgctl job finalize %s' finishes it.\n", w->id, w->id);
    return 0;
}

int job_wait(Ctl *ctl, const char *id)
{
    Wait w = { .ctl = ctl, .id = id, .tty = isatty(STDOUT_FILENO) };
    int r;

    w.path = ctl_object_path("job", id);
    r = sd_event_default(&w.event);
    if (r >= 0)
        r = sd_bus_attach_event(ctl->bus, w.event, 0);
    if (r >= 0)
        r = sd_bus_set_exit_on_disconnect(ctl->bus, 1);
    /* The connection stays usable after the wait (bgctl create dismisses its job). */
    if (r >= 0)
        r = sd_bus_set_close_on_exit(ctl->bus, 0);
    if (r < 0)
        r = ctl_fail("cannot set up an event loop: %s", strerror(-r));
    if (r == 0)
        r = add_matches(&w);
    if (r == 0) {
        r = ctl_get_all(ctl, w.path, BG_JOB, "job", &w.props);
        if (r == -ENOENT)
            r = ctl_fail("No job '%s' known", id);
    }
    if (r == 0) {
        check_status(&w);
        if (!w.done)
            r = follow(&w);
    }
    if (r == 0)
        r = report(&w);
    sd_bus_detach_event(ctl->bus);
    sd_event_unref(w.event);
    if (w.props)
        json_object_unref(w.props);
    g_free(w.error);
    free(w.path);
    return r;
}
