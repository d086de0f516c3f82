/*
 * test_pool.c - unit tests of service/pool.c: every job runs exactly once
 * with its worker's context, the queue bound refuses with RK_ELIMIT, a
 * standing queue (delay above target for an interval) refuses with
 * RK_ETIMEOUT, stop runs what is queued and then refuses, and worker
 * start-up failures and allocation failures are reported; jobs with a
 * run_many queued together run as batches of at most SVC_POOL_BATCH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../common/rk.h"
#include "../../service/pool.h"

struct tjob {
	svc_job job;
	atomic_int *ran;
	int sleep_ms;
	void *wctx;
	int64_t queued_us;
};

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void run(svc_job *j, void *wctx, int64_t queued_us)
{
	struct tjob *t = (struct tjob *)j;
	t->wctx = wctx;
	t->queued_us = queued_us;
	if (t->sleep_ms)
		msleep(t->sleep_ms);
	atomic_fetch_add(t->ran, 1);
}

static int ctx_tags[8];
static atomic_int finis;

static void *winit(void *arg, int index)
{
	if (arg)
		return NULL;   /* asked to fail */
	return &ctx_tags[index];
}

static void wfini(void *w)
{
	(void)w;
	atomic_fetch_add(&finis, 1);
}

static void test_runs_every_job_once(void **state)
{
	(void)state;
	char err[128];
	atomic_init(&finis, 0);
	svc_pool_opts o = { .threads = 4, .capacity = 1000,
			    .target_us = 1000000, .worker_init = winit,
			    .worker_fini = wfini };
	svc_pool *p = svc_pool_new(&o, err, sizeof(err));
	assert_non_null(p);
	static struct tjob jobs[500];
	atomic_int ran;
	atomic_init(&ran, 0);
	for (int i = 0; i < 500; i++) {
		jobs[i] = (struct tjob){ .job.run = run, .ran = &ran };
		assert_int_equal(svc_pool_submit(p, &jobs[i].job), 0);
	}
	svc_pool_stop(p);
	assert_int_equal(atomic_load(&ran), 500);
	for (int i = 0; i < 500; i++) {
		assert_true(jobs[i].wctx >= (void *)&ctx_tags[0] &&
			    jobs[i].wctx <= (void *)&ctx_tags[3]);
		assert_true(jobs[i].queued_us >= 0);
	}
	assert_int_equal(atomic_load(&finis), 4);
	svc_pool_stats st;
	svc_pool_get_stats(p, &st);
	assert_int_equal(st.submitted, 500);
	assert_int_equal(st.depth, 0);
	assert_int_equal(st.busy, 0);
	/* stopped: refused */
	struct tjob late = { .job.run = run, .ran = &ran };
	assert_int_equal(svc_pool_submit(p, &late.job), RK_ESTATE);
	svc_pool_free(p);
	svc_pool_free(NULL);
}

/* run_many: counts batches and jobs; the first batch waits on a gate so
 * the rest queue up behind it. */
static atomic_int batches, batched, gate, queued_ok;

static void run_many(svc_job **jobs, int n, void *wctx,
		     const int64_t *queued_us)
{
	(void)wctx;
	assert_true(n >= 1 && n <= SVC_POOL_BATCH);
	for (int i = 0; i < n; i++)
		if (queued_us[i] >= 0 && jobs[i]->run_many == run_many)
			atomic_fetch_add(&queued_ok, 1);
	while (!atomic_load(&gate))
		msleep(1);
	atomic_fetch_add(&batches, 1);
	atomic_fetch_add(&batched, n);
}

static void test_run_many_batches(void **state)
{
	(void)state;
	char err[128];
	svc_pool_opts o = { .threads = 1, .capacity = 1000,
			    .target_us = 10000000 };
	svc_pool *p = svc_pool_new(&o, err, sizeof(err));
	assert_non_null(p);
	atomic_init(&batches, 0);
	atomic_init(&batched, 0);
	atomic_init(&gate, 0);
	atomic_init(&queued_ok, 0);
	static struct tjob jobs[101];
	atomic_int ran;
	atomic_init(&ran, 0);
	/* the first job holds the only worker at the gate */
	jobs[0] = (struct tjob){ .job.run = run, .job.run_many = run_many,
				 .ran = &ran };
	assert_int_equal(svc_pool_submit(p, &jobs[0].job), 0);
	while (svc_pool_queued(p))
		msleep(1);
	/* 50 batchable, 1 plain, 50 batchable behind it */
	for (int i = 1; i <= 100; i++) {
		jobs[i] = (struct tjob){ .job.run = run, .ran = &ran };
		if (i != 51)
			jobs[i].job.run_many = run_many;
		assert_int_equal(svc_pool_submit(p, &jobs[i].job), 0);
	}
	assert_int_equal(svc_pool_queued(p), 100);
	atomic_store(&gate, 1);
	svc_pool_stop(p);
	assert_int_equal(atomic_load(&batched), 100);
	assert_int_equal(atomic_load(&queued_ok), 100);
	assert_int_equal(atomic_load(&ran), 1);   /* the plain one */
	/* 1 + ceil(50/16) + ceil(49/16), never across the plain job */
	assert_int_equal(atomic_load(&batches), 1 + 4 + 4);
	svc_pool_free(p);
}

static void test_queue_full(void **state)
{
	(void)state;
	char err[128];
	svc_pool_opts o = { .threads = 1, .capacity = 2,
			    .target_us = 10000000 };
	svc_pool *p = svc_pool_new(&o, err, sizeof(err));
	assert_non_null(p);
	atomic_int ran;
	atomic_init(&ran, 0);
	struct tjob block = { .job.run = run, .ran = &ran, .sleep_ms = 200 };
	struct tjob q[3];
	assert_int_equal(svc_pool_submit(p, &block.job), 0);
	msleep(50);   /* the worker is inside `block` */
	for (int i = 0; i < 3; i++)
		q[i] = (struct tjob){ .job.run = run, .ran = &ran };
	assert_int_equal(svc_pool_submit(p, &q[0].job), 0);
	assert_int_equal(svc_pool_submit(p, &q[1].job), 0);
	assert_int_equal(svc_pool_submit(p, &q[2].job), RK_ELIMIT);
	svc_pool_stats st;
	svc_pool_get_stats(p, &st);
	assert_int_equal(st.depth, 2);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.shed_full, 1);
	svc_pool_free(p);   /* runs the two queued jobs */
	assert_int_equal(atomic_load(&ran), 3);
}

static void test_standing_queue_sheds(void **state)
{
	(void)state;
	char err[128];
	/* target 1 ms, interval 20 ms; jobs of 10 ms on one worker make
	 * every queued job wait longer than the target. */
	svc_pool_opts o = { .threads = 1, .capacity = 1000,
			    .target_us = 1000, .interval_us = 20000 };
	svc_pool *p = svc_pool_new(&o, err, sizeof(err));
	assert_non_null(p);
	atomic_int ran;
	atomic_init(&ran, 0);
	static struct tjob jobs[40];
	int accepted = 0, shed = 0;
	for (int i = 0; i < 40; i++) {
		jobs[i] = (struct tjob){ .job.run = run, .ran = &ran,
					 .sleep_ms = 10 };
		int rc = svc_pool_submit(p, &jobs[i].job);
		if (!rc)
			accepted++;
		else {
			assert_int_equal(rc, RK_ETIMEOUT);
			shed++;
		}
		msleep(3);
	}
	assert_true(shed > 0);
	assert_true(accepted > 3);
	svc_pool_stats st;
	svc_pool_get_stats(p, &st);
	assert_int_equal(st.shed_delay, (uint64_t)shed);
	assert_true(st.last_delay_us >= 1000);
	svc_pool_free(p);
	assert_int_equal(atomic_load(&ran), accepted);

	/* With the queue drained, admission opens again. */
	p = svc_pool_new(&o, err, sizeof(err));
	struct tjob one = { .job.run = run, .ran = &ran };
	assert_int_equal(svc_pool_submit(p, &one.job), 0);
	svc_pool_free(p);
}

static void test_bad_options(void **state)
{
	(void)state;
	char err[128];
	svc_pool_opts o = { .threads = 0, .capacity = 1 };
	assert_null(svc_pool_new(&o, err, sizeof(err)));
	assert_string_equal(err, "pool: threads and capacity must be >= 1");
	o = (svc_pool_opts){ .threads = 2, .capacity = 1,
			     .worker_init = winit, .arg = (void *)1 };
	assert_null(svc_pool_new(&o, err, sizeof(err)));
	assert_string_equal(err, "pool: 2 worker(s) failed to start");
}

static void test_alloc_failures(void **state)
{
	(void)state;
	char err[128];
	svc_pool_opts o = { .threads = 3, .capacity = 4, .target_us = 1000 };
	for (long n = 0; n < 8; n++) {
		rk_alloc_fail_after(n);
		svc_pool *p = svc_pool_new(&o, err, sizeof(err));
		rk_alloc_fail_after(-1);
		if (p) {
			svc_pool_free(p);
			break;
		}
		assert_string_equal(err, "pool: out of memory");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_every_job_once),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_run_many_batches),
		cmocka_unit_test(test_standing_queue_sheds),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
