/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bgctl graph [--svg FILE]: Manager.GetGraph("dot") as text, or drawn by
 * graphviz's dot into an SVG file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bgctl.h"

static int write_all(int fd, const char *text)
{
    size_t left = strlen(text);

    while (left > 0) {
        ssize_t n = write(fd, text, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        text += n;
        left -= n;
    }
    return 0;
}

/* Runs dot -Tsvg with the text on its standard input, file on its output. */
static int draw_svg(const char *dot, const char *file)
{
    int fds[2], status, out;
    pid_t pid;

    out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out < 0)
        return ctl_fail("cannot write '%s': %m", file);
    if (pipe2(fds, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        int r = ctl_fail("cannot run dot: %m");
        close(out);
        return r;
    }
    if (pid == 0) {
        dup2(fds[0], STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        execlp("dot", "dot", "-Tsvg", (char *)NULL);
        fprintf(stderr, "bgctl: cannot run dot (install graphviz): %m\n");
        _exit(127);
    }
    close(out);
    close(fds[0]);
    signal(SIGPIPE, SIG_IGN);   /* a dot that fails early: an error, not a kill */
    int r = write_all(fds[1], dot);
    close(fds[1]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
        return CTL_EXIT_ERROR;
    if (WEXITSTATUS(status) != 0 || r < 0)
        return ctl_fail("dot could not draw '%s'", file);
    return 0;
}

int cmd_graph(Ctl *ctl)
{
    g_autofree char *dot = NULL;
    int r = ctl_get_string(ctl, BG_ROOT_PATH, BG_MANAGER, "GetGraph", "dot", &dot);

    if (r)
        return r;
    if (ctl->svg)
        return draw_svg(dot, ctl->svg);
    if (ctl->json) {
        g_autoptr(JsonObject) out = json_object_new();
        json_object_set_string_member(out, "Dot", dot);
        json_print_object(out);
    } else {
        fputs(dot, stdout);
    }
    return 0;
}
