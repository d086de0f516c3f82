/*
 * bench_cache.c - `make bench` micro-benchmarks of the L1 feature cache
 * (cache/l1.h) on gen/ workloads: card feature groups (gen_card_features_
 * json) under card keys drawn Zipf-skewed as eventgen.c draws them
 * (gen_params_default: 100,000 cards, s = 1.0). Measures get throughput
 * on hits with one and two threads (median of timed runs), the hit ratio
 * of L1's S3-FIFO against a plain LRU (here only) at several cache sizes,
 * and memory overhead per entry. Usage: bench_cache --help.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/l1.h"
#include "common/rk.h"
#include "gen/gen.h"

#define TRACE_LEN (1u << 20)
#define T0 1000000000LL
#define TTL_MS 3600000
#define TARGET_GETS 10e6
#define TARGET_OVERHEAD 100.0
#define MAX_RUNS 15

struct opts {
	int runs;          /* timed throughput runs (median) */
	double min_time;   /* seconds per run */
	long requests;     /* hit-ratio trace length */
	uint64_t seed;
	bool check;        /* exit 1 when a target is missed */
};

/* A key in place, so a get touches one line for it (as a key built in
 * the request's arena would be). */
struct kslot {
	char k[31];
	uint8_t len;
};

/* The workload: every card's key and value, and a Zipf trace of cards. */
struct world {
	uint32_t ncards;
	char **keys, **vals;
	struct kslot *slots;  /* keys again, one cache line apart at most */
	size_t *klen, *vlen;
	uint32_t *trace;   /* TRACE_LEN card indexes */
	size_t kv_bytes;   /* sum of key and value lengths */
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

static void world_free(struct world *w)
{
	for (uint32_t i = 0; w->keys && i < w->ncards; i++) {
		rk_free(w->keys[i]);
		rk_free(w->vals[i]);
	}
	rk_free(w->keys);
	rk_free(w->vals);
	rk_free(w->klen);
	rk_free(w->vlen);
	rk_free(w->trace);
	rk_free(w->slots);
}

static int world_init(struct world *w, const gen_params *p, uint64_t seed)
{
	gen_rng r;
	char buf[1024];

	memset(w, 0, sizeof(*w));
	w->ncards = p->ncards;
	w->keys = rk_calloc(w->ncards, sizeof(char *));
	w->vals = rk_calloc(w->ncards, sizeof(char *));
	w->klen = rk_calloc(w->ncards, sizeof(size_t));
	w->vlen = rk_calloc(w->ncards, sizeof(size_t));
	w->trace = rk_calloc(TRACE_LEN, sizeof(uint32_t));
	w->slots = rk_calloc(w->ncards, sizeof(*w->slots));
	if (!w->slots || !w->keys || !w->vals || !w->klen || !w->vlen ||
	    !w->trace)
		return RK_ENOMEM;
	for (uint32_t i = 0; i < w->ncards; i++) {
		/* The service's L1 key of the card feature group. */
		int n = gen_card_id(i, buf + 7, sizeof(buf) - 7);
		memcpy(buf, "f:card:", 7);
		if (n < 0 || !(w->keys[i] = rk_strndup(buf, (size_t)n + 7)))
			return RK_ENOMEM;
		w->klen[i] = (size_t)n + 7;
		if (w->klen[i] > sizeof(w->slots[i].k))
			return RK_ELIMIT;
		memcpy(w->slots[i].k, buf, w->klen[i]);
		w->slots[i].len = (uint8_t)w->klen[i];
		n = gen_card_features_json(i, buf, sizeof(buf));
		if (n < 0 || !(w->vals[i] = rk_strndup(buf, (size_t)n)))
			return RK_ENOMEM;
		w->vlen[i] = (size_t)n;
		w->kv_bytes += w->klen[i] + w->vlen[i];
	}
	gen_rng_seed(&r, seed);
	for (uint32_t i = 0; i < TRACE_LEN; i++)
		w->trace[i] = (uint32_t)(gen_zipf_draw(&p->z_card, &r) - 1);
	return 0;
}

static l1_cache *full_cache(const struct world *w)
{
	l1_config cfg = {.max_entries = 2 * (size_t)w->ncards,
			 .max_bytes = (size_t)1 << 30};
	l1_cache *c = l1_new(&cfg);

	for (uint32_t i = 0; c && i < w->ncards; i++)
		if (l1_put(c, w->keys[i], w->klen[i], w->vals[i], w->vlen[i],
			   T0, TTL_MS)) {
			l1_free(c);
			return NULL;
		}
	return c;
}

/* ---- throughput ---- */

struct runner {
	const struct world *w;
	l1_cache *c;
	const struct opts *o;
	uint32_t start;
	pthread_barrier_t *bar;
	long gets, misses;
	int64_t ns, cpu_ns;   /* wall clock, this thread's CPU time */
};

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Gets per second: by the wall clock (all threads together) and per
 * core (gets over the CPU time the threads were given: on a shared
 * machine another process's time slices do not count). */
struct rate {
	double wall, core;
};

/* Gets along the trace for min_time; every one should be a hit. */
static void *run_gets(void *arg)
{
	struct runner *r = arg;
	const struct world *w = r->w;
	char buf[1024];
	size_t len;
	int64_t age;
	uint32_t i = r->start;

	if (r->bar)
		pthread_barrier_wait(r->bar);
	int64_t t0 = rk_now_ns(), c0 = cpu_ns(), t;
	r->gets = r->misses = 0;
	do {
		for (int k = 0; k < 65536; k++, i = (i + 1) & (TRACE_LEN - 1)) {
			const struct kslot *ks = &w->slots[w->trace[i]];
			if (l1_get(r->c, ks->k, ks->len, T0, false, buf,
				   sizeof(buf), &len, &age) != L1_HIT)
				r->misses++;
		}
		r->gets += 65536;
		t = rk_now_ns();
	} while ((double)(t - t0) < r->o->min_time * 1e9);
	r->ns = t - t0;
	r->cpu_ns = cpu_ns() - c0;
	return NULL;
}

/* Median rates over o->runs runs of nthreads threads. */
static struct rate throughput(const struct world *w, l1_cache *c,
			      const struct opts *o, int nthreads,
			      long *misses)
{
	double wall[MAX_RUNS], core[MAX_RUNS];
	struct runner r[2];
	pthread_t t[2];
	pthread_barrier_t bar;

	for (int k = 0; k < o->runs; k++) {
		double total = 0, gets = 0, cpu = 0;

		pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
		for (int j = 0; j < nthreads; j++) {
			r[j] = (struct runner){
				.w = w, .c = c, .o = o,
				.start = (uint32_t)j * TRACE_LEN / 2,
				.bar = nthreads > 1 ? &bar : NULL};
			pthread_create(&t[j], NULL, run_gets, &r[j]);
		}
		for (int j = 0; j < nthreads; j++) {
			pthread_join(t[j], NULL);
			total += (double)r[j].gets * 1e9 / (double)r[j].ns;
			gets += (double)r[j].gets;
			cpu += (double)r[j].cpu_ns;
			*misses += r[j].misses;
		}
		pthread_barrier_destroy(&bar);
		wall[k] = total;
		core[k] = cpu > 0 ? gets * 1e9 / cpu : 0;
	}
	return (struct rate){median(wall, o->runs), median(core, o->runs)};
}

/* ---- hit ratio: L1 (S3-FIFO) against LRU ---- */

/* A plain LRU over card indexes: intrusive list in arrays. */
struct lru {
	uint32_t *prev, *next;  /* UINT32_MAX: none */
	bool *in;
	uint32_t head, tail;    /* head most recent */
	size_t n, cap;
};

#define NONE UINT32_MAX

static void lru_unlink(struct lru *l, uint32_t k)
{
	if (l->prev[k] != NONE)
		l->next[l->prev[k]] = l->next[k];
	else
		l->head = l->next[k];
	if (l->next[k] != NONE)
		l->prev[l->next[k]] = l->prev[k];
	else
		l->tail = l->prev[k];
}

static void lru_front(struct lru *l, uint32_t k)
{
	l->prev[k] = NONE;
	l->next[k] = l->head;
	if (l->head != NONE)
		l->prev[l->head] = k;
	l->head = k;
	if (l->tail == NONE)
		l->tail = k;
}

/* True on a hit; a miss inserts k, evicting the least recent. */
static bool lru_access(struct lru *l, uint32_t k)
{
	if (l->in[k]) {
		lru_unlink(l, k);
		lru_front(l, k);
		return true;
	}
	if (l->n == l->cap) {
		uint32_t v = l->tail;
		lru_unlink(l, v);
		l->in[v] = false;
		l->n--;
	}
	lru_front(l, k);
	l->in[k] = true;
	l->n++;
	return false;
}

static double lru_ratio(uint32_t nkeys, size_t cap, const uint32_t *req,
			long nreq)
{
	struct lru l = {.prev = rk_calloc(nkeys, 4),
			.next = rk_calloc(nkeys, 4), .in = rk_calloc(nkeys, 1),
			.head = NONE, .tail = NONE, .cap = cap};
	long hits = 0, warm = nreq / 10;

	if (!l.prev || !l.next || !l.in)
		goto out;
	for (long i = 0; i < nreq; i++)
		if (lru_access(&l, req[i]) && i >= warm)
			hits++;
out:
	rk_free(l.prev);
	rk_free(l.next);
	rk_free(l.in);
	return (double)hits / (double)(nreq - warm);
}

/* Demand fill through L1 as the service does: get, on a miss put. */
static double l1_ratio(const struct world *w, size_t cap, int shards,
		       const uint32_t *req, long nreq)
{
	l1_config cfg = {.max_entries = cap, .max_bytes = (size_t)1 << 30,
			 .shards = shards};
	l1_cache *c = l1_new(&cfg);
	long hits = 0, warm = nreq / 10;
	char buf[1024];
	size_t len;

	if (!c)
		return -1;
	for (long i = 0; i < nreq; i++) {
		uint32_t k = req[i];
		int rc = l1_get(c, w->keys[k], w->klen[k], T0, false, buf,
				sizeof(buf), &len, NULL);
		if (rc == L1_HIT) {
			hits += i >= warm;
		} else {
			l1_put(c, w->keys[k], w->klen[k], w->vals[k],
			       w->vlen[k], T0, TTL_MS);
		}
	}
	l1_free(c);
	return (double)hits / (double)(nreq - warm);
}

/* ---- overhead ---- */

/* Heap bytes per entry beyond key and value: entries and tables. */
static void overhead(const struct world *w, double *per_entry,
		     double *tables)
{
	l1_config cfg = {.max_entries = 2 * (size_t)w->ncards,
			 .max_bytes = (size_t)1 << 30};
	size_t h0 = mallinfo2().uordblks;
	l1_cache *c = l1_new(&cfg);
	size_t h1 = mallinfo2().uordblks;

	*per_entry = *tables = -1;
	if (!c)
		return;
	for (uint32_t i = 0; i < w->ncards; i++)
		l1_put(c, w->keys[i], w->klen[i], w->vals[i], w->vlen[i], T0,
		       TTL_MS);
	size_t h2 = mallinfo2().uordblks;
	l1_stats s;
	l1_stats_get(c, &s);
	*tables = (double)(h1 - h0) / (double)cfg.max_entries;
	*per_entry = s.entries == w->ncards ?
		((double)(h2 - h1) - (double)w->kv_bytes) / (double)s.entries :
		-1;
	l1_free(c);
}

/* ---- main ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_cache [--quick] [--runs N] [--min-time S] "
		"[--requests N]\n"
		"                   [--seed N] [--check]\n"
		"  --quick      3 runs of 0.1 s, 500,000 requests "
		"(default 5 runs of 0.3 s, 4,000,000)\n"
		"  --check      exit 1 when a target is missed\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.runs = 5, .min_time = 0.3, .requests = 4000000,
			   .seed = 0x5eed};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick")) {
			o->runs = 3;
			o->min_time = 0.1;
			o->requests = 500000;
		} else if (!strcmp(a, "--check")) {
			o->check = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (v && !strcmp(a, "--runs")) {
			o->runs = atoi(v), i++;
		} else if (v && !strcmp(a, "--min-time")) {
			o->min_time = atof(v), i++;
		} else if (v && !strcmp(a, "--requests")) {
			o->requests = atol(v), i++;
		} else if (v && !strcmp(a, "--seed")) {
			o->seed = strtoull(v, NULL, 0), i++;
		} else {
			return -1;
		}
	}
	return o->runs < 1 || o->runs > MAX_RUNS || o->min_time < 0 ||
			       o->requests < 10 ? -1 : 0;
}

static void target_row(const char *what, const char *val, bool met,
		       int *missed)
{
	if (!met)
		(*missed)++;
	printf("| %s | %s | %s |\n", what, val, met ? "met" : "**MISSED**");
}

int main(int argc, char **argv)
{
	static const double fracs[] = {0.01, 0.05, 0.10};
	struct opts o;
	struct world w;
	gen_params p;
	gen_rng r;
	int missed = 0, rc = 1;
	long misses = 0;
	uint32_t *req = NULL;
	l1_cache *c = NULL;
	char val[64];

	if (parse_args(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	gen_params_default(&p);
	if (world_init(&w, &p, o.seed))
		goto out;
	size_t ksum = 0;
	for (uint32_t i = 0; i < w.ncards; i++)
		ksum += w.klen[i];
	printf("bench_cache: %u card feature groups (mean key %.1f + value "
	       "%.1f bytes), Zipf s = %.1f, %d timed runs of >= %.2f s\n\n",
	       w.ncards, (double)ksum / w.ncards,
	       (double)(w.kv_bytes - ksum) / w.ncards, p.zipf_s, o.runs,
	       o.min_time);
	fflush(stdout);

	/* Throughput on hits. */
	if (!(c = full_cache(&w)))
		goto out;
	struct rate g1 = throughput(&w, c, &o, 1, &misses);
	struct rate g2 = throughput(&w, c, &o, 2, &misses);
	/* The same with the trace folded onto the 1,000 hottest cards: the
	 * working set fits in the CPU caches. */
	uint32_t *full = w.trace;
	uint32_t *hot = rk_calloc(TRACE_LEN, sizeof(*hot));
	struct rate h1 = {-1, -1}, h2 = {-1, -1};
	if (hot) {
		for (uint32_t i = 0; i < TRACE_LEN; i++)
			hot[i] = full[i] % 1000;
		w.trace = hot;
		h1 = throughput(&w, c, &o, 1, &misses);
		h2 = throughput(&w, c, &o, 2, &misses);
		w.trace = full;
		rk_free(hot);
	}
	printf("get throughput, all hits (value copied out); per core = "
	       "gets / thread CPU time:\n\n"
	       "| trace | 1 thread, per core | ns/get (CPU) | 1 thread, "
	       "wall | 2 threads, per core | 2 threads, wall total |\n"
	       "|---|---:|---:|---:|---:|---:|\n");
	printf("| Zipf over 100,000 cards (~%zu MiB) | %.2f M | %.1f | "
	       "%.2f M | %.2f M | %.2f M |\n",
	       (w.kv_bytes + w.ncards * l1_entry_overhead()) >> 20,
	       g1.core / 1e6, 1e9 / g1.core, g1.wall / 1e6, g2.core / 1e6,
	       g2.wall / 1e6);
	printf("| 1,000 hottest cards | %.2f M | %.1f | %.2f M | %.2f M "
	       "| %.2f M |\n", h1.core / 1e6, 1e9 / h1.core, h1.wall / 1e6,
	       h2.core / 1e6, h2.wall / 1e6);
	if (misses)
		printf("(%ld gets missed: cache too small?)\n", misses);
	l1_free(c);
	c = NULL;

	/* Hit ratios on a fresh trace. */
	req = rk_calloc((size_t)o.requests, sizeof(*req));
	if (!req)
		goto out;
	gen_rng_seed(&r, o.seed + 1);
	for (long i = 0; i < o.requests; i++)
		req[i] = (uint32_t)(gen_zipf_draw(&p.z_card, &r) - 1);
	printf("\nhit ratio, %ld requests (first 10 %% warm-up), demand "
	       "fill:\n\n| cache size | LRU | L1 S3-FIFO, 1 shard | L1 "
	       "S3-FIFO, 64 shards | gain |\n|---:|---:|---:|---:|---:|\n",
	       o.requests);
	fflush(stdout);
	bool better = true;
	for (size_t i = 0; i < RK_ARRAY_LEN(fracs); i++) {
		size_t cap = (size_t)(fracs[i] * w.ncards);
		double lru = lru_ratio(w.ncards, cap, req, o.requests);
		double s1 = l1_ratio(&w, cap, 1, req, o.requests);
		double s64 = l1_ratio(&w, cap, 64, req, o.requests);

		printf("| %zu (%.0f %%) | %.4f | %.4f | %.4f | %+.2f pt |\n",
		       cap, fracs[i] * 100, lru, s1, s64, (s1 - lru) * 100);
		if (s1 < lru)
			better = false;
	}

	double per_entry, tables;
	overhead(&w, &per_entry, &tables);
	printf("\noverhead per entry beyond key and value: %.1f bytes of "
	       "heap (entry header + allocator) + %.1f bytes of tables "
	       "(per max entry) = %.1f; counted against max_bytes: %zu\n\n",
	       per_entry, tables, per_entry + tables, l1_entry_overhead());

	printf("| target | measured | status |\n|---|---:|---|\n");
	snprintf(val, sizeof(val), "%.2f M / %.2f M", h1.core / 1e6,
		 g1.core / 1e6);
	target_row("gets/s per core on hits >= 10 M (hot / full Zipf)", val,
		   h1.core >= TARGET_GETS, &missed);
	snprintf(val, sizeof(val), "%.1f B", per_entry + tables);
	target_row("overhead per entry <= 100 bytes", val,
		   per_entry >= 0 && per_entry + tables <= TARGET_OVERHEAD,
		   &missed);
	target_row("S3-FIFO hit ratio >= LRU at 1, 5, 10 %",
		   better ? "yes" : "no", better, &missed);
	rc = o.check && missed ? 1 : 0;
out:
	l1_free(c);
	rk_free(req);
	world_free(&w);
	return rc;
}
