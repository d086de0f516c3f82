/*
 * test_metrics.c - unit tests of service/metrics.c: exact text format
 * 0.0.4 for small registries (counters, gauges, callback gauges,
 * collectors, histograms with cumulative buckets), escaping, name
 * validation, the per-family series cap and its "other" series, bulk
 * per-rule series, exact totals under concurrent updates and series
 * creation, and allocation failures at every step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "../../common/rk.h"
#include "../../service/metrics.h"

static char *render(metrics_registry *r)
{
	metrics_buf b = { 0 };
	assert_int_equal(metrics_render(r, &b), 0);
	assert_false(b.oom);
	if (!b.p)
		return rk_strdup("");
	assert_int_equal(strlen(b.p), b.len);
	return b.p;
}

static void assert_render(metrics_registry *r, const char *want)
{
	char *got = render(r);
	assert_string_equal(got, want);
	rk_free(got);
}

static void test_counter_and_gauge(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	assert_non_null(r);
	metrics_family *req = metrics_counter(r, "riskd_requests_total",
					      "Requests by endpoint.",
					      "endpoint, status");
	metrics_family *depth = metrics_gauge(r, "riskd_queue_depth",
					      "Waiting requests.", NULL);
	metrics_family *up = metrics_gauge(r, "riskd_region_up",
					   "Region state.", "region");
	metrics_family *empty = metrics_counter(r, "riskd_failovers_total",
						"Failovers.", "");
	assert_non_null(req);
	assert_non_null(depth);
	assert_non_null(up);
	assert_non_null(empty);
	assert_render(r, "# HELP riskd_requests_total Requests by endpoint.\n"
			 "# TYPE riskd_requests_total counter\n"
			 "# HELP riskd_queue_depth Waiting requests.\n"
			 "# TYPE riskd_queue_depth gauge\n"
			 "riskd_queue_depth 0\n"
			 "# HELP riskd_region_up Region state.\n"
			 "# TYPE riskd_region_up gauge\n"
			 "# HELP riskd_failovers_total Failovers.\n"
			 "# TYPE riskd_failovers_total counter\n"
			 "riskd_failovers_total 0\n");

	metrics_series *ok = metrics_get(req, "/v1/score", "200");
	assert_non_null(ok);
	assert_ptr_equal(metrics_get(req, "/v1/score", "200"), ok);
	metrics_inc(ok);
	metrics_inc(ok);
	metrics_add(metrics_get(req, "/v1/score", "503"), 5);
	const char *v[] = { "/metrics", "200" };
	metrics_inc(metrics_getv(req, v));
	metrics_set(metrics_get(depth), 3);
	metrics_gauge_add(metrics_get(depth), -1.5);
	metrics_set(metrics_get(up, "a"), 1);
	metrics_set(metrics_get(up, "b"), 0);
	metrics_inc(metrics_get(empty));
	assert_true(metrics_value(ok) == 2);
	assert_true(metrics_value(metrics_get(depth)) == 1.5);
	assert_render(r, "# HELP riskd_requests_total Requests by endpoint.\n"
			 "# TYPE riskd_requests_total counter\n"
			 "riskd_requests_total{endpoint=\"/v1/score\","
			 "status=\"200\"} 2\n"
			 "riskd_requests_total{endpoint=\"/v1/score\","
			 "status=\"503\"} 5\n"
			 "riskd_requests_total{endpoint=\"/metrics\","
			 "status=\"200\"} 1\n"
			 "# HELP riskd_queue_depth Waiting requests.\n"
			 "# TYPE riskd_queue_depth gauge\n"
			 "riskd_queue_depth 1.5\n"
			 "# HELP riskd_region_up Region state.\n"
			 "# TYPE riskd_region_up gauge\n"
			 "riskd_region_up{region=\"a\"} 1\n"
			 "riskd_region_up{region=\"b\"} 0\n"
			 "# HELP riskd_failovers_total Failovers.\n"
			 "# TYPE riskd_failovers_total counter\n"
			 "riskd_failovers_total 1\n");
	metrics_registry_free(r);
}

static void test_histogram(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	const double b[] = { 0.001, 0.01, 1 };
	metrics_family *h = metrics_histogram(r, "lat_seconds", "Latency.",
					      "endpoint", b, 3);
	assert_non_null(h);
	metrics_series *s = metrics_get(h, "/v1/score");
	metrics_observe(s, 0.0005);
	metrics_observe(s, 0.001);      /* le is inclusive */
	metrics_observe(s, 0.005);
	metrics_observe(s, 2);
	metrics_observe_us(s, 1000);    /* 0.001 exactly */
	metrics_observe_us(s, 1001);
	assert_true(metrics_value(s) == 6);
	assert_render(r, "# HELP lat_seconds Latency.\n"
			 "# TYPE lat_seconds histogram\n"
			 "lat_seconds_bucket{endpoint=\"/v1/score\","
			 "le=\"0.001\"} 3\n"
			 "lat_seconds_bucket{endpoint=\"/v1/score\","
			 "le=\"0.01\"} 5\n"
			 "lat_seconds_bucket{endpoint=\"/v1/score\","
			 "le=\"1\"} 5\n"
			 "lat_seconds_bucket{endpoint=\"/v1/score\","
			 "le=\"+Inf\"} 6\n"
			 "lat_seconds_sum{endpoint=\"/v1/score\"} 2.008501\n"
			 "lat_seconds_count{endpoint=\"/v1/score\"} 6\n");
	metrics_registry_free(r);

	/* default buckets, no labels */
	r = metrics_registry_new();
	h = metrics_histogram(r, "riskd_redis_latency_seconds", "Redis.",
			      NULL, NULL, 0);
	assert_int_equal(metrics_latency_nbuckets, 20);
	metrics_observe_us(metrics_get(h), 150);
	metrics_observe_us(metrics_get(h), 25);
	metrics_observe_us(metrics_get(h), 26);
	metrics_observe_us(metrics_get(h), 2000000);
	char *text = render(r);
	assert_non_null(strstr(text,
		"riskd_redis_latency_seconds_bucket{le=\"2.5e-05\"} 1\n"
		"riskd_redis_latency_seconds_bucket{le=\"5e-05\"} 2\n"
		"riskd_redis_latency_seconds_bucket{le=\"0.0001\"} 2\n"
		"riskd_redis_latency_seconds_bucket{le=\"0.0002\"} 3\n"));
	assert_non_null(strstr(text,
		"riskd_redis_latency_seconds_bucket{le=\"0.00075\"} 3\n"
		"riskd_redis_latency_seconds_bucket{le=\"0.001\"} 3\n"
		"riskd_redis_latency_seconds_bucket{le=\"0.0015\"} 3\n"));
	assert_non_null(strstr(text,
		"riskd_redis_latency_seconds_bucket{le=\"1\"} 3\n"
		"riskd_redis_latency_seconds_bucket{le=\"+Inf\"} 4\n"
		"riskd_redis_latency_seconds_sum 2.000201\n"
		"riskd_redis_latency_seconds_count 4\n"));
	rk_free(text);
	metrics_registry_free(r);

	r = metrics_registry_new();
	const double bad[] = { 0.1, 0.1 };
	assert_null(metrics_histogram(r, "h1", "", NULL, bad, 2));
	assert_null(metrics_histogram(r, "h2", "", NULL, b, 0));
	metrics_registry_free(r);
}

static double answer(void *arg)
{
	return *(double *)arg;
}

static void collect(void *arg, metrics_emitter *e)
{
	int *n = arg;
	for (int i = 0; i < *n; i++) {
		char scn[16];
		snprintf(scn, sizeof(scn), "s%d", i);
		const char *v[] = { scn, i ? "x\"y" : "rule\\1\n" };
		metrics_emit(e, v, 10 * i + 0.5);
	}
}

static void test_callbacks_and_escaping(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	double x = 42;
	int n = 2;
	assert_non_null(metrics_gauge_fn(r, "g", "Help with \\ and\nnewline "
				 "and \"quotes\".", answer, &x));
	assert_non_null(metrics_collector(r, METRICS_COUNTER,
					  "riskd_rule_hits_total", "Hits.",
					  "scenario,rule", collect, &n));
	assert_null(metrics_collector(r, METRICS_HISTOGRAM, "hc", "",
				      NULL, collect, &n));
	assert_null(metrics_gauge_fn(r, "nofn", "", NULL, NULL));
	assert_render(r, "# HELP g Help with \\\\ and\\nnewline and "
			 "\"quotes\".\n"
			 "# TYPE g gauge\n"
			 "g 42\n"
			 "# HELP riskd_rule_hits_total Hits.\n"
			 "# TYPE riskd_rule_hits_total counter\n"
			 "riskd_rule_hits_total{scenario=\"s0\","
			 "rule=\"rule\\\\1\\n\"} 0.5\n"
			 "riskd_rule_hits_total{scenario=\"s1\","
			 "rule=\"x\\\"y\"} 10.5\n");
	x = 1e-7;
	n = 0;
	char *t = render(r);
	assert_non_null(strstr(t, "\ng 1e-07\n"));
	assert_null(strstr(t, "s0"));
	rk_free(t);
	metrics_registry_free(r);
}

static void test_values(void **state)
{
	RK_UNUSED(state);
	metrics_buf b = { 0 };
	metrics_buf_value(&b, 0);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, 0.1);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, 1.0 / 3);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, 123456789);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, -2.5);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, 1.0 / 0.0);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, -1.0 / 0.0);
	metrics_buf_printf(&b, " ");
	metrics_buf_value(&b, 0.0 / 0.0);
	metrics_buf_printf(&b, " %d ", 7);
	metrics_buf_label(&b, "a\"b\\c\nd");
	const double more[] = { 200000, 1e21, 1234567.5, 0.00012, 2.5e-05,
				-1e-300, 18446744073709551616.0 };
	for (size_t i = 0; i < RK_ARRAY_LEN(more); i++) {
		metrics_buf_printf(&b, " ");
		metrics_buf_value(&b, more[i]);
	}
	assert_string_equal(b.p, "0 0.1 0.3333333333333333 123456789 -2.5 "
				 "+Inf -Inf NaN 7 a\\\"b\\\\c\\nd "
				 "200000 1e+21 1234567.5 0.00012 2.5e-05 "
				 "-1e-300 18446744073709551616");
	rk_free(b.p);
}

static void test_names(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	assert_non_null(metrics_counter(r, "a:b_c1", "", "x,y_2"));
	assert_null(metrics_counter(r, "a:b_c1", "", NULL));   /* dup */
	assert_null(metrics_gauge(r, "1abc", "", NULL));
	assert_null(metrics_gauge(r, "a-b", "", NULL));
	assert_null(metrics_gauge(r, "", "", NULL));
	assert_null(metrics_gauge(r, NULL, "", NULL));
	assert_null(metrics_gauge(r, "ok1", "", "le"));
	assert_null(metrics_gauge(r, "ok2", "", "__x"));
	assert_null(metrics_gauge(r, "ok3", "", "a:b"));
	assert_null(metrics_gauge(r, "ok4", "", "a,a"));
	assert_null(metrics_gauge(r, "ok5", "", "a,"));
	assert_null(metrics_gauge(r, "ok6", "", "a,,b"));
	assert_null(metrics_gauge(r, "ok7", "", "a,b,c,d,e,f,g,h,i"));
	assert_non_null(metrics_gauge(r, "ok8", "", "a,b,c,d,e,f,g,h"));
	assert_null(metrics_counter(NULL, "x", "", NULL));

	/* NULL handles are harmless */
	assert_null(metrics_get(NULL));
	metrics_inc(NULL);
	metrics_add(NULL, 3);
	metrics_set(NULL, 1);
	metrics_gauge_add(NULL, 1);
	metrics_observe(NULL, 1);
	metrics_observe_us(NULL, 1);
	assert_true(metrics_value(NULL) == 0);
	metrics_emit(NULL, NULL, 0);
	assert_int_equal(metrics_family_set_max_series(NULL, 5), RK_EINVAL);
	metrics_buf b = { 0 };
	assert_int_equal(metrics_render(NULL, &b), 0);
	metrics_registry_free(NULL);
	metrics_registry_free(r);
}

static void test_cap(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	metrics_family *f = metrics_counter(r, "c", "C.", "a,b");
	assert_int_equal(metrics_family_set_max_series(f, 0), RK_EINVAL);
	assert_int_equal(metrics_family_set_max_series(f, 2), 0);
	metrics_inc(metrics_get(f, "1", "x"));
	metrics_inc(metrics_get(f, "2", NULL));
	metrics_series *o = metrics_get(f, "3", "z");
	assert_non_null(o);
	metrics_inc(o);
	assert_ptr_equal(metrics_get(f, "4", "w"), o);
	assert_ptr_equal(metrics_get(f, "other", "other"), o);
	metrics_inc(metrics_get(f, "other", "other"));
	metrics_inc(metrics_get(f, "1", "x"));
	assert_int_equal(metrics_family_set_max_series(f, 10), RK_ESTATE);
	metrics_family *g = metrics_gauge(r, "g", "", NULL);
	assert_int_equal(metrics_family_set_max_series(g, 10), RK_ESTATE);
	assert_render(r, "# HELP c C.\n# TYPE c counter\n"
			 "c{a=\"1\",b=\"x\"} 2\n"
			 "c{a=\"2\",b=\"\"} 1\n"
			 "c{a=\"other\",b=\"other\"} 2\n"
			 "# HELP g \n# TYPE g gauge\ng 0\n");
	metrics_registry_free(r);
}

#define RULES 5000

static void test_bulk(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	metrics_family *f = metrics_counter(r, "riskd_rule_hits_total",
					    "Hits.", "scenario,rule");
	const char **v = rk_calloc(2 * RULES, sizeof(*v));
	char (*ids)[16] = rk_calloc(RULES, sizeof(*ids));
	metrics_series **s = rk_calloc(RULES, sizeof(*s));
	for (int i = 0; i < RULES; i++) {
		snprintf(ids[i], sizeof(ids[i]), "r%d", i);
		v[2 * i] = "payments";
		v[2 * i + 1] = ids[i];
	}
	/* the default cap of 1,000 sends the rest to "other" */
	assert_int_equal(metrics_get_bulk(f, RULES, v, s), RK_ELIMIT);
	assert_ptr_equal(s[RULES - 1], s[METRICS_MAX_SERIES_DEFAULT]);
	assert_ptr_not_equal(s[0], s[1]);
	metrics_registry_free(r);

	r = metrics_registry_new();
	f = metrics_counter(r, "riskd_rule_hits_total", "Hits.",
			    "scenario,rule");
	assert_int_equal(metrics_family_set_max_series(f, 2 * RULES), 0);
	assert_int_equal(metrics_get_bulk(f, RULES, v, s), 0);
	for (int i = 0; i < RULES; i++)
		metrics_add(s[i], (uint64_t)i);
	for (int i = 0; i < RULES; i++)
		assert_true(metrics_value(metrics_get(f, "payments", ids[i]))
			    == i);
	char *t = render(r);
	assert_non_null(strstr(t, "{scenario=\"payments\",rule=\"r4999\"} "
				  "4999\n"));
	assert_null(strstr(t, "other"));
	rk_free(t);
	metrics_registry_free(r);
	rk_free(v);
	rk_free(ids);
	rk_free(s);
}

#define THREADS 8
#define ITERS 50000

struct targ {
	metrics_family *c, *h, *g, *h2;
	int id;
};

static void *hammer(void *arg)
{
	struct targ *a = arg;
	char mine[16];
	snprintf(mine, sizeof(mine), "t%d", a->id);
	for (int i = 0; i < ITERS; i++) {
		char shared[8];
		snprintf(shared, sizeof(shared), "s%d", i % 50);
		metrics_inc(metrics_get(a->c, shared));
		metrics_inc(metrics_get(a->c, mine));
		metrics_observe_us(metrics_get(a->h), i % 3000);
		metrics_gauge_add(metrics_get(a->g), 1);
		metrics_observe(metrics_get(a->h2), 0.5);
	}
	return NULL;
}

static void test_threads(void **state)
{
	RK_UNUSED(state);
	metrics_registry *r = metrics_registry_new();
	struct targ a[THREADS];
	pthread_t th[THREADS];
	metrics_family *c = metrics_counter(r, "c", "", "k");
	metrics_family *h = metrics_histogram(r, "h", "", NULL, NULL, 0);
	metrics_family *g = metrics_gauge(r, "g", "", NULL);
	const double one[] = { 1 };
	metrics_family *h2 = metrics_histogram(r, "h2", "", NULL, one, 1);
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct targ){ c, h, g, h2, i };
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &a[i]),
				 0);
	}
	for (int k = 0; k < 20; k++) {    /* render while series appear */
		char *t = render(r);
		rk_free(t);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 50; i++) {
		char k[8];
		snprintf(k, sizeof(k), "s%d", i);
		assert_true(metrics_value(metrics_get(c, k)) ==
			    THREADS * ITERS / 50);
	}
	for (int i = 0; i < THREADS; i++) {
		char k[8];
		snprintf(k, sizeof(k), "t%d", i);
		assert_true(metrics_value(metrics_get(c, k)) == ITERS);
	}
	assert_true(metrics_value(metrics_get(h)) == THREADS * ITERS);
	assert_true(metrics_value(metrics_get(g)) == THREADS * ITERS);
	char *t = render(r);
	char want[256];
	snprintf(want, sizeof(want), "h_count %d\n", THREADS * ITERS);
	assert_non_null(strstr(t, want));
	snprintf(want, sizeof(want), "h2_bucket{le=\"1\"} %d\nh2_bucket"
		 "{le=\"+Inf\"} %d\nh2_sum %d\nh2_count %d\n",
		 THREADS * ITERS, THREADS * ITERS, THREADS * ITERS / 2,
		 THREADS * ITERS);
	assert_non_null(strstr(t, want));
	/* observe_us sums are exact too: sum of i % 3000 over the runs */
	long long us = 0;
	for (int i = 0; i < ITERS; i++)
		us += i % 3000;
	char *p = strstr(t, "h_sum ");
	assert_non_null(p);
	assert_true(strtod(p + 6, NULL) == (double)(us * THREADS) / 1e6);
	assert_null(strstr(t, "other"));
	rk_free(t);
	metrics_registry_free(r);
}

/* Builds, fills and renders a registry; any step may fail cleanly. */
static int build_all(void)
{
	metrics_registry *r = metrics_registry_new();
	if (!r)
		return RK_ENOMEM;
	metrics_family *c = metrics_counter(r, "c", "C.", "a");
	metrics_family *h = metrics_histogram(r, "h", "H.", "a", NULL, 0);
	metrics_inc(metrics_get(c, "x"));
	metrics_inc(metrics_get(c, "y"));
	metrics_observe(metrics_get(h, "z"), 0.5);
	metrics_buf b = { 0 };
	int rc = metrics_render(r, &b);
	rk_free(b.p);
	metrics_registry_free(r);
	return rc;
}

static void test_alloc_failures(void **state)
{
	RK_UNUSED(state);
	rk_alloc_fail_after(-1);
	assert_int_equal(build_all(), 0);
	long total = rk_alloc_fail_after(-1);
	assert_true(total > 5);
	for (long n = 0; n < total; n++) {
		rk_alloc_fail_after(n);
		int rc = build_all();
		rk_alloc_fail_after(-1);
		assert_true(rc == 0 || rc == RK_ENOMEM);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_and_gauge),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_callbacks_and_escaping),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
