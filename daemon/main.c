/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * blockgraphd: command line, start-up configuration, the event loop,
 * signals, sd_notify and logging.
 *
 *   blockgraphd [--system | --session | --address=ADDRESS] [--config-dir=DIR]
 *               [--check-config] [--shutdown-timeout=SECONDS]
 *               [--authorize=polkit|none] [--secret-dir=DIR]
 */

#include "config.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "aio/coroutine.h"
#include "aio/linux-aio.h"
#include "aio/loop.h"
#include "aio/worker-pool.h"
#include "bus/authorize.h"
#include "bus/bus.h"
#include "daemon/config-dir.h"
#include "daemon/log.h"
#include "exports/export.h"
#include "graph/graph.h"
#include "jobs/job.h"
#include "policy/allow-path.h"
#include "xml/disk-parse.h"

/* Below systemd's TimeoutStopSec=90, so that we log what is stuck ourselves. */
#define DEFAULT_SHUTDOWN_TIMEOUT_S 60

typedef struct DaemonArgs {
    BusKind bus_kind;
    char *address;
    char *config_dir;
    bool check_config;
    unsigned shutdown_timeout_s;    /* 0: wait for ever */
    AuthorizeMode authorize;
    bool authorize_set;             /* else: polkit on the system bus, none elsewhere */
} DaemonArgs;

static bool shutting_down;
static bool shutdown_timed_out;     /* work is still in flight: do not wait for it */
static int exit_status = EXIT_SUCCESS;
static unsigned shutdown_timeout_s = DEFAULT_SHUTDOWN_TIMEOUT_S;
static sd_event_source *shutdown_timer;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: blockgraphd [OPTION...]\n"
            "Serve a graph of block nodes on D-Bus as " BUS_NAME ".\n\n"
            "  --system             serve on the system bus (default)\n"
            "  --session            serve on the session bus\n"
            "  --address=ADDRESS    serve on the bus at ADDRESS\n"
            "  --config-dir=DIR     apply every *.xml file in DIR at start\n"
            "  --check-config       validate DIR and exit (nonzero on errors)\n"
            "  --shutdown-timeout=SECONDS\n"
            "                       on SIGTERM, give up waiting for flushes after SECONDS\n"
            "                       and exit 1 (default 60; 0 waits for ever)\n"
            "  --secret-dir=DIR     keys of libvirt <secret type='ceph' uuid=U/> as\n"
            "                       DIR/U.base64 (default " DISK_SECRET_DIR_DEFAULT ")\n"
            "  --authorize=polkit|none\n"
            "                       ask polkit before changing calls (default on the\n"
            "                       system bus), or let every caller change (default\n"
            "                       on a session bus or --address)\n"
            "  --version            print the version and exit\n"
            "  --help               print this help and exit\n");
}

#define SHUTDOWN_TIMEOUT_MAX_S (24 * 3600)

static bool parse_seconds(const char *text, unsigned *ret)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(text, 10, 0, SHUTDOWN_TIMEOUT_MAX_S, &v, NULL))
        return false;
    *ret = (unsigned)v;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, DaemonArgs *args)
{
    enum {
        OPT_SYSTEM = 256, OPT_SESSION, OPT_ADDRESS, OPT_CONFIG_DIR, OPT_CHECK, OPT_VERSION,
        OPT_SHUTDOWN_TIMEOUT, OPT_AUTHORIZE, OPT_SECRET_DIR,
    };
    static const struct option options[] = {
        { "system", no_argument, NULL, OPT_SYSTEM },
        { "session", no_argument, NULL, OPT_SESSION },
        { "address", required_argument, NULL, OPT_ADDRESS },
        { "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
        { "check-config", no_argument, NULL, OPT_CHECK },
        { "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT },
        { "authorize", required_argument, NULL, OPT_AUTHORIZE },
        { "secret-dir", required_argument, NULL, OPT_SECRET_DIR },
        { "version", no_argument, NULL, OPT_VERSION },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case OPT_SYSTEM:
            args->bus_kind = BUS_KIND_SYSTEM;
            break;
        case OPT_SESSION:
            args->bus_kind = BUS_KIND_SESSION;
            break;
        case OPT_ADDRESS:
            args->bus_kind = BUS_KIND_ADDRESS;
            g_free(args->address);
            args->address = g_strdup(optarg);
            break;
        case OPT_CONFIG_DIR:
            g_free(args->config_dir);
            args->config_dir = g_strdup(optarg);
            break;
        case OPT_CHECK:
            args->check_config = true;
            break;
        case OPT_SHUTDOWN_TIMEOUT:
            if (!parse_seconds(optarg, &args->shutdown_timeout_s)) {
                fprintf(stderr, "blockgraphd: --shutdown-timeout: '%s' is not a number of "
                        "seconds (0 to %u)\n", optarg, SHUTDOWN_TIMEOUT_MAX_S);
                return 2;
            }
            break;
        case OPT_AUTHORIZE:
            if (!authorize_mode_parse(optarg, &args->authorize)) {
                fprintf(stderr, "blockgraphd: --authorize: '%s' is neither 'polkit' nor "
                        "'none'\n", optarg);
                return 2;
            }
            args->authorize_set = true;
            break;
        case OPT_SECRET_DIR:
            if (!g_path_is_absolute(optarg)) {
                fprintf(stderr, "blockgraphd: --secret-dir: '%s' is not an absolute path\n",
                        optarg);
                return 2;
            }
            disk_set_secret_dir(optarg);
            break;
        case OPT_VERSION:
            printf("blockgraphd %s\n", BLOCKGRAPH_VERSION);
            return EXIT_SUCCESS;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "blockgraphd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* --check-config: the start-up path itself, on the real graph, then closed. */
typedef struct ConfigCheck {
    const char *dir;
    int failed;             /* files with errors, -1: the folder cannot be listed */
    GError *err;
} ConfigCheck;

static void coroutine_fn daemon_co_check_config(void *opaque)
{
    ConfigCheck *check = opaque;

    check->failed = config_dir_co_apply(check->dir, true, &check->err);
    export_co_remove_all();
    graph_co_close_all();
}

static int check_config(const DaemonArgs *args)
{
    ConfigCheck check = { .dir = args->config_dir };

    if (!args->config_dir) {
        g_critical("--check-config needs --config-dir=DIR");
        return 2;
    }
    export_set_dry_run(true);
    allow_path_set_defaults(args->bus_kind == BUS_KIND_SYSTEM);
    aio_run_coroutine(daemon_co_check_config, &check);
    if (check.failed < 0) {
        g_critical("%s", check.err->message);
        g_error_free(check.err);
        return EXIT_FAILURE;
    }
    if (check.failed > 0) {
        g_critical("%d configuration file(s) in '%s' have errors", check.failed,
                   args->config_dir);
        return EXIT_FAILURE;
    }
    g_message("Configuration in '%s' is valid", args->config_dir);
    return EXIT_SUCCESS;
}

static void coroutine_fn daemon_co_apply_config(void *opaque)
{
    const char *dir = opaque;
    g_autoptr(GError) err = NULL;

    if (config_dir_co_apply(dir, false, &err) < 0) {
        g_warning("%s; starting with an empty graph", err->message);
    }
}

/* ---- shutdown ------------------------------------------------------------ */

/* Names what keeps the shutdown from ending: nodes with requests in flight. */
static void log_stuck_nodes(void)
{
    unsigned stuck = 0;

    for (GList *l = graph_nodes(); l; l = l->next) {
        const BlockNode *node = l->data;

        if (node->in_flight > 0) {
            g_critical("Node '%s' still has %u request(s) in flight %u s after the shutdown "
                       "began (a flush that does not end?): what it has not written may be lost",
                       node->name, node->in_flight, shutdown_timeout_s);
            stuck++;
        }
    }
    if (stuck == 0)
        g_critical("Shutdown did not finish within %u s; no node has requests in flight "
                   "(a bus call or an NBD client?)", shutdown_timeout_s);
}

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    log_stuck_nodes();
    g_critical("Exiting without closing every image");
    shutdown_timed_out = true;
    sd_event_exit(aio_loop(), EXIT_FAILURE);
    return 0;
}

static void arm_shutdown_timer(void)
{
    int r;

    if (shutdown_timeout_s == 0)
        return;
    r = sd_event_add_time_relative(aio_loop(), &shutdown_timer, CLOCK_MONOTONIC,
                                   (uint64_t)shutdown_timeout_s * G_USEC_PER_SEC, 0,
                                   on_shutdown_timeout, NULL);
    if (r < 0)
        g_warning("Failed to arm the shutdown timeout: %s", g_strerror(-r));
}

static void coroutine_fn daemon_co_shutdown(void *opaque)
{
    job_co_cancel_all();        /* jobs end and let go of their nodes */
    export_co_remove_all();     /* in-flight NBD requests finish, clients go */
    bus_co_shutdown();
    graph_co_close_all();
    g_message("Every image flushed and closed");
    shutdown_timer = sd_event_source_disable_unref(shutdown_timer);
    sd_event_exit(aio_loop(), exit_status);
}

static void daemon_shutdown(const char *why, int status)
{
    if (shutting_down) {
        return;
    }
    shutting_down = true;
    exit_status = status;
    g_message("%s, shutting down", why);
    sd_notify(0, "STOPPING=1");
    arm_shutdown_timer();
    /* An open(2) that hangs (dead NFS server) must not hold the calls waiting for it. */
    worker_pool_abandon_all();
    coroutine_start(daemon_co_shutdown, NULL);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    g_autofree char *why = g_strdup_printf("Received SIG%s", sigabbrev_np(si->ssi_signo));

    daemon_shutdown(why, EXIT_SUCCESS);
    return 0;
}

static void on_bus_lost(void)
{
    daemon_shutdown("Bus connection lost", EXIT_FAILURE);
}

static int setup_signals(void)
{
    sigset_t mask;
    int r;

    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    r = -pthread_sigmask(SIG_BLOCK, &mask, NULL);
    if (r >= 0) {
        r = sd_event_add_signal(aio_loop(), NULL, SIGTERM, on_signal, NULL);
    }
    if (r >= 0) {
        r = sd_event_add_signal(aio_loop(), NULL, SIGINT, on_signal, NULL);
    }
    return r;
}

static int serve(const DaemonArgs *args)
{
    g_autoptr(GError) err = NULL;
    int r;

    allow_path_set_defaults(args->bus_kind == BUS_KIND_SYSTEM);
    if (args->config_dir) {
        aio_run_coroutine(daemon_co_apply_config, args->config_dir);
    }
    bus_authorize_set_mode(args->authorize_set ? args->authorize
                           : args->bus_kind == BUS_KIND_SYSTEM ? AUTHORIZE_POLKIT
                           : AUTHORIZE_NONE);
    g_message("Authorization: %s", authorize_mode_name(bus_authorize_mode()));
    bus_set_disconnect_handler(on_bus_lost);
    if (!bus_open(args->bus_kind, args->address, &err)) {
        g_critical("%s", err->message);
        return EXIT_FAILURE;
    }
    g_message("Serving %s with %u node(s)", BUS_NAME, graph_node_count());
    sd_notifyf(0, "READY=1\nSTATUS=Serving %u node(s)", graph_node_count());
    r = aio_run_main();
    if (r < 0) {
        g_critical("Event loop failed: %s", g_strerror(-r));
        return EXIT_FAILURE;
    }
    return r;
}

/*
 * glibc malloc serves blocks of 128 KiB and more with mmap and, once they
 * are freed, unmaps them (its adaptive threshold does not follow when the
 * blocks come from many threads), and it gives a heap's free top back to
 * the kernel: every reuse then faults the pages in again.  librbd copies
 * each write into a fresh block: 1 MiB writes took 14-20 page faults and
 * twice the CPU each (docs/rbd.md).  Blocks up to 32 MiB (an NBD request's
 * largest payload) come from the heaps, and 64 MiB of free heap top stays.
 */
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int main(int argc, char **argv)
{
    DaemonArgs args = { .bus_kind = BUS_KIND_SYSTEM,
                        .shutdown_timeout_s = DEFAULT_SHUTDOWN_TIMEOUT_S };
    int ret, r;

    tune_malloc();
    log_setup();
    ret = parse_args(argc, argv, &args);
    if (ret < 0 && args.check_config) {
        ret = check_config(&args);
        worker_pool_shutdown();
        linux_aio_shutdown();
        aio_loop_shutdown();
    }
    if (ret < 0) {
        /* Block the signals before the worker pool starts threads. */
        r = setup_signals();
        if (r < 0) {
            g_critical("Failed to set up signal handling: %s", g_strerror(-r));
            ret = EXIT_FAILURE;
        } else {
            shutdown_timeout_s = args.shutdown_timeout_s;
            ret = serve(&args);
        }
        bus_close();
        /* After a timeout, threads and the kernel may never return what they hold. */
        if (!shutdown_timed_out) {
            worker_pool_shutdown();
            linux_aio_shutdown();
            aio_loop_shutdown();
        }
    }
    g_free(args.address);
    g_free(args.config_dir);
    return ret;
}
