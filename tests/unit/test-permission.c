/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Read-only modes, permission conflicts and QEMU-compatible image locks,
 * observed through Writable, the open mode of the descriptor the daemon holds
 * and what qemu-io is allowed to do next to it.
 */

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "tests/unit/test-util.h"

#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

static char *image;

static int setup(void **state)
{
    image = tu_pattern_file(1024 * 1024, 0);
    return 0;
}

static int teardown(void **state)
{
    tu_remove_all();
    tu_unlink(g_steal_pointer(&image));
    return 0;
}

/* O_RDONLY / O_RDWR of the descriptor this process holds on path, -1 if none. */
static int fd_mode(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    const char *name;

    while ((name = g_dir_read_name(dir))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", name);
        g_autofree char *target = g_file_read_link(link, NULL);
        g_autofree char *info_path = g_strdup_printf("/proc/self/fdinfo/%s", name);
        g_autofree char *info = NULL;
        const char *flags;

        if (g_strcmp0(target, path) != 0 || !g_file_get_contents(info_path, &info, NULL, NULL))
            continue;
        flags = strstr(info, "flags:");
        return flags ? (int)(strtoul(flags + 6, NULL, 8) & O_ACCMODE) : -1;
    }
    return -1;
}

static BlockNode *add_file(const char *options)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='img' filename='%s' %s/>", image, options);
    return tu_add_xml(xml, NULL);
}

typedef struct Mode {
    const char *options;
    bool writable_idle, writer_allowed;
} Mode;

static void check_mode(const Mode *m)
{
    BlockNode *n = add_file(m->options);
    GError *err = NULL;
    BlockChild *w;

    assert_int_equal(n->writable, m->writable_idle);
    assert_int_equal(fd_mode(image), m->writable_idle ? O_RDWR : O_RDONLY);
    w = tu_attach(n, "e0", RW, &err);
    if (!m->writer_allowed) {
        assert_null(w);
        assert_error(err, BG_ERROR_READ_ONLY, "Node 'img' is read-only");
        assert_int_equal(fd_mode(image), O_RDONLY);
        return;
    }
    assert_non_null(w);
    assert_true(n->writable);
    assert_int_equal(fd_mode(image), O_RDWR);
    tu_detach(w);
    assert_int_equal(n->writable, m->writable_idle);
    assert_int_equal(fd_mode(image), m->writable_idle ? O_RDWR : O_RDONLY);
}

static void test_hard_read_only(void **state)
{
    check_mode(&(Mode){ "read-only='on'", false, false });
}

static void test_hard_read_write(void **state)
{
    check_mode(&(Mode){ "read-only='off'", true, true });
}

static void test_dynamic_auto_read_only(void **state)
{
    check_mode(&(Mode){ "auto-read-only='on'", false, true });
}

static void test_read_only_wins_over_auto_read_only(void **state)
{
    check_mode(&(Mode){ "read-only='on' auto-read-only='on'", false, false });
}

/* raw cannot switch by itself: auto-read-only falls back to read-only when its file is. */
static void test_fallback_read_only_for_non_dynamic_driver(void **state)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='r' auto-read-only='on'>"
        "<file driver='file' filename='%s' read-only='on'/></blockdev>", image);
    g_autofree char *hard = g_strdup_printf(
        "<blockdev driver='raw' node-name='hard'>"
        "<file driver='file' filename='%s' read-only='on'/></blockdev>", image);
    BlockNode *r = tu_add_xml(xml, NULL);
    GError *err = NULL;

    assert_false(r->writable);
    assert_null(tu_attach(r, "e0", RW, &err));
    assert_error(err, BG_ERROR_READ_ONLY, "auto-read-only could not open it read-write");
    assert_null(tu_add_xml(hard, &err));
    assert_error(err, BG_ERROR_READ_ONLY, "is read-only");
}

/* An exclusive writer: takes write, shares only reading. */
static BlockChild *attach_exclusive(BlockNode *n, const char *user, GError **err)
{
    return node_attach_user(n, BLOCK_USER_EXPORT, user, "export", RW,
                            BLOCK_PERM_CONSISTENT_READ, err);
}

static BlockChild *attach_reader(BlockNode *n, const char *user, GError **err)
{
    return node_attach_user(n, BLOCK_USER_EXPORT, user, "export", BLOCK_PERM_CONSISTENT_READ,
                            BLOCK_PERM_CONSISTENT_READ, err);
}

/* raw passes on what its users take and share, so two raw parents conflict through them. */
static void test_two_parents_conflict(void **state)
{
    GError *err = NULL;

    add_file("");
    BlockNode *p1 = tu_add_xml("<blockdev driver='raw' node-name='p1'><file ref='img'/></blockdev>",
                               NULL);
    BlockNode *p2 = tu_add_xml("<blockdev driver='raw' node-name='p2'><file ref='img'/></blockdev>",
                               NULL);
    assert_non_null(p2);        /* no users: neither takes anything of img */
    assert_non_null(attach_exclusive(p1, "e1", NULL));
    assert_null(tu_attach(p2, "e2", RW, &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT,
                 "Permission conflict on node 'img': permissions 'write' are both "
                 "required by node 'p2' (uses node 'img' as 'file' child) and unshared by node "
                 "'p1' (uses node 'img' as 'file' child).");
    err = NULL;
    /* A parent whose reader shares no write is in the way of p1's writer ... */
    BlockNode *p3 = tu_add_xml("<blockdev driver='raw' node-name='p3' read-only='on'>"
                               "<file ref='img'/></blockdev>", NULL);
    assert_null(attach_reader(p3, "r3", &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT, "unshared by node 'p3'");
    /* ... unless it is told to share everything. */
    BlockNode *p4 = tu_add_xml("<blockdev driver='raw' node-name='p4' read-only='on' "
                               "force-share='on'><file ref='img'/></blockdev>", NULL);
    assert_non_null(attach_reader(p4, "r4", NULL));
}

static void test_parent_and_export_conflict(void **state)
{
    BlockNode *n = add_file("");
    GError *err = NULL;
    BlockNode *top = tu_add_xml("<blockdev driver='raw' node-name='top'><file ref='img'/>"
                                "</blockdev>", NULL);
    BlockChild *e0 = tu_attach(n, "e0", RW, NULL);

    assert_non_null(e0);        /* top has no writer: it leaves img alone */
    tu_detach(e0);
    assert_non_null(attach_exclusive(top, "t0", NULL));
    assert_null(tu_attach(n, "e0", RW, &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT,
                 "permissions 'write' are both required by export 'e0' (uses node 'img') and "
                 "unshared by node 'top' (uses node 'img' as 'file' child)");
    assert_int_equal(n->parents->len, 1);
}

static void test_two_exports_conflict_unless_shared(void **state)
{
    BlockNode *n = add_file("");
    GError *err = NULL;
    BlockChild *a = node_attach_user(n, BLOCK_USER_EXPORT, "a", "export", RW,
                                     BLOCK_PERM_CONSISTENT_READ, NULL);

    assert_non_null(a);
    assert_null(tu_attach(n, "b", RW, &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT, "required by export 'b'");
    tu_detach(a);
    a = tu_attach(n, "a", RW, NULL);
    BlockChild *b = tu_attach(n, "b", RW, NULL);     /* both share write */
    assert_non_null(b);
    assert_int_equal(n->parents->len, 2);
}

static bool have_qemu_io(void)
{
    g_autofree char *path = g_find_program_in_path("qemu-io");

    return path != NULL;
}

static int qemu_io(const char *args, char **ret_err)
{
    g_autofree char *cmd = g_strdup_printf("qemu-io -f raw %s '%s'", args, image);
    int status = -1;

    if (!g_spawn_command_line_sync(cmd, NULL, ret_err, &status, NULL))
        return -1;
    return status;
}

static void test_qemu_io_cannot_write_what_we_write(void **state)
{
    g_autofree char *err_text = NULL;
    g_autofree char *ok_text = NULL;

    if (!have_qemu_io())
        skip();
    g_autofree char *xml = g_strdup_printf("<blockdev driver='raw' node-name='r'><file "
                                           "driver='file' filename='%s'/></blockdev>", image);

    /* raw forwards its writer's needs: write taken, write not shared. */
    assert_non_null(attach_exclusive(tu_add_xml(xml, NULL), "e0", NULL));
    assert_true(qemu_io("-c 'write 0 512'", &err_text) != 0);
    assert_non_null(strstr(err_text, "Failed to get \"write\" lock"));
    /* -U: qemu-io asks for no lock and may read along. */
    assert_int_equal(qemu_io("-U -r -c 'read 0 512'", &ok_text), 0);
}

static void test_readers_share_with_qemu_io(void **state)
{
    g_autofree char *text = NULL;

    if (!have_qemu_io())
        skip();
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='r' read-only='on'>"
        "<file driver='file' filename='%s' read-only='on'/></blockdev>", image);

    tu_add_xml(xml, NULL);
    assert_int_equal(qemu_io("-r -c 'read -P 0 0 512'", &text), 0);
}

static bool byte_locked(int byte)
{
    int fd = open(image, O_RDONLY);
    struct flock fl = { .l_whence = SEEK_SET, .l_start = byte, .l_len = 1, .l_type = F_WRLCK };

    fcntl(fd, F_OFD_GETLK, &fl);
    close(fd);
    return fl.l_type != F_UNLCK;
}

static void test_we_cannot_write_what_qemu_io_writes(void **state)
{
    g_autofree char *cmd = NULL;
    GError *err = NULL;
    GPid pid;
    char *argv[] = { "qemu-io", "-f", "raw", "-c", "sleep 20000", image, NULL };
    BlockNode *n;

    if (!have_qemu_io())
        skip();
    assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                              NULL, NULL, &pid, NULL));
    for (int i = 0; i < 500 && !byte_locked(101); i++)
        g_usleep(10000);
    assert_true(byte_locked(101));      /* qemu-io holds "write" */

    n = add_file("auto-read-only='on'");
    /* An exclusive writer: it shares no write, so qemu-io's "write" lock is in the way. */
    assert_null(node_attach_user(n, BLOCK_USER_EXPORT, "e0", "export", RW,
                                 BLOCK_PERM_CONSISTENT_READ, &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT, "\"write\" lock");
    assert_false(n->writable);
    assert_int_equal(fd_mode(image), O_RDONLY);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    g_spawn_close_pid(pid);
    /* Once it is gone, the same attach works. */
    BlockChild *w = tu_attach(n, "e0", RW, NULL);
    assert_non_null(w);
    assert_true(byte_locked(101));
}

/*
 * QEMU's raw_child_perm: with no writer above, an auto-read-only file under
 * raw stays read-only and carries no write lock; a writer's attach switches
 * it (and its locks) to read-write, and its detach back.
 */
static void test_raw_forwards_its_users_needs(void **state)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='raw' node-name='r'><file driver='file' node-name='img' "
        "filename='%s' auto-read-only='on'/></blockdev>", image);
    BlockNode *r = tu_add_xml(xml, NULL);
    BlockNode *img = graph_lookup("img");
    BlockChild *w;

    assert_true(r->writable);
    assert_false(img->writable);
    assert_int_equal(fd_mode(image), O_RDONLY);
    assert_false(byte_locked(101));         /* "write" taken */
    assert_false(byte_locked(201));         /* "write" unshared */
    w = tu_attach(r, "e0", RW, NULL);
    assert_non_null(w);
    assert_true(img->writable);
    assert_int_equal(fd_mode(image), O_RDWR);
    assert_true(byte_locked(101));
    assert_int_equal(((BlockChild *)g_ptr_array_index(img->parents, 0))->perm, RW);
    tu_detach(w);
    assert_false(img->writable);
    assert_int_equal(fd_mode(image), O_RDONLY);
    assert_false(byte_locked(101));
}

/* A format with metadata writes its file whenever it is writable, users or not. */
static void test_qcow2_writes_its_file_while_writable(void **state)
{
    g_autofree char *qcow2 = g_strdup_printf("%s.qcow2", image);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 '%s' 1M", qcow2);
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='qcow2' node-name='q'><file driver='file' node-name='qf' "
        "filename='%s' auto-read-only='on'/></blockdev>", qcow2);
    int status = -1;

    if (!have_qemu_io() || !g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL) ||
        status != 0)
        skip();
    assert_non_null(tu_add_xml(xml, NULL));
    assert_true(graph_lookup("qf")->writable);
    assert_int_equal(fd_mode(qcow2), O_RDWR);
    tu_remove_all();
    g_unlink(qcow2);
}

static int loop_ran(sd_event_source *s, void *userdata)
{
    *(bool *)userdata = true;
    return 0;
}

typedef struct AttachCall {
    BlockNode *node;
    bool *loop_flag;
    bool loop_ran_meanwhile;
    BlockChild *user;
} AttachCall;

static void attach_co(void *opaque)
{
    AttachCall *a = opaque;

    a->user = node_attach_user(a->node, BLOCK_USER_EXPORT, "e0", "export",
                               BLOCK_PERM_CONSISTENT_READ, BLOCK_PERM_ALL, NULL);
    a->loop_ran_meanwhile = *a->loop_flag;
}

/*
 * Taking image locks is fcntl on the image, which can block on a network
 * file system: it runs in the worker pool, so the loop runs meanwhile.
 */
static void test_image_locks_taken_off_the_loop(void **state)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f' filename='%s' read-only='on' locking='on'/>",
        image);
    sd_event_source *defer = NULL;
    bool flag = false;
    AttachCall a = { .node = tu_add_xml(xml, NULL), .loop_flag = &flag };

    assert_int_equal(sd_event_add_defer(aio_loop(), &defer, loop_ran, &flag), 0);
    aio_run_coroutine(attach_co, &a);
    assert_non_null(a.user);
    assert_true(a.loop_ran_meanwhile);
    sd_event_source_disable_unref(defer);
    tu_detach(a.user);
}

/*
 * Another process that does not share consistent reads holds lock byte 200
 * (QEMU's layout): a reader cannot attach, and the message names the
 * permission as the bus does (Node.Users).
 */
static void test_lock_conflict_names_the_permission(void **state)
{
    g_autofree char *xml = g_strdup_printf(
        "<blockdev driver='file' node-name='f' filename='%s' locking='on'/>", image);
    struct flock fl = { .l_whence = SEEK_SET, .l_start = 200, .l_len = 1, .l_type = F_RDLCK };
    int other = open(image, O_RDONLY | O_CLOEXEC);
    BlockNode *n = tu_add_xml(xml, NULL);
    GError *err = NULL;

    assert_true(other >= 0);
    assert_int_equal(fcntl(other, F_OFD_SETLK, &fl), 0);
    assert_null(tu_attach(n, "e0", BLOCK_PERM_CONSISTENT_READ, &err));
    assert_error(err, BG_ERROR_PERMISSION_CONFLICT, "Failed to get \"consistent-read\" lock");
    close(other);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_hard_read_only),
        T(test_hard_read_write),
        T(test_dynamic_auto_read_only),
        T(test_read_only_wins_over_auto_read_only),
        T(test_fallback_read_only_for_non_dynamic_driver),
        T(test_two_parents_conflict),
        T(test_parent_and_export_conflict),
        T(test_two_exports_conflict_unless_shared),
        T(test_qemu_io_cannot_write_what_we_write),
        T(test_readers_share_with_qemu_io),
        T(test_we_cannot_write_what_qemu_io_writes),
        T(test_raw_forwards_its_users_needs),
        T(test_qcow2_writes_its_file_while_writable),
        T(test_image_locks_taken_off_the_loop),
        T(test_lock_conflict_names_the_permission),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
