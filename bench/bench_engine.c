/*
 * bench_engine.c - micro-benchmarks of the rule engine (`make bench`):
 * compile time, compiled footprint and evaluation time per event for
 * generated rule sets of 100 to 10,000 rules of realistic shapes against
 * ~600-byte payment events, plus request JSON parsing and response
 * building. Every figure is the median of several timed runs.
 * Usage: bench_engine [--quick]
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rk.h"
#include "gen/workload.h"
#include "rules/rules.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

#define NEVENTS 2000

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	int runs = quick ? 3 : 7;
	rk_cjson_hooks();
	static char evbuf[NEVENTS][1024];
	cJSON *events[NEVENTS];
	cJSON *feat = cJSON_Parse("{\"card\": {\"chargebacks_90d\": 0}, "
				  "\"user\": {\"account_age_days\": 40}}");
	cJSON *vel = cJSON_Parse("{\"card_txn_1h\": 2}");
	size_t total = 0;
	gen_seed(0x5eed);
	for (int i = 0; i < NEVENTS; i++) {
		gen_event(evbuf[i], sizeof(evbuf[i]));
		total += strlen(evbuf[i]);
		events[i] = cJSON_Parse(evbuf[i]);
	}
	printf("events: %d generated, mean %zu bytes\n\n", NEVENTS, total / NEVENTS);
	printf("%-7s %11s %12s %12s %9s\n", "rules", "compile ms", "footprint KB",
	       "eval ns/evt", "hits/evt");
	const int sizes[] = {100, 1000, 3000, 10000};
	double eval_ns[4] = {0};
	for (int si = 0; si < 4; si++) {
		int n = sizes[si];
		char *txt = gen_ruleset(n, 0x5eed + (uint64_t)n);
		double ct[9];
		rules_set *s = NULL;
		for (int r = 0; r < runs; r++) {
			rk_diags d;
			rk_diags_init(&d);
			int64_t t0 = rk_now_ns();
			rules_def *def = rules_def_parse(txt, strlen(txt), &d);
			rules_set *c = def ? rules_compile(def, NULL, &d) : NULL;
			ct[r] = (double)(rk_now_ns() - t0) / 1e6;
			if (!c) {
				rk_diags_print(&d, "generated", stderr);
				return 1;
			}
			rules_def_free(def);
			rk_diags_cleanup(&d);
			if (s)
				rules_set_free(s);
			s = c;
		}
		rules_frame *f = rules_frame_new(s);
		rules_result res;
		long hits = 0;
		for (int i = 0; i < NEVENTS; i++) {  /* warm up */
			rules_input in = {events[i], feat, vel, false};
			rules_eval(s, f, &in, &res);
			hits += res.nhits;
		}
		double et[9];
		int iters = quick ? NEVENTS : 5 * NEVENTS;
		for (int r = 0; r < runs; r++) {
			int64_t t0 = rk_now_ns();
			for (int i = 0; i < iters; i++) {
				rules_input in = {events[i % NEVENTS], feat, vel, false};
				rules_eval(s, f, &in, &res);
			}
			et[r] = (double)(rk_now_ns() - t0) / iters;
		}
		eval_ns[si] = median(et, runs);
		printf("%-7d %11.2f %12zu %12.0f %9.1f\n", n, median(ct, runs),
		       rules_set_footprint(s) / 1024, eval_ns[si],
		       (double)hits / NEVENTS);
		rules_frame_free(f);
		rules_set_free(s);
		rk_free(txt);
	}
	printf("\neval(10000) / eval(3000) = %.2f (target <= 2.5)\n",
	       eval_ns[3] / eval_ns[2]);
	printf("eval(3000) = %.1f us (target <= 10 us)\n", eval_ns[2] / 1000);

	/* Request parsing and response building. */
	char env[1200];
	snprintf(env, sizeof(env), "{\"scenario\": \"payments\", \"deadline_ms\": 50, "
		 "\"event\": %s}", evbuf[0]);
	double pt[9], bt[9];
	char *txt = gen_ruleset(3000, 0x5eed + 3000);
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	rules_set *s = rules_compile(def, NULL, &d);
	rules_frame *f = rules_frame_new(s);
	rules_result res;
	rules_input in = {events[0], feat, vel, false};
	rules_eval(s, f, &in, &res);
	for (int r = 0; r < runs; r++) {
		int64_t t0 = rk_now_ns();
		for (int i = 0; i < 20000; i++)
			cJSON_Delete(cJSON_ParseWithLength(env, strlen(env)));
		pt[r] = (double)(rk_now_ns() - t0) / 20000;
		t0 = rk_now_ns();
		for (int i = 0; i < 20000; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "request_id", "req-1");
			rules_result_to_json(s, &res, o);
			char *out = cJSON_PrintUnformatted(o);
			cJSON_free(out);
			cJSON_Delete(o);
		}
		bt[r] = (double)(rk_now_ns() - t0) / 20000;
	}
	printf("request JSON parse (%zu bytes): %.0f ns; response build (%d reasons): "
	       "%.0f ns\n", strlen(env), median(pt, runs), res.nhits, median(bt, runs));
	rules_frame_free(f);
	rules_set_free(s);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	rk_free(txt);
	for (int i = 0; i < NEVENTS; i++)
		cJSON_Delete(events[i]);
	cJSON_Delete(feat);
	cJSON_Delete(vel);
	return 0;
}
