/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The job framework with a job type of the test's own ("count": steps of
 * 1 KiB, an I/O error on a chosen step): QEMU's tables, the life of a job
 * with and without auto-finalize / auto-dismiss, pause keeping progress
 * still, cancel, and the on-error policies (stop pauses showing the error
 * and Resume retries the step).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "aio/coroutine.h"
#include "aio/loop.h"
#include "graph/error.h"
#include "jobs/job.h"

typedef struct CountJob {
    Job common;
    unsigned steps, fail_step, failures_left;
    unsigned prepared, aborted, cleaned;
} CountJob;

static int coroutine_fn count_run(Job *job, GError **errp)
{
    CountJob *c = (CountJob *)job;
    int error = 0;

    job_progress_set_remaining(job, c->steps * 1024);
    for (unsigned i = 0; i < c->steps && !job_is_cancelled(job);) {
        if (i == c->fail_step && c->failures_left > 0) {
            c->failures_left--;
            JobErrorAction a = job_error_action(job, false, -EIO);
            if (a == JOB_ERROR_ACTION_STOP) {
                job_pause_point(job);
                continue;
            }
            error = -EIO;
            if (a == JOB_ERROR_ACTION_REPORT)
                break;
        }
        i++;
        job_progress_done(job, 1024, 1024);
    }
    return error;
}

static int coroutine_fn count_setup(Job *job, const JobSpec *spec, GError **errp)
{
    return 0;
}

static int coroutine_fn count_prepare(Job *job, GError **errp)
{
    ((CountJob *)job)->prepared++;
    return 0;
}

static void coroutine_fn count_abort(Job *job)
{
    ((CountJob *)job)->aborted++;
}

static void coroutine_fn count_clean(Job *job)
{
    ((CountJob *)job)->cleaned++;
}

static const JobDriver count_driver = {
    .type = "count",
    .instance_size = sizeof(CountJob),
    .co_setup = count_setup,
    .co_run = count_run,
    .co_prepare = count_prepare,
    .co_abort = count_abort,
    .co_clean = count_clean,
};

static Job *start(const char *id, unsigned steps, JobOnError on_error, bool auto_fin,
                  bool auto_dis, uint64_t speed)
{
    JobSpec spec = { .type = "count", .id = (char *)id, .speed = speed, .on_error = on_error,
                     .auto_finalize = auto_fin, .auto_dismiss = auto_dis };
    g_autoptr(GError) err = NULL;
    Job *job = job_co_create(&count_driver, &spec, "<job/>", 0, &err);

    assert_non_null(job);
    ((CountJob *)job)->steps = steps;
    ((CountJob *)job)->fail_step = UINT32_MAX;
    return job;
}

/* Turns the loop until the job reaches status (or 5 s pass: a failure). */
static void wait_status(Job *job, JobStatus status)
{
    gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (job->status != status) {
        assert_true(g_get_monotonic_time() < end);
        coroutine_sleep_ns(1000000);
    }
}

static void run_in_coroutine(void (*body)(void))
{
    aio_run_coroutine((void (*)(void *))body, NULL);
}

static void test_tables_are_qemus(void **state)
{
    assert_true(job_transition_allowed(JOB_STATUS_RUNNING, JOB_STATUS_PAUSED));
    assert_true(job_transition_allowed(JOB_STATUS_READY, JOB_STATUS_STANDBY));
    assert_true(job_transition_allowed(JOB_STATUS_PENDING, JOB_STATUS_ABORTING));
    assert_false(job_transition_allowed(JOB_STATUS_PAUSED, JOB_STATUS_READY));
    assert_false(job_transition_allowed(JOB_STATUS_CONCLUDED, JOB_STATUS_RUNNING));
    assert_true(job_verb_allowed(JOB_VERB_COMPLETE, JOB_STATUS_READY));
    assert_false(job_verb_allowed(JOB_VERB_COMPLETE, JOB_STATUS_RUNNING));
    assert_false(job_verb_allowed(JOB_VERB_CANCEL, JOB_STATUS_ABORTING));
    assert_true(job_verb_allowed(JOB_VERB_CANCEL, JOB_STATUS_PENDING));
    assert_true(job_verb_allowed(JOB_VERB_DISMISS, JOB_STATUS_CONCLUDED));
    assert_false(job_verb_allowed(JOB_VERB_PAUSE, JOB_STATUS_WAITING));
    assert_string_equal(job_status_name(JOB_STATUS_STANDBY), "standby");
    assert_string_equal(job_verb_name(JOB_VERB_SET_SPEED), "set-speed");
}

static void manual_end_body(void)
{
    g_autoptr(GError) err = NULL;
    Job *job = start("j0", 50, JOB_ON_ERROR_REPORT, false, false, 0);
    CountJob *c = (CountJob *)job;

    assert_false(job_user_complete(job, &err));
    assert_string_equal(err->message,
                        "Job 'j0' in state 'running' cannot accept command verb 'complete'");
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_INVALID_STATE));
    wait_status(job, JOB_STATUS_PENDING);
    assert_int_equal(c->prepared, 0);
    assert_true(job_co_finalize(job, NULL));
    assert_int_equal(job->status, JOB_STATUS_CONCLUDED);
    assert_int_equal(c->prepared, 1);
    assert_int_equal(c->cleaned, 1);
    assert_int_equal(c->aborted, 0);
    assert_int_equal(job->progress_current, 50 * 1024);
    assert_ptr_equal(job_lookup("j0"), job);
    assert_true(job_dismiss(job, NULL));
    assert_null(job_lookup("j0"));
}

static void test_manual_finalize_and_dismiss(void **state)
{
    run_in_coroutine(manual_end_body);
}

static void pause_body(void)
{
    g_autoptr(GError) err = NULL;
    /* 1 KiB steps at 20 KiB/s: a second's work. */
    Job *job = start("j1", 20, JOB_ON_ERROR_REPORT, true, false, 20 * 1024);

    assert_true(job_user_pause(job, NULL));
    wait_status(job, JOB_STATUS_PAUSED);
    uint64_t progress = job->progress_current;
    coroutine_sleep_ns(200 * 1000000ull);
    assert_int_equal(job->progress_current, progress);
    assert_false(job_user_pause(job, &err));
    assert_true(job_user_resume(job, NULL));
    assert_true(job_set_speed(job, 0, NULL));
    wait_status(job, JOB_STATUS_CONCLUDED);
    assert_null(job->error);
    assert_true(job_dismiss(job, NULL));
}

static void test_pause_keeps_progress_still(void **state)
{
    run_in_coroutine(pause_body);
}

static void cancel_body(void)
{
    Job *job = start("j2", 1000, JOB_ON_ERROR_REPORT, true, false, 10 * 1024);
    CountJob *c = (CountJob *)job;

    wait_status(job, JOB_STATUS_RUNNING);
    assert_true(job_user_cancel(job, false, NULL));
    wait_status(job, JOB_STATUS_CONCLUDED);
    assert_int_equal(job->ret, -ECANCELED);
    assert_int_equal(c->aborted, 1);
    assert_int_equal(c->prepared, 0);
    assert_true(job->progress_current < 1000 * 1024);
    assert_true(job_dismiss(job, NULL));
}

static void test_cancel_aborts(void **state)
{
    run_in_coroutine(cancel_body);
}

static void stop_body(void)
{
    Job *job = start("j3", 10, JOB_ON_ERROR_STOP, true, false, 0);
    CountJob *c = (CountJob *)job;

    c->fail_step = 5;
    c->failures_left = 1;
    wait_status(job, JOB_STATUS_PAUSED);
    assert_non_null(job->error);
    assert_non_null(strstr(job->error, "write error"));
    assert_int_equal(job->progress_current, 5 * 1024);
    assert_true(job_user_resume(job, NULL));
    assert_null(job->error);
    wait_status(job, JOB_STATUS_CONCLUDED);
    assert_int_equal(job->ret, 0);
    assert_int_equal(job->progress_current, 10 * 1024);
    assert_true(job_dismiss(job, NULL));
}

static void test_on_error_stop_then_resume_retries(void **state)
{
    run_in_coroutine(stop_body);
}

static void report_ignore_body(void)
{
    Job *a = start("j4", 10, JOB_ON_ERROR_REPORT, true, false, 0);
    Job *b = start("j5", 10, JOB_ON_ERROR_IGNORE, true, false, 0);

    ((CountJob *)a)->fail_step = ((CountJob *)b)->fail_step = 3;
    ((CountJob *)a)->failures_left = ((CountJob *)b)->failures_left = 1;
    wait_status(a, JOB_STATUS_CONCLUDED);
    wait_status(b, JOB_STATUS_CONCLUDED);
    assert_int_equal(a->ret, -EIO);
    assert_int_equal(a->progress_current, 3 * 1024);
    /* ignore goes on to the end, and still fails (QEMU's stream keeps the chain then). */
    assert_int_equal(b->ret, -EIO);
    assert_int_equal(b->progress_current, 10 * 1024);
    assert_true(job_dismiss(a, NULL));
    assert_true(job_dismiss(b, NULL));
}

static void test_on_error_report_and_ignore(void **state)
{
    run_in_coroutine(report_ignore_body);
}

static void auto_dismiss_body(void)
{
    g_autoptr(GError) err = NULL;
    JobSpec spec = { .type = "count", .id = "j6", .auto_finalize = true, .auto_dismiss = true };

    start("j6", 3, JOB_ON_ERROR_REPORT, true, true, 0);
    assert_null(job_co_create(&count_driver, &spec, "<job/>", 0, &err));
    assert_true(g_error_matches(err, BG_ERROR, BG_ERROR_EXISTS));
    while (job_lookup("j6"))
        coroutine_sleep_ns(1000000);
}

static void test_auto_dismiss_removes_the_job(void **state)
{
    run_in_coroutine(auto_dismiss_body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_are_qemus),
        cmocka_unit_test(test_manual_finalize_and_dismiss),
        cmocka_unit_test(test_pause_keeps_progress_still),
        cmocka_unit_test(test_cancel_aborts),
        cmocka_unit_test(test_on_error_stop_then_resume_retries),
        cmocka_unit_test(test_on_error_report_and_ignore),
        cmocka_unit_test(test_auto_dismiss_removes_the_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
