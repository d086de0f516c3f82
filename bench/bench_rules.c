/*
 * bench_rules.c - `make bench` micro-benchmarks of the rule engine on the
 * workloads of gen/ (rulegen.c rule sets, eventgen.c payment events): for
 * 100 to 10,000 rules, compile time, compiled footprint and heap/RSS
 * growth, evaluation time per pre-parsed event (median of several timed
 * runs, plus per-event p99), then request JSON parsing and response
 * building. Prints a Markdown table and the targets of docs/PERFORMANCE.md.
 * bench/run.sh builds and runs it. Usage: bench_rules --help.
 */
#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rk.h"
#include "gen/gen.h"
#include "rules/rules.h"

#define MAX_SIZES 8
#define P99_PASSES 5
#define TARGET_EVAL_3K_NS 10000.0
#define TARGET_RATIO 2.5
#define TARGET_COMPILE_10K_MS 100.0

struct opts {
	int runs;          /* timed eval runs (median) */
	int compile_runs;  /* parse+compile runs (median) */
	double min_time;   /* seconds per eval run; 0 = one pass */
	int nevents;
	int sizes[MAX_SIZES];
	int nsizes;
	uint64_t seed;
	bool check;        /* exit 1 when a target is missed */
	bool eval_only;    /* skip request parse and response build */
};

/* One pre-parsed envelope: the event with its features and velocity. */
struct ev {
	cJSON *env;
	const cJSON *event, *features, *velocity;
};

struct row {
	int nrules;
	double compile_ms;
	size_t footprint, heap, rss;
	double eval_ns, best_ns, p99_ns;
	double hits, shadow, errors;
	double per[64];        /* ns per event of each timed round */
	rules_set *set;        /* kept until every round has run */
	rules_frame *frame;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double quantile(double *v, int n, double q)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int i = (int)(q * (n - 1) + 0.5);

	return v[i];
}

static size_t rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static size_t heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static rules_set *compile_text(const char *txt, double *ms)
{
	rk_diags d;

	rk_diags_init(&d);
	int64_t t0 = rk_now_ns();
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	rules_set *s = def ? rules_compile(def, NULL, &d) : NULL;

	*ms = (double)(rk_now_ns() - t0) / 1e6;
	if (!s)
		rk_diags_print(&d, "generated rule set", stderr);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	return s;
}

static void input_of(const struct ev *e, rules_input *in)
{
	memset(in, 0, sizeof(*in));
	in->event = e->event;
	in->features = e->features;
	in->velocity = e->velocity;
}

/* One timed run: ns per event over at least o->min_time s. */
static double time_eval(const rules_set *s, rules_frame *f,
			const struct ev *evs, const struct opts *o)
{
	rules_result res;
	rules_input in;
	long n = 0;
	int64_t t0 = rk_now_ns(), el;

	do {
		for (int i = 0; i < o->nevents; i++) {
			input_of(&evs[i], &in);
			rules_eval(s, f, &in, &res);
		}
		n += o->nevents;
		el = rk_now_ns() - t0;
	} while ((double)el < o->min_time * 1e9);
	return (double)el / (double)n;
}

/*
 * Compiles nrules generated rules (median of o->compile_runs), measures
 * memory, counts matches and the per-event p99, and leaves the set and a
 * warm frame in row for the timed rounds.
 */
static int bench_size(int nrules, const struct ev *evs, const struct opts *o,
		      struct row *row)
{
	char *txt = gen_ruleset_json(nrules, o->seed + (uint64_t)nrules);
	double ct[64];
	rules_set *s = NULL;

	if (!txt)
		return 1;
	memset(row, 0, sizeof(*row));
	row->nrules = nrules;
	malloc_trim(0);
	size_t heap0 = heap_bytes(), rss0 = rss_bytes();

	for (int r = 0; r < o->compile_runs; r++) {
		rules_set *c = compile_text(txt, &ct[r]);

		if (!c)
			goto out_free_txt;
		if (!s) {   /* the first one is kept: measure what it holds */
			s = c;
			row->heap = heap_bytes() - heap0;
			row->rss = rss_bytes() - rss0;
		} else {
			rules_set_free(c);
		}
	}
	row->compile_ms = median(ct, o->compile_runs);
	row->footprint = rules_set_footprint(s);

	rules_frame *f = rules_frame_new(s);
	rules_result res;
	rules_input in;
	double *lat = rk_malloc(sizeof(double) * (size_t)o->nevents);
	long hits = 0, shadow = 0, errors = 0;

	if (!f || !lat) {
		rules_frame_free(f);
		rk_free(lat);
		goto out_free_set;
	}
	/* Warm-up pass (caches, frame, branch predictors), counting matches;
	 * then passes timed event by event for the tail. An event's time is
	 * its best over the passes: the p99 is then the cost of the heavy
	 * events (many true guards), not of the machine's preemptions. */
	for (int i = 0; i < o->nevents; i++) {
		input_of(&evs[i], &in);
		rules_eval(s, f, &in, &res);
		hits += res.nhits;
		shadow += res.nshadow;
		errors += res.nerrors;
	}
	for (int pass = 0; pass < P99_PASSES; pass++) {
		for (int i = 0; i < o->nevents; i++) {
			input_of(&evs[i], &in);
			int64_t t0 = rk_now_ns();

			rules_eval(s, f, &in, &res);
			double t = (double)(rk_now_ns() - t0);

			if (pass == 0 || t < lat[i])
				lat[i] = t;
		}
	}
	row->p99_ns = quantile(lat, o->nevents, 0.99);
	row->hits = (double)hits / o->nevents;
	row->shadow = (double)shadow / o->nevents;
	row->errors = (double)errors / o->nevents;
	rk_free(lat);
	row->set = s;
	row->frame = f;
	rk_free(txt);
	return 0;
out_free_set:
	rules_set_free(s);
out_free_txt:
	rk_free(txt);
	return 1;
}

/* Request parsing: cJSON_ParseWithLength of /v1/score envelopes. */
static double time_parse(char **texts, int n, const struct opts *o,
			 double *mean_len)
{
	double per[64];
	size_t tot = 0;

	for (int i = 0; i < n; i++)
		tot += strlen(texts[i]);
	*mean_len = (double)tot / n;
	for (int r = 0; r < o->runs; r++) {
		long k = 0;
		int64_t t0 = rk_now_ns(), el;

		do {
			for (int i = 0; i < n; i++)
				cJSON_Delete(cJSON_ParseWithLength(texts[i],
							strlen(texts[i])));
			k += n;
			el = rk_now_ns() - t0;
		} while ((double)el < o->min_time * 1e9);
		per[r] = (double)el / (double)k;
	}
	return median(per, o->runs);
}

/* Response building as the service does it: the result of each event
 * through rules_result_to_json, printed unformatted. */
static double time_response(const struct ev *evs, const struct opts *o,
			    double *reasons)
{
	char *txt = gen_ruleset_json(3000, o->seed + 3000);
	double ms, per[64];
	rules_set *s = txt ? compile_text(txt, &ms) : NULL;
	rules_frame *f = s ? rules_frame_new(s) : NULL;
	rules_result res;
	rules_input in;
	long nreasons = 0;

	rk_free(txt);
	if (!f) {
		rules_set_free(s);
		return -1;
	}
	for (int r = 0; r < o->runs; r++) {
		int64_t spent = 0;
		long k = 0;

		do {
			for (int i = 0; i < o->nevents; i++) {
				input_of(&evs[i], &in);
				rules_eval(s, f, &in, &res);
				int64_t t0 = rk_now_ns();
				cJSON *obj = cJSON_CreateObject();

				cJSON_AddStringToObject(obj, "request_id",
							"req-0000000001");
				cJSON_AddStringToObject(obj, "scenario",
							"payments");
				cJSON_AddNumberToObject(obj, "version", 1);
				rules_result_to_json(s, &res, obj);
				cJSON_AddFalseToObject(obj, "degraded");
				cJSON_AddNumberToObject(obj, "elapsed_us", 42);
				char *out = cJSON_PrintUnformatted(obj);

				cJSON_free(out);
				cJSON_Delete(obj);
				spent += rk_now_ns() - t0;
				if (r == 0 && k == 0)
					nreasons += res.nhits + res.nshadow;
			}
			k += o->nevents;
		} while ((double)spent < o->min_time * 1e9);
		per[r] = (double)spent / (double)k;
	}
	*reasons = (double)nreasons / o->nevents;
	rules_frame_free(f);
	rules_set_free(s);
	return median(per, o->runs);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_rules [--quick] [--runs N] [--min-time S] "
		"[--events N]\n"
		"                   [--sizes N,N,...] [--seed N] [--check] "
		"[--eval-only]\n"
		"  --quick      3 runs of 0.1 s (default 7 runs of 0.5 s)\n"
		"  --min-time   seconds per timed run; 0 = one pass "
		"(callgrind)\n"
		"  --check      exit 1 when a target is missed\n"
		"  --eval-only  skip request parsing and response building\n"
		"profile: valgrind --tool=callgrind "
		"--toggle-collect=rules_eval "
		"bench_rules\n          --sizes 3000 --runs 1 --min-time 0 "
		"--eval-only\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.runs = 7, .compile_runs = 5, .min_time = 0.5,
			   .nevents = 2000, .sizes = {100, 1000, 3000, 10000},
			   .nsizes = 4, .seed = 0x5eed};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick")) {
			o->runs = 3;
			o->compile_runs = 3;
			o->min_time = 0.1;
		} else if (!strcmp(a, "--check")) {
			o->check = true;
		} else if (!strcmp(a, "--eval-only")) {
			o->eval_only = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (v && !strcmp(a, "--runs")) {
			o->runs = o->compile_runs = atoi(v), i++;
		} else if (v && !strcmp(a, "--min-time")) {
			o->min_time = atof(v), i++;
		} else if (v && !strcmp(a, "--events")) {
			o->nevents = atoi(v), i++;
		} else if (v && !strcmp(a, "--seed")) {
			o->seed = strtoull(v, NULL, 0), i++;
		} else if (v && !strcmp(a, "--sizes")) {
			char *end;

			o->nsizes = 0;
			for (const char *p = v; *p && o->nsizes < MAX_SIZES;
			     p = *end ? end + 1 : end) {
				o->sizes[o->nsizes++] =
					(int)strtol(p, &end, 10);
				if (end == p)
					return -1;
			}
			i++;
		} else {
			return -1;
		}
	}
	if (o->runs < 1 || o->runs > 64 || o->nevents < 1 || o->min_time < 0)
		return -1;
	return 0;
}

static double find(const struct row *rows, int n, int nrules,
		   double (*get)(const struct row *))
{
	for (int i = 0; i < n; i++)
		if (rows[i].nrules == nrules)
			return get(&rows[i]);
	return -1;
}

static double get_eval(const struct row *r)
{
	return r->eval_ns;
}

static double get_compile(const struct row *r)
{
	return r->compile_ms;
}

/* One line of the targets table; v < 0 means not measured. */
static void target_row(const char *what, double v, const char *fmt,
		       double target, int *missed)
{
	char val[64];

	if (v < 0) {
		printf("| %s | - | not measured (sizes) |\n", what);
		return;
	}
	snprintf(val, sizeof(val), fmt, v);
	if (v > target)
		(*missed)++;
	printf("| %s | %s | %s |\n", what, val,
	       v <= target ? "met" : "**MISSED**");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct row rows[MAX_SIZES];
	gen_params p;
	gen_rng r;
	int missed = 0, rc = 1;

	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	rk_cjson_hooks();
	gen_params_default(&p);

	struct ev *evs = rk_calloc((size_t)o.nevents, sizeof(*evs));
	char **req = rk_calloc((size_t)o.nevents, sizeof(*req));
	size_t evlen = 0;

	if (!evs || !req)
		goto out_free;
	/* Envelopes as `riskctl score` reads them (event, features,
	 * velocity) for evaluation; /v1/score envelopes for parsing. */
	gen_rng_seed(&r, o.seed);
	for (int i = 0; i < o.nevents; i++) {
		char buf[2048], ebuf[1024];
		gen_rng copy = r;

		if (gen_envelope_json(&r, &p, "payments",
				      GEN_ENV_FEATURES | GEN_ENV_VELOCITY, buf,
				      sizeof(buf)) < 0)
			goto out_free;
		evlen += (size_t)gen_event_json(&copy, &p, ebuf, sizeof(ebuf));
		evs[i].env = cJSON_Parse(buf);
		if (!evs[i].env)
			goto out_free;
		evs[i].event = cJSON_GetObjectItemCaseSensitive(evs[i].env,
								"event");
		evs[i].features = cJSON_GetObjectItemCaseSensitive(evs[i].env,
								   "features");
		evs[i].velocity = cJSON_GetObjectItemCaseSensitive(evs[i].env,
								   "velocity");
		req[i] = gen_envelope_text(&r, &p, "payments", 0);
		if (!req[i])
			goto out_free;
	}
	printf("bench_rules: %d events (mean %.0f bytes), %d timed runs of "
	       ">= %.2f s, compile median of %d\n\n", o.nevents,
	       (double)evlen / o.nevents, o.runs, o.min_time, o.compile_runs);
	printf("| rules | compile ms | footprint KiB | heap KiB | RSS KiB "
	       "| eval ns/event | best ns | p99 ns | hits | shadow | errors "
	       "|\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	fflush(stdout);
	memset(rows, 0, sizeof(rows));
	for (int i = 0; i < o.nsizes; i++)
		if (bench_size(o.sizes[i], evs, &o, &rows[i]))
			goto out_free;
	/* Timed rounds interleave the sizes, so a burst of load on this
	 * shared machine lands on every size alike and ratios hold. */
	for (int k = 0; k < o.runs; k++)
		for (int i = 0; i < o.nsizes; i++)
			rows[i].per[k] = time_eval(rows[i].set, rows[i].frame,
						   evs, &o);
	for (int i = 0; i < o.nsizes; i++) {
		struct row *w = &rows[i];

		w->eval_ns = median(w->per, o.runs);
		w->best_ns = w->per[0];   /* sorted by median() */
		printf("| %d | %.1f | %zu | %zu | %zu | %.0f | %.0f | %.0f "
		       "| %.1f | %.1f | %.2f |\n", w->nrules, w->compile_ms,
		       w->footprint / 1024, w->heap / 1024, w->rss / 1024,
		       w->eval_ns, w->best_ns, w->p99_ns, w->hits, w->shadow,
		       w->errors);
		rules_frame_free(w->frame);
		rules_set_free(w->set);
		w->frame = NULL;
		w->set = NULL;
	}

	if (!o.eval_only) {
		double plen, reasons = 0;
		double parse_ns = time_parse(req, o.nevents, &o, &plen);
		double resp_ns = time_response(evs, &o, &reasons);

		printf("\nrequest JSON parse (cJSON_ParseWithLength, mean %.0f "
		       "bytes): %.0f ns\n", plen, parse_ns);
		printf("response build (rules_result_to_json + "
		       "PrintUnformatted, 3,000 rules, %.1f reasons): "
		       "%.0f ns\n",
		       reasons, resp_ns);
	}
	printf("\n");

	double e3 = find(rows, o.nsizes, 3000, get_eval);
	double e10 = find(rows, o.nsizes, 10000, get_eval);
	double c10 = find(rows, o.nsizes, 10000, get_compile);
	double ratio = e3 > 0 && e10 > 0 ? e10 / e3 : -1;

	printf("| target | measured | status |\n|---|---:|---|\n");
	target_row("eval, 3,000 rules <= 10 us", e3 / 1000, "%.2f us",
		   TARGET_EVAL_3K_NS / 1000, &missed);
	target_row("eval(10,000) / eval(3,000) <= 2.5", ratio, "%.2f",
		   TARGET_RATIO, &missed);
	target_row("compile 10,000 rules <= 100 ms", c10, "%.1f ms",
		   TARGET_COMPILE_10K_MS, &missed);
	rc = o.check && missed ? 1 : 0;
out_free:
	for (int i = 0; i < o.nsizes; i++) {
		rules_frame_free(rows[i].frame);
		rules_set_free(rows[i].set);
	}
	for (int i = 0; evs && i < o.nevents; i++)
		cJSON_Delete(evs[i].env);
	for (int i = 0; req && i < o.nevents; i++)
		rk_free(req[i]);
	rk_free(evs);
	rk_free(req);
	return rc;
}
