/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backup's copies (jobs/backup-copy.c) against drains, on a BackupJob of
 * the test's own (no job around it): a background copy that read the
 * source while its target is drained does not claim its range until the
 * target's drain ends, so a guest write over that range copies it itself
 * and a drain of the source (a reopen of [target, source]) ends.
 */
#include <string.h>
#include <unistd.h>

#include "aio/loop.h"
#include "graph/io.h"
#include "jobs/backup.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define FILE_SIZE (256 * KiB)
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)

typedef struct Step {
    BackupJob *s;
    BlockChild *c;
    BlockNode *node;
    int result;
    bool done;
} Step;

static void write_co(void *opaque)
{
    Step *w = opaque;
    uint8_t data[4 * KiB];

    memset(data, 0xee, sizeof(data));
    w->result = node_co_pwrite(w->c, 8 * KiB, sizeof(data), data, 0);
    w->done = true;
}

static void lock_start_co(void *opaque)
{
    Step *d = opaque;

    node_co_range_lock_start(d->node);
    d->done = true;
}

/* Done once the background copy read the source (it then claims or waits). */
static void read_done_co(void *opaque)
{
    Step *r = opaque;

    while (r->s->reading)
        coroutine_sleep_ns(1000 * 1000);
    r->done = true;
}

static void wait_tasks_co(void *opaque)
{
    Step *r = opaque;

    backup_wait_tasks(r->s);
    backup_hook_stop(r->s);
    r->done = true;
}

/* Bytes [from, to) of path are the pattern of seed. */
static void check_pattern(const char *path, size_t from, size_t to, int seed)
{
    g_autofree char *now = NULL;
    gsize len;

    assert_true(g_file_get_contents(path, &now, &len, NULL));
    for (size_t i = from; i < to; i++)
        assert_int_equal((uint8_t)now[i], (uint8_t)(i / 512 + seed));
}

static void run(bool serialise)
{
    char *src = tu_pattern_file(FILE_SIZE, 0), *dst = tu_pattern_file(FILE_SIZE, 3);
    g_autofree char *sxml = g_strdup_printf(
        "<blockdev driver='file' node-name='s' filename='%s'/>", src);
    g_autofree char *dxml = g_strdup_printf(
        "<blockdev driver='file' node-name='t' filename='%s'/>", dst);
    BlockNode *sn = tu_add_xml(sxml, NULL), *tn = tu_add_xml(dxml, NULL);
    BackupJob s = { .source = sn, .target = tn, .no_offload = true, .serialise = serialise };
    Step w = { .c = tu_attach(sn, "writer", RW, NULL) };
    Step lk = { .node = tn };
    TuDrain dt = { tn }, ds = { sn };
    Step rd = { .s = &s }, idle = { .s = &s };

    s.source_link = tu_attach(sn, "job-src", BLOCK_PERM_CONSISTENT_READ, NULL);
    s.target_link = tu_attach(tn, "job-dst", RW, NULL);
    co_queue_init(&s.idle);
    g_queue_init(&s.done);
    job_dirty_init(&s.uncopied, FILE_SIZE, BACKUP_CLUSTER);
    job_dirty_set(&s.uncopied, 0, FILE_SIZE);
    alarm(60);      /* a hang fails the test */
    if (serialise) {
        coroutine_start(lock_start_co, &lk);
        aio_run_until(&lk.done);
    }
    backup_hook_start(&s);
    tu_drain_start(&dt);
    aio_run_until(&dt.done);
    assert_true(backup_start_task(&s));
    coroutine_start(read_done_co, &rd);
    aio_run_until(&rd.done);
    coroutine_start(write_co, &w);      /* its hook copies the cluster at 0 */
    tu_drain_start(&ds);
    aio_run_until(&ds.done);
    assert_true(w.done);
    assert_int_equal(w.result, 0);
    node_drain_end(sn);
    node_drain_end(tn);
    coroutine_start(wait_tasks_co, &idle);
    aio_run_until(&idle.done);
    alarm(0);
    for (BackupTask *t; (t = g_queue_pop_head(&s.done));)
        g_free(t);
    if (serialise)
        node_range_lock_stop(tn);
    job_dirty_destroy(&s.uncopied);
    tu_detach(s.target_link);
    tu_detach(s.source_link);
    tu_detach(w.c);
    tu_remove_all();
    check_pattern(dst, 0, BACKUP_CLUSTER, 0);  /* the source's data of the start */
    tu_unlink(src);
    tu_unlink(dst);
}

static void test_background_claims_undrained_target(void **state)
{
    run(false);
}

static void test_background_claims_undrained_target_serialised(void **state)
{
    run(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_background_claims_undrained_target),
        cmocka_unit_test(test_background_claims_undrained_target_serialised),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
