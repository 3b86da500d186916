/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl: command line, the table of commands, help and usage errors. */
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bgctl.h"
#include "config.h"

enum { BUS_DEFAULT, BUS_SYSTEM, BUS_SESSION };

static const Command commands[] = {
    { "status", "", 0, 0, 0, "Show the daemon's version, features and counts.", cmd_status },
    { "list", "[nodes|exports|jobs]", 0, 1, CTL_OPT_QUIET,
      "List nodes, exports and jobs as tables.\n"
      "With --quiet only their names, one a line.", cmd_list },
    { "tree", "", 0, 0, 0, "Show the graph as a tree.\n"
      "Each node that no other node uses starts a tree; a link shows its role.", cmd_tree },
    { "show", "NAME", 1, 1, 0, "Show a node, export or job.\n"
      "A node shows its properties, its options (from GetXML), children and users.",
      cmd_show },
    { "add", "FILE|-", 1, 1, 0, "Add nodes, exports or jobs from XML.\n"
      "FILE (- for standard input) holds a <blockdev>, <export> or <job> snippet, or a\n"
      "whole <blockgraph> document, which is added all or nothing.", cmd_add },
    { "remove", "NAME", 1, 1, 0, "Remove a node.\n"
      "Only a node that was added on its own; its inline children go with it.", cmd_remove },
    { "reopen", "NAME OPTION=VALUE...", 2, -1, 0, "Change options of an open node.\n"
      "Takes the node's XML, sets the options and reopens the node with it.\n"
      "Groups are dotted (cache.direct=on); ROLE=NODE points a child link at\n"
      "another node and ROLE= drops it; OPTION= sets an option back to its default.",
      cmd_reopen },
    { "export add", "FILE|-", 1, 1, 0, "Export a node over NBD.\n"
      "FILE (- for standard input) holds an <export> snippet.", cmd_export_add },
    { "export remove", "ID", 1, 1, CTL_OPT_HARD, "Remove an export.\n"
      "Refused while clients are connected, unless --hard disconnects them.",
      cmd_export_remove },
    { "job start", "FILE|-", 1, 1, 0, "Start a job.\n"
      "FILE (- for standard input) holds a <job> snippet.", cmd_job_start },
    { "job list", "", 0, 0, CTL_OPT_QUIET, "List the jobs.", cmd_job_list },
    { "job pause", "ID", 1, 1, 0, "Pause a job.", cmd_job_verb },
    { "job resume", "ID", 1, 1, 0, "Resume a paused or stopped job.", cmd_job_verb },
    { "job cancel", "ID", 1, 1, CTL_OPT_FORCE, "Cancel a job.\n"
      "A ready job cancelled without --force ends successfully without its pivot.",
      cmd_job_verb },
    { "job complete", "ID", 1, 1, 0, "Complete a ready job.", cmd_job_verb },
    { "job finalize", "ID", 1, 1, 0, "Finalize a pending job.\n"
      "For jobs started with auto-finalize=\"off\".", cmd_job_verb },
    { "job dismiss", "ID", 1, 1, 0, "Dismiss a concluded job.\n"
      "For jobs started with auto-dismiss=\"off\".", cmd_job_verb },
    { "job speed", "ID SPEED", 2, 2, 0, "Set a job's speed limit.\n"
      "SPEED in bytes per second, with k, M, G or T (powers of 1024); 0: no limit.",
      cmd_job_speed },
    { "job wait", "ID", 1, 1, 0, "Wait for a job, showing its progress.\n"
      "On a terminal a bar (percent, bytes, rate, time left); otherwise a line a second.\n"
      "Ends when the job has ended (exit 1 if it failed) or waits for 'job complete'\n"
      "or 'job finalize'.", cmd_job_wait },
    { "create", "FILENAME [SIZE] [OPTION=VALUE...]", 1, -1, CTL_OPT_NO_WAIT,
      "Create an image file.\n"
      "driver=qcow2 unless an option says otherwise; other options as in <create>.\n"
      "SIZE may be left out when backing-file=FILE is given: the backing file's size.\n"
      "Waits for the job unless --no-wait. Needs a daemon with 'image-create'.",
      cmd_create },
    { "graph", "", 0, 0, CTL_OPT_SVG, "Print or draw the graph.\n"
      "Graphviz DOT text, or with --svg FILE a drawing made by dot (graphviz).", cmd_graph },
};

static const struct {
    unsigned bit;
    const char *text;
} option_help[] = {
    { CTL_OPT_FORCE, "  --force          cancel at once, without waiting for the job to settle\n" },
    { CTL_OPT_HARD, "  --hard           disconnect connected clients\n" },
    { CTL_OPT_SVG, "  --svg FILE       write an SVG drawing (needs graphviz) to FILE\n" },
    { CTL_OPT_QUIET, "  -q, --quiet      print only names, one a line\n" },
    { CTL_OPT_NO_WAIT, "  --no-wait        return once the job has started\n" },
};

static const char common_help[] =
    "Options of every command:\n"
    "  --system         the system bus (default)\n"
    "  --session        the session bus\n"
    "  --address ADDR   a bus address, e.g. unix:path=/run/x.sock\n"
    "  --json           JSON output for scripts\n"
    "  -h, --help       this help\n"
    "\n"
    "Exit status: 0 done, 1 error (the daemon's message on stderr), 2 wrong usage.\n";

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("bgctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'bgctl --help'.\n", stderr);
    return CTL_EXIT_USAGE;
}

int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("bgctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_ERROR;
}

static void print_main_help(void)
{
    printf("Usage: bgctl [OPTIONS] COMMAND [ARGUMENTS]\n\n"
           "Manage blockgraphd, the storage daemon, over D-Bus.\n\nCommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *head = g_strdup_printf("%s %s", commands[i].name,
                                                commands[i].synopsis);
        const char *nl = strchr(commands[i].help, '\n');
        int len = nl ? (int)(nl - commands[i].help) : (int)strlen(commands[i].help);
        printf("  %-30s %.*s\n", head, len, commands[i].help);
    }
    printf("\n%s\n'bgctl COMMAND --help' tells more; man bgctl.\n", common_help);
}

static void print_command_help(const Command *c)
{
    printf("Usage: bgctl %s%s%s\n\n%s\n\n", c->name, *c->synopsis ? " " : "", c->synopsis,
           c->help);
    if (c->options) {
        printf("Options:\n");
        for (size_t i = 0; i < G_N_ELEMENTS(option_help); i++)
            if (c->options & option_help[i].bit)
                fputs(option_help[i].text, stdout);
        putchar('\n');
    }
    fputs(common_help, stdout);
}

/* The command whose (one or two word) name starts the arguments. */
static const Command *find_command(char **args, int n, int *ret_words)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const char *name = commands[i].name, *space = strchr(name, ' ');
        if (!space) {
            if (n >= 1 && strcmp(args[0], name) == 0) {
                *ret_words = 1;
                return &commands[i];
            }
        } else if (n >= 2 && strncmp(args[0], name, space - name) == 0 &&
                   args[0][space - name] == '\0' && strcmp(args[1], space + 1) == 0) {
            *ret_words = 2;
            return &commands[i];
        }
    }
    return NULL;
}

static bool is_group(const char *word)
{
    return strcmp(word, "export") == 0 || strcmp(word, "job") == 0;
}

typedef struct {
    int bus;
    const char *address;
    bool help;
    unsigned used;   /* CtlOption bits given */
} Parsed;

static int parse_options(int argc, char **argv, Ctl *ctl, Parsed *p)
{
    enum { ARG_SYSTEM = 0x100, ARG_SESSION, ARG_ADDRESS, ARG_JSON, ARG_FORCE, ARG_HARD,
           ARG_SVG, ARG_NO_WAIT, ARG_VERSION };
    static const struct option options[] = {
        { "system", no_argument, NULL, ARG_SYSTEM },
        { "session", no_argument, NULL, ARG_SESSION },
        { "address", required_argument, NULL, ARG_ADDRESS },
        { "json", no_argument, NULL, ARG_JSON },
        { "force", no_argument, NULL, ARG_FORCE },
        { "hard", no_argument, NULL, ARG_HARD },
        { "svg", required_argument, NULL, ARG_SVG },
        { "quiet", no_argument, NULL, 'q' },
        { "no-wait", no_argument, NULL, ARG_NO_WAIT },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        {}
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", options, NULL)) >= 0) {
        switch (c) {
        case ARG_SYSTEM: p->bus = BUS_SYSTEM; p->address = NULL; break;
        case ARG_SESSION: p->bus = BUS_SESSION; p->address = NULL; break;
        case ARG_ADDRESS: p->address = optarg; break;
        case ARG_JSON: ctl->json = true; break;
        case ARG_FORCE: ctl->force = true; p->used |= CTL_OPT_FORCE; break;
        case ARG_HARD: ctl->hard = true; p->used |= CTL_OPT_HARD; break;
        case ARG_SVG: ctl->svg = optarg; p->used |= CTL_OPT_SVG; break;
        case 'q': ctl->quiet = true; p->used |= CTL_OPT_QUIET; break;
        case ARG_NO_WAIT: ctl->no_wait = true; p->used |= CTL_OPT_NO_WAIT; break;
        case 'h': p->help = true; break;
        case ARG_VERSION: printf("bgctl %s\n", BLOCKGRAPH_VERSION); exit(CTL_EXIT_OK);
        case ':':
            return ctl_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return ctl_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return 0;
}

static int check_arguments(const Command *c, const Ctl *ctl, unsigned used)
{
    unsigned stray = used & ~c->options;

    for (size_t i = 0; i < G_N_ELEMENTS(option_help); i++)
        if (stray & option_help[i].bit) {
            const char *name = strstr(option_help[i].text, "--");
            return ctl_usage_error("'%s' does not take %.*s", c->name,
                                   (int)strcspn(name, " \n"), name);
        }
    if (ctl->n_args < c->min_args)
        return ctl_usage_error("'%s' needs %s", c->name, c->synopsis);
    if (c->max_args >= 0 && ctl->n_args > c->max_args)
        return ctl_usage_error("too many arguments for '%s' (usage: bgctl %s %s)", c->name,
                               c->name, c->synopsis);
    return 0;
}

int main(int argc, char **argv)
{
    Ctl ctl = {};
    Parsed p = { .bus = BUS_DEFAULT };
    int words = 0, r;

    setlocale(LC_ALL, "");
    r = parse_options(argc, argv, &ctl, &p);
    if (r)
        return r;
    char **rest = argv + optind;
    int n_rest = argc - optind;
    if (n_rest == 0 || (n_rest == 1 && strcmp(rest[0], "help") == 0)) {
        if (p.help || n_rest == 1) {
            print_main_help();
            return CTL_EXIT_OK;
        }
        return ctl_usage_error("no command given");
    }
    bool help_word = strcmp(rest[0], "help") == 0;
    const Command *c = find_command(rest + help_word, n_rest - help_word, &words);
    if (!c) {
        if (is_group(rest[help_word]) && n_rest > 1 + help_word)
            return ctl_usage_error("unknown command '%s %s'", rest[help_word],
                                   rest[1 + help_word]);
        if (is_group(rest[help_word]))
            return ctl_usage_error("'%s' needs a subcommand (see 'bgctl --help')",
                                   rest[help_word]);
        return ctl_usage_error("unknown command '%s'", rest[help_word]);
    }
    if (p.help || help_word) {
        print_command_help(c);
        return CTL_EXIT_OK;
    }
    ctl.command = c;
    ctl.args = rest + words;
    ctl.n_args = n_rest - words;
    r = check_arguments(c, &ctl, p.used);
    if (r)
        return r;
    r = ctl_connect(&ctl, p.bus == BUS_SESSION, p.address);
    if (r == 0)
        r = c->run(&ctl);
    sd_bus_flush_close_unref(ctl.bus);
    return r;
}
