/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How the bus connection sits in the main loop (docs/architecture.md,
 * "Event loops").  Its sources are unlocked sources of the main loop
 * (aio/loop.h): the main loop dispatches them without waiting for the
 * iothreads, so a property Get answers while an iothread serves I/O.  A
 * filter sees each message before the objects do and takes every
 * iothread's lock for all but the calls that only read (reads_only()):
 * method calls that change something, signals (Disconnected), anything
 * else.  The getters those reads run read what iothreads change only where
 * it is published atomically (graph/node.h, Export.Clients), or take the
 * node's loop themselves (Bitmaps).  Reply callbacks run before filters:
 * there are only bus/authorize.c's, and they touch nothing but the bus.
 *
 * The sources are those sd_bus_attach_event() would add, made here so that
 * they can be marked: an io source on the connection's descriptor whose
 * events a prepare callback keeps up to date, and a timer for the
 * connection's timeouts (and for messages already read); each dispatch
 * processes one message.
 */

#include <errno.h>
#include <string.h>

#include "aio/loop.h"
#include "bus/bus.h"

static struct {
    sd_bus *bus;
    sd_event_source *io;
    sd_event_source *timer;
    sd_bus_slot *filter;
    void (*lost)(void);
} bl;

/* The connection failed in a way sd-bus does not turn into Disconnected. */
static void bus_loop_fail(const char *what, int r)
{
    g_warning("The bus connection failed (%s): %s", what, g_strerror(-r));
    sd_event_source_set_enabled(bl.io, SD_EVENT_OFF);
    sd_event_source_set_enabled(bl.timer, SD_EVENT_OFF);
    if (bl.lost)
        bl.lost();
}

static int bus_loop_prepare(sd_event_source *s, void *userdata)
{
    uint64_t until = 0;
    int events = sd_bus_get_events(bl.bus);
    int r = events, timeout = 0;

    if (r >= 0)
        r = sd_event_source_set_io_events(bl.io, (uint32_t)events);
    if (r >= 0)
        r = timeout = sd_bus_get_timeout(bl.bus, &until);
    if (timeout > 0)
        r = sd_event_source_set_time(bl.timer, until);
    if (r >= 0)
        r = sd_event_source_set_enabled(bl.timer, timeout > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
    if (r < 0 && r != -ENOTCONN)
        bus_loop_fail("prepare", r);
    return 0;
}

static void bus_loop_process(void)
{
    int r = sd_bus_process(bl.bus, NULL);

    if (r < 0 && r != -ENOTCONN)
        bus_loop_fail("process", r);
}

static int bus_loop_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    bus_loop_process();
    return 0;
}

static int bus_loop_on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
    bus_loop_process();
    return 0;
}

/* Calls that change nothing an iothread owns; their getters read what is published. */
static bool reads_only(sd_bus_message *m)
{
    static const char *const reads[][2] = {
        { "org.freedesktop.DBus.Properties", "Get" },
        { "org.freedesktop.DBus.Properties", "GetAll" },
        { "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
        { "org.freedesktop.DBus.Introspectable", "Introspect" },
        { "org.freedesktop.DBus.Peer", "Ping" },
        { "org.freedesktop.DBus.Peer", "GetMachineId" },
    };
    const char *interface, *member;

    if (sd_bus_message_is_method_call(m, NULL, NULL) <= 0)
        return false;
    interface = sd_bus_message_get_interface(m);
    member = sd_bus_message_get_member(m);
    if (!interface || !member)
        return false;
    for (size_t i = 0; i < G_N_ELEMENTS(reads); i++)
        if (strcmp(interface, reads[i][0]) == 0 && strcmp(member, reads[i][1]) == 0)
            return true;
    return false;
}

static int bus_loop_filter(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    if (!reads_only(m))
        aio_iothreads_acquire();
    return 0;
}

static int bus_loop_add_sources(sd_event *e)
{
    int fd = sd_bus_get_fd(bl.bus);
    int r;

    if (fd < 0)
        return fd;
    r = sd_event_add_io(e, &bl.io, fd, 0, bus_loop_on_io, NULL);
    if (r >= 0)
        r = sd_event_source_set_prepare(bl.io, bus_loop_prepare);
    if (r >= 0)
        r = sd_event_add_time(e, &bl.timer, CLOCK_MONOTONIC, 0, 0, bus_loop_on_time, NULL);
    if (r >= 0)
        r = sd_event_source_set_enabled(bl.timer, SD_EVENT_OFF);
    if (r >= 0)
        r = aio_main_add_unlocked(bl.io);
    if (r >= 0)
        r = aio_main_add_unlocked(bl.timer);
    if (r >= 0) {
        (void)sd_event_source_set_description(bl.io, "bus-io");
        (void)sd_event_source_set_description(bl.timer, "bus-timer");
    }
    return r;
}

int bus_loop_attach(sd_bus *bus, void (*lost)(void))
{
    int r;

    bl.bus = bus;
    bl.lost = lost;
    r = sd_bus_add_filter(bus, &bl.filter, bus_loop_filter, NULL);
    if (r >= 0)
        r = bus_loop_add_sources(aio_loop_event(aio_loop_main()));
    if (r < 0)
        bus_loop_detach();
    return r;
}

void bus_loop_detach(void)
{
    if (bl.io)
        aio_main_remove_unlocked(bl.io);
    if (bl.timer)
        aio_main_remove_unlocked(bl.timer);
    bl.io = sd_event_source_disable_unref(bl.io);
    bl.timer = sd_event_source_disable_unref(bl.timer);
    bl.filter = sd_bus_slot_unref(bl.filter);
    bl = (typeof(bl)){ 0 };
}
