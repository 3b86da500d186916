/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AddNode+RemoveNode pairs (null-co) against blockgraphd over D-Bus, and
 * blockdev-add+blockdev-del pairs against qemu-storage-daemon over QMP, with
 * the same client code shape for both.  bench/addnode.py starts the
 * servers and runs this.
 *
 *   addnode-client dbus ADDRESS PAIRS [CHAINS]
 *   addnode-client qmp SOCKET PAIRS [CHAINS]
 *   addnode-client list ADDRESS NODES     (adds NODES nodes, times GetManagedObjects)
 *
 * CHAINS independent add->del->add... chains run at once (1: strictly one
 * request at a time).  Prints "pairs=<n> seconds=<s> pairs_per_s=<r>".
 */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#define BUS_NAME "org.blockgraph.BlockGraph1"
#define ROOT "/org/blockgraph/BlockGraph1"
#define MANAGER "org.blockgraph.BlockGraph1.Manager"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
    fprintf(stderr, "addnode-client: %s: %s\n", what, strerror(r < 0 ? -r : r));
    exit(1);
}

/* A chain does add(i), del(i), add(i + chains), ... until i >= pairs. */
typedef struct Chain {
    long next;          /* node index of the current pair */
    bool adding;        /* the request in flight is the add */
    void *ctx;          /* DbusCtx */
} Chain;

typedef struct Run {
    long pairs;
    long chains;
    long done;          /* completed pairs */
    Chain *chain;
} Run;

/* ---- D-Bus -------------------------------------------------------------- */

typedef struct DbusCtx {
    sd_bus *bus;
    Run *run;
} DbusCtx;

static int dbus_send(DbusCtx *ctx, long k);

static int dbus_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    Chain *c = userdata;
    DbusCtx *ctx = c->ctx;
    long k = c - ctx->run->chain;
    const sd_bus_error *e = sd_bus_message_get_error(m);

    if (e) {
        fprintf(stderr, "addnode-client: %s: %s\n", e->name, e->message);
        exit(1);
    }
    if (c->adding) {
        c->adding = false;
    } else {
        ctx->run->done++;
        c->adding = true;
        c->next += ctx->run->chains;
    }
    return dbus_send(ctx, k) < 0 ? -EIO : 0;
}

static int dbus_send(DbusCtx *ctx, long k)
{
    Chain *c = &ctx->run->chain[k];
    char name[32], xml[128];

    if (c->next >= ctx->run->pairs) {
        return 0;
    }
    snprintf(name, sizeof(name), "n%ld", c->next);
    c->ctx = ctx;
    if (c->adding) {
        snprintf(xml, sizeof(xml),
                 "<blockdev driver=\"null-co\" node-name=\"%s\" size=\"1M\"/>", name);
        return sd_bus_call_method_async(ctx->bus, NULL, BUS_NAME, ROOT, MANAGER, "AddNode",
                                        dbus_reply, c, "s", xml);
    }
    return sd_bus_call_method_async(ctx->bus, NULL, BUS_NAME, ROOT, MANAGER, "RemoveNode",
                                    dbus_reply, c, "s", name);
}

static sd_bus *dbus_connect(const char *address)
{
    sd_bus *bus = NULL;
    int r;

    r = sd_bus_new(&bus);
    if (r >= 0) r = sd_bus_set_address(bus, address);
    if (r >= 0) r = sd_bus_set_bus_client(bus, true);
    if (r >= 0) r = sd_bus_start(bus);
    if (r < 0) die("connect", r);
    return bus;
}

static void dbus_run(sd_bus *bus, Run *run)
{
    DbusCtx ctx = { bus, run };
    int r;

    for (long k = 0; k < run->chains; k++) {
        r = dbus_send(&ctx, k);
        if (r < 0) die("send", r);
    }
    while (run->done < run->pairs) {
        r = sd_bus_process(bus, NULL);
        if (r < 0) die("process", r);
        if (r == 0) {
            r = sd_bus_wait(bus, UINT64_MAX);
            if (r < 0) die("wait", r);
        }
    }
}

/* ---- QMP ---------------------------------------------------------------- */

typedef struct Qmp {
    int fd;
    char buf[65536];
    size_t len;
} Qmp;

static void qmp_write(Qmp *q, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(q->fd, s, n);
        if (w < 0) die("qmp write", errno);
        s += w;
        n -= w;
    }
}

/* Reads one line (a JSON object); returns it in a static buffer. */
static char *qmp_read_line(Qmp *q)
{
    static char line[65536];

    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            size_t n = nl - q->buf + 1;
            memcpy(line, q->buf, n - 1);
            line[n - 1] = 0;
            memmove(q->buf, q->buf + n, q->len - n);
            q->len -= n;
            return line;
        }
        ssize_t r = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
        if (r <= 0) die("qmp read", r < 0 ? errno : EPIPE);
        q->len += r;
    }
}

/* Next response with an "id" (skips events); returns the id. */
static long qmp_read_reply(Qmp *q)
{
    for (;;) {
        char *line = qmp_read_line(q);
        char *id;

        if (strstr(line, "\"error\"")) {
            fprintf(stderr, "addnode-client: QMP error: %s\n", line);
            exit(1);
        }
        id = strstr(line, "\"id\":");
        if (id) {
            return strtol(id + 5, NULL, 10);
        }
    }
}

static void qmp_connect(Qmp *q, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        die("qmp connect", errno);
    }
    q->len = 0;
    qmp_read_line(q);   /* greeting */
    qmp_write(q, "{\"execute\":\"qmp_capabilities\",\"id\":-1}\n");
    qmp_read_reply(q);
}

static void qmp_send(Qmp *q, Run *run, long k)
{
    Chain *c = &run->chain[k];
    char cmd[256];

    if (c->next >= run->pairs) {
        return;
    }
    if (c->adding) {
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"null-co\","
                 "\"node-name\":\"n%ld\",\"size\":1048576},\"id\":%ld}\n", c->next, k);
    } else {
        snprintf(cmd, sizeof(cmd),
                 "{\"execute\":\"blockdev-del\",\"arguments\":{\"node-name\":\"n%ld\"},"
                 "\"id\":%ld}\n", c->next, k);
    }
    qmp_write(q, cmd);
}

static void qmp_run(Qmp *q, Run *run)
{
    for (long k = 0; k < run->chains; k++) {
        qmp_send(q, run, k);
    }
    while (run->done < run->pairs) {
        long k = qmp_read_reply(q);
        Chain *c = &run->chain[k];

        if (c->adding) {
            c->adding = false;
        } else {
            run->done++;
            c->adding = true;
            c->next += run->chains;
        }
        qmp_send(q, run, k);
    }
}

/* ---- GetManagedObjects ---------------------------------------------------- */

static void list_run(sd_bus *bus, long nodes)
{
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    double t0, t1, t2;
    int r;

    long count = 0;

    /* Adds without waiting for replies (NO_REPLY_EXPECTED). */
    t0 = now();
    for (long i = 0; i < nodes; i++) {
        char xml[128];
        snprintf(xml, sizeof(xml), "<blockdev driver=\"null-co\" node-name=\"n%ld\"/>", i);
        r = sd_bus_call_method_async(bus, NULL, BUS_NAME, ROOT, MANAGER, "AddNode",
                                     NULL, NULL, "s", xml);
        if (r < 0) die("AddNode", r);
    }
    /* A synchronous call after them all returns after all of them were served. */
    r = sd_bus_call_method(bus, BUS_NAME, ROOT, MANAGER, "GetGraph", &error, &reply, "s", "dot");
    if (r < 0) die(error.message ? error.message : "GetGraph", r);
    reply = sd_bus_message_unref(reply);
    t1 = now();
    r = sd_bus_call_method(bus, BUS_NAME, ROOT, "org.freedesktop.DBus.ObjectManager",
                           "GetManagedObjects", &error, &reply, "");
    if (r < 0) die(error.message ? error.message : "GetManagedObjects", r);
    t2 = now();
    r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
    while (r > 0 && (r = sd_bus_message_skip(reply, "{oa{sa{sv}}}")) > 0) {
        count++;
    }
    if (r < 0) die("parsing GetManagedObjects", r);
    printf("nodes=%ld objects=%ld add_seconds=%.3f list_seconds=%.3f\n", nodes, count,
           t1 - t0, t2 - t1);
    sd_bus_message_unref(reply);
}

int main(int argc, char **argv)
{
    Run run = { 0 };
    double t0, t1;

    if (argc < 4) {
        fprintf(stderr, "usage: addnode-client dbus|qmp|list ADDRESS|SOCKET N [CHAINS]\n");
        return 2;
    }
    run.pairs = atol(argv[3]);
    run.chains = argc > 4 ? atol(argv[4]) : 1;
    if (run.chains < 1 || run.chains > 4096) {
        run.chains = 1;
    }
    run.chain = calloc(run.chains, sizeof(Chain));
    for (long k = 0; k < run.chains; k++) {
        run.chain[k].next = k;
        run.chain[k].adding = true;
    }
    if (strcmp(argv[1], "list") == 0) {
        sd_bus *bus = dbus_connect(argv[2]);
        list_run(bus, run.pairs);
        sd_bus_flush_close_unref(bus);
    } else if (strcmp(argv[1], "dbus") == 0) {
        sd_bus *bus = dbus_connect(argv[2]);
        t0 = now();
        dbus_run(bus, &run);
        t1 = now();
        printf("pairs=%ld seconds=%.3f pairs_per_s=%.0f\n", run.pairs, t1 - t0,
               run.pairs / (t1 - t0));
        sd_bus_flush_close_unref(bus);
    } else {
        Qmp q;
        qmp_connect(&q, argv[2]);
        t0 = now();
        qmp_run(&q, &run);
        t1 = now();
        printf("pairs=%ld seconds=%.3f pairs_per_s=%.0f\n", run.pairs, t1 - t0,
               run.pairs / (t1 - t0));
        close(q.fd);
    }
    free(run.chain);
    return 0;
}
