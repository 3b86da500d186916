/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The write-blocking mirror (jobs/mirror-core.c) against drains, with a real
 * mirror job and no bus: the target is drained while the job copies, a
 * guest writes over the range of a copy, then the source is drained (a
 * ReopenNodes of [target, source] drains in that order).  The drain of the
 * source ends, the guest's write returns, and once both drains end the job
 * reaches ready and completes.  Two targets: a null-co node, which has no
 * copy offload, so the copy reads the source into a buffer and then writes
 * while the target is drained; and a raw node whose file is the drained
 * node (the copy's write to the raw node waits below it), where the target
 * file ends up equal to the source.
 */
#include <string.h>
#include <unistd.h>

#include "aio/loop.h"
#include "graph/io.h"
#include "jobs/job.h"
#include "tests/unit/test-util.h"

#define KiB 1024
#define MiB (1024 * KiB)
#define SIZE MiB
#define RW (BLOCK_PERM_CONSISTENT_READ | BLOCK_PERM_WRITE)
#define STEP_NS (1000 * 1000)

typedef struct Step {
    BlockChild *c;
    Job *job;
    BlockNode *node;
    JobStatus want;             /* wait_status */
    int result;
    bool done;
} Step;

static void start_co(void *opaque)
{
    Step *s = opaque;
    g_autoptr(GError) err = NULL;
    JobSpec spec = { .type = "mirror", .id = "m0", .auto_finalize = true };

    spec.attrs = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(spec.attrs, "node-name", "s");
    g_hash_table_insert(spec.attrs, "target", "t");
    g_hash_table_insert(spec.attrs, "sync", "full");
    g_hash_table_insert(spec.attrs, "copy-mode", "write-blocking");
    s->job = job_co_start(&spec, "<job/>", 0, &err);
    g_hash_table_unref(spec.attrs);
    if (!s->job)
        fail_msg("mirror did not start: %s", err->message);
    s->done = true;
}

/* Done once the job works on the source: a read sent, or a copy in flight there. */
static void copying_co(void *opaque)
{
    Step *s = opaque;
    uint64_t job_requests;

    do {
        coroutine_sleep_ns(STEP_NS);
        job_requests = 0;
        for (guint i = 0; i < s->node->parents->len; i++) {
            const BlockChild *c = g_ptr_array_index(s->node->parents, i);

            if (c->user_kind == BLOCK_USER_JOB)
                job_requests += c->requests;
        }
    } while (job_requests == 0 && s->node->in_flight == 0);
    coroutine_sleep_ns(20 * STEP_NS);   /* the read ends, the copy waits at the target */
    s->done = true;
}

static void write_co(void *opaque)
{
    Step *w = opaque;
    uint8_t data[4 * KiB];

    memset(data, 0xee, sizeof(data));
    w->result = node_co_pwrite(w->c, 8 * KiB, sizeof(data), data, 0);
    w->done = true;
}

static void wait_status_co(void *opaque)
{
    Step *s = opaque;

    while (s->job->status != s->want)
        coroutine_sleep_ns(STEP_NS);
    s->done = true;
}

static void wait_status(Step *s, JobStatus status)
{
    s->done = false;
    s->want = status;
    coroutine_start(wait_status_co, s);
    aio_run_until(&s->done);
}

/* The source's contents, with the guest's write, equal the target file's. */
static void check_same(const char *src, const char *dst)
{
    g_autofree char *a = NULL, *b = NULL;
    gsize alen, blen;

    assert_true(g_file_get_contents(src, &a, &alen, NULL));
    assert_true(g_file_get_contents(dst, &b, &blen, NULL));
    assert_int_equal(alen, blen);
    assert_int_equal((uint8_t)a[8 * KiB], 0xee);
    assert_memory_equal(a, b, alen);
}

/* format_target: t is raw over the file node tf, and tf is the node drained first. */
static void run(bool format_target)
{
    char *src = tu_pattern_file(SIZE, 0), *dst = tu_pattern_file(SIZE, 3);
    g_autofree char *sxml = g_strdup_printf(
        "<blockdev driver='file' node-name='s' filename='%s'/>", src);
    g_autofree char *txml = format_target
        ? g_strdup_printf("<blockdev driver='raw' node-name='t'><file driver='file' "
                          "node-name='tf' filename='%s'/></blockdev>", dst)
        : g_strdup_printf("<blockdev driver='null-co' node-name='t' size='%d'/>", SIZE);
    BlockNode *sn = tu_add_xml(sxml, NULL), *tn = tu_add_xml(txml, NULL);
    BlockNode *drained_first = format_target ? tn->file->node : tn;
    Step w = { .c = tu_attach(sn, "writer", RW, NULL) };
    Step job = { 0 }, copying = { .node = sn };
    TuDrain dt = { drained_first }, ds = { sn };
    g_autoptr(GError) err = NULL;

    alarm(60);      /* a hang fails the test */
    tu_drain_start(&dt);
    aio_run_until(&dt.done);
    coroutine_start(start_co, &job);
    aio_run_until(&job.done);
    coroutine_start(copying_co, &copying);
    aio_run_until(&copying.done);
    coroutine_start(write_co, &w);      /* over the copy's range */
    tu_drain_start(&ds);
    aio_run_until(&ds.done);
    assert_true(w.done);
    assert_int_equal(w.result, 0);
    node_drain_end(sn);
    node_drain_end(drained_first);
    wait_status(&job, JOB_STATUS_READY);
    assert_true(job_user_complete(job.job, &err));
    wait_status(&job, JOB_STATUS_CONCLUDED);
    alarm(0);
    assert_null(job.job->error);
    assert_true(job_dismiss(job.job, &err));
    tu_detach(w.c);
    tu_remove_all();
    if (format_target)
        check_same(src, dst);
    tu_unlink(src);
    tu_unlink(dst);
}

static void test_drains_of_target_then_source(void **state)
{
    run(false);
}

static void test_drains_of_target_file_then_source(void **state)
{
    run(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drains_of_target_then_source),
        cmocka_unit_test(test_drains_of_target_file_then_source),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    aio_loop_shutdown();
    return r;
}
