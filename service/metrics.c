/*
 * metrics.c - the Prometheus registry (metrics.h). A family owns a fixed
 * open-addressed table of series pointers, sized for its cap, so lookups
 * need only acquire loads and never see a resize; creation takes the
 * family's mutex. Values are atomics (gauges hold the bits of a double).
 * Rendering walks families in registration order and series in creation
 * order. Neighbours: metrics.h, handlers_admin.c (GET /metrics).
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rk.h"

#define MAX_SERIES_LIMIT 1000000
#define SHARDS 8                /* histogram rows per series */
#define LINE 64                 /* cache line, bytes */
#define OTHER "other"

const double metrics_latency_buckets[] = {
	0.000025, 0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075,
	0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1,
};
const int metrics_latency_nbuckets = (int)RK_ARRAY_LEN(metrics_latency_buckets);

enum family_kind { KIND_PLAIN, KIND_FN, KIND_COLLECTOR };

struct metrics_series {
	metrics_family *fam;
	uint64_t hash;
	char **values;              /* nlabels copies */
	atomic_uint_fast64_t value; /* counter; gauge: double bits */
	/*
	 * Histogram: SHARDS cache-line-aligned rows of `stride` words, so
	 * threads observing the same series do not fight over one line:
	 * [0..nbounds] bucket counts, [nbounds+1] sum of observe_us
	 * (microseconds), [nbounds+2] sum of observe (bits of a double).
	 */
	atomic_uint_fast64_t *buckets;
	void *raw;                        /* the allocation behind buckets */
	int stride;
};

struct metrics_family {
	metrics_registry *reg;
	metrics_family *next;
	enum metrics_type type;
	enum family_kind kind;
	char *name, *help;
	int nlabels;
	char *labels[METRICS_MAX_LABELS];
	double *bounds;             /* histogram upper bounds */
	int64_t *bounds_us;         /* the same in microseconds */
	int nbounds;
	int max_series;
	pthread_mutex_t mu;         /* series creation */
	_Atomic(metrics_series *) *slots;
	size_t nslots;              /* power of two >= 2 * max_series */
	metrics_series **list;      /* creation order, max_series long */
	atomic_int nlist;
	metrics_series *single;     /* the series of a label-less family */
	metrics_series *overflow;   /* all labels "other" */
	atomic_bool overflow_used;
	double (*fn)(void *arg);
	metrics_collect_fn collect;
	void *arg;
};

struct metrics_registry {
	pthread_mutex_t mu;         /* family list, rendering */
	metrics_family *head, *tail;
};

struct metrics_emitter {
	metrics_family *fam;
	metrics_buf *buf;
};

/* ---- names ---- */

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_' || (colon && c == ':');
		if (!alpha && !(p > s && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* Splits "a, b" into f->labels; false on a bad, empty or repeated name. */
static bool parse_labels(metrics_family *f, const char *labels)
{
	if (!labels || !labels[strspn(labels, " ")])
		return true;
	for (const char *p = labels;;) {
		size_t n = strcspn(p, ",");
		const char *s = p, *e = p + n;
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		if (f->nlabels == METRICS_MAX_LABELS)
			return false;
		char *l = rk_strndup(s, (size_t)(e - s));
		if (!l)
			return false;
		f->labels[f->nlabels++] = l;
		if (!name_ok(l, false) || !strcmp(l, "le") ||
		    !strncmp(l, "__", 2))
			return false;
		for (int i = 0; i < f->nlabels - 1; i++)
			if (!strcmp(f->labels[i], l))
				return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

/* ---- series ---- */

static uint64_t hash_values(int n, const char *const *values)
{
	uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i];
		     p && *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static bool same_values(const metrics_series *s, int n,
			const char *const *values)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i] ? values[i] : ""))
			return false;
	return true;
}

static void series_free(metrics_series *s)
{
	if (!s)
		return;
	rk_free(s->raw);
	rk_free(s->values);
	rk_free(s);
}

/* One block for the struct and the value strings; buckets apart. */
static metrics_series *series_new(metrics_family *f, uint64_t h,
				  const char *const *values)
{
	size_t text = 0;
	for (int i = 0; i < f->nlabels; i++)
		text += strlen(values[i] ? values[i] : "") + 1;
	metrics_series *s = rk_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fam = f;
	s->hash = h;
	s->values = rk_malloc((size_t)f->nlabels * sizeof(char *) + text +
			      1);
	if (!s->values)
		goto out_free;
	char *p = (char *)(s->values + f->nlabels);
	for (int i = 0; i < f->nlabels; i++) {
		const char *v = values[i] ? values[i] : "";
		size_t n = strlen(v) + 1;
		memcpy(p, v, n);
		s->values[i] = p;
		p += n;
	}
	if (f->type == METRICS_HISTOGRAM) {
		int words = LINE / (int)sizeof(*s->buckets);
		s->stride = (f->nbounds + 3 + words - 1) / words * words;
		size_t bytes = (size_t)SHARDS * (size_t)s->stride *
			       sizeof(*s->buckets);
		s->raw = rk_calloc(1, bytes + LINE);
		if (!s->raw)
			goto out_free;
		uintptr_t a = ((uintptr_t)s->raw + LINE - 1) &
			      ~(uintptr_t)(LINE - 1);
		s->buckets = (atomic_uint_fast64_t *)a;
	}
	atomic_init(&s->value, 0);
	return s;

out_free:
	series_free(s);
	return NULL;
}

static int alloc_table(metrics_family *f, int max)
{
	size_t nslots = 4;
	while (nslots < (size_t)max * 2)
		nslots *= 2;
	_Atomic(metrics_series *) *slots = rk_calloc(nslots, sizeof(*slots));
	metrics_series **list = rk_calloc((size_t)max, sizeof(*list));
	if (!slots || !list) {
		rk_free(slots);
		rk_free(list);
		return RK_ENOMEM;
	}
	rk_free(f->slots);
	rk_free(f->list);
	f->slots = slots;
	f->list = list;
	f->nslots = nslots;
	f->max_series = max;
	return 0;
}

static metrics_series *find(metrics_family *f, uint64_t h,
			    const char *const *values)
{
	size_t mask = f->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		metrics_series *s = atomic_load_explicit(&f->slots[i],
							 memory_order_acquire);
		if (!s)
			return NULL;
		if (s->hash == h && same_values(s, f->nlabels, values))
			return s;
	}
}

static metrics_series *use_overflow(metrics_family *f)
{
	if (!atomic_load_explicit(&f->overflow_used, memory_order_relaxed))
		atomic_store(&f->overflow_used, true);
	return f->overflow;
}

static bool all_other(const metrics_family *f, const char *const *values)
{
	for (int i = 0; i < f->nlabels; i++)
		if (!values[i] || strcmp(values[i], OTHER))
			return false;
	return true;
}

metrics_series *metrics_getv(metrics_family *f, const char *const *values)
{
	if (!f || f->kind != KIND_PLAIN)
		return NULL;
	if (!f->nlabels)
		return f->single;
	uint64_t h = hash_values(f->nlabels, values);
	metrics_series *s = find(f, h, values);
	if (s)
		return s;
	if (all_other(f, values))
		return use_overflow(f);
	pthread_mutex_lock(&f->mu);
	s = find(f, h, values);
	if (s)
		goto out_unlock;
	int n = atomic_load_explicit(&f->nlist, memory_order_relaxed);
	if (n >= f->max_series || !(s = series_new(f, h, values))) {
		pthread_mutex_unlock(&f->mu);
		return use_overflow(f);
	}
	size_t mask = f->nslots - 1;
	size_t i = h & mask;
	while (atomic_load_explicit(&f->slots[i], memory_order_relaxed))
		i = (i + 1) & mask;
	f->list[n] = s;
	atomic_store_explicit(&f->nlist, n + 1, memory_order_release);
	atomic_store_explicit(&f->slots[i], s, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&f->mu);
	return s;
}

metrics_series *metrics_get(metrics_family *f, ...)
{
	if (!f)
		return NULL;
	const char *values[METRICS_MAX_LABELS];
	va_list ap;
	va_start(ap, f);
	for (int i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metrics_getv(f, values);
}

int metrics_get_bulk(metrics_family *f, int n, const char *const *values,
		     metrics_series **out)
{
	if (!f || f->kind != KIND_PLAIN || n < 0)
		return RK_EINVAL;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		out[i] = metrics_getv(f, values + (size_t)i * f->nlabels);
		if (out[i] == f->overflow && f->nlabels &&
		    !all_other(f, values + (size_t)i * f->nlabels))
			rc = RK_ELIMIT;
	}
	return rc;
}

int metrics_family_set_max_series(metrics_family *f, int n)
{
	if (!f || n < 1 || n > MAX_SERIES_LIMIT)
		return RK_EINVAL;
	if (f->kind != KIND_PLAIN || !f->nlabels)
		return RK_ESTATE;
	pthread_mutex_lock(&f->mu);
	int rc = RK_ESTATE;
	if (!atomic_load(&f->nlist))
		rc = alloc_table(f, n);
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* ---- updates ---- */

void metrics_inc(metrics_series *s)
{
	if (s)
		atomic_fetch_add_explicit(&s->value, 1, memory_order_relaxed);
}

void metrics_add(metrics_series *s, uint64_t n)
{
	if (s)
		atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

static uint64_t dbits(double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

void metrics_set(metrics_series *s, double v)
{
	if (s)
		atomic_store_explicit(&s->value, dbits(v),
				      memory_order_relaxed);
}

void metrics_gauge_add(metrics_series *s, double v)
{
	if (!s)
		return;
	uint_fast64_t old = atomic_load_explicit(&s->value,
						 memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
		&s->value, &old, dbits(bitsd(old) + v), memory_order_relaxed,
		memory_order_relaxed))
		;
}

/* Index of the first bound >= v (nbounds for +Inf). */
static int bucket_of(const metrics_family *f, double v)
{
	int lo = 0, hi = f->nbounds;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int bucket_of_us(const metrics_family *f, int64_t us)
{
	int lo = 0, hi = f->nbounds;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (us <= f->bounds_us[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* This thread's histogram row, fixed at its first observation. */
static atomic_uint_fast64_t *row(const metrics_series *s)
{
	static atomic_uint next_shard;
	static _Thread_local int shard = -1;
	if (shard < 0)
		shard = (int)(atomic_fetch_add_explicit(&next_shard, 1,
						       memory_order_relaxed) %
			      SHARDS);
	return s->buckets + (size_t)shard * (size_t)s->stride;
}

void metrics_observe(metrics_series *s, double v)
{
	if (!s || !s->buckets)
		return;
	int nb = s->fam->nbounds;
	atomic_uint_fast64_t *r = row(s);
	atomic_fetch_add_explicit(&r[bucket_of(s->fam, v)], 1,
				  memory_order_relaxed);
	uint_fast64_t old = atomic_load_explicit(&r[nb + 2],
						 memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
		&r[nb + 2], &old, dbits(bitsd(old) + v), memory_order_relaxed,
		memory_order_relaxed))
		;
}

void metrics_observe_us(metrics_series *s, int64_t us)
{
	if (!s || !s->buckets)
		return;
	if (us < 0)
		us = 0;
	atomic_uint_fast64_t *r = row(s);
	atomic_fetch_add_explicit(&r[bucket_of_us(s->fam, us)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&r[s->fam->nbounds + 1], (uint64_t)us,
				  memory_order_relaxed);
}

/* Word i of the histogram summed over the rows. */
static uint64_t hist_word(const metrics_series *s, int i)
{
	uint64_t n = 0;
	for (int k = 0; k < SHARDS; k++)
		n += atomic_load_explicit(&s->buckets[k * s->stride + i],
					  memory_order_relaxed);
	return n;
}

static double hist_sum(const metrics_series *s)
{
	int nb = s->fam->nbounds;
	double sum = (double)hist_word(s, nb + 1) / 1e6;
	for (int k = 0; k < SHARDS; k++)
		sum += bitsd(atomic_load_explicit(
			&s->buckets[k * s->stride + nb + 2],
			memory_order_relaxed));
	return sum;
}

static uint64_t hist_count(const metrics_series *s)
{
	uint64_t n = 0;
	for (int i = 0; i <= s->fam->nbounds; i++)
		n += hist_word(s, i);
	return n;
}

double metrics_value(const metrics_series *s)
{
	if (!s)
		return 0;
	uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	switch (s->fam->type) {
	case METRICS_COUNTER:
		return (double)v;
	case METRICS_GAUGE:
		return bitsd(v);
	case METRICS_HISTOGRAM:
		return (double)hist_count(s);
	}
	return 0;
}

/* ---- registry ---- */

metrics_registry *metrics_registry_new(void)
{
	metrics_registry *r = rk_calloc(1, sizeof(*r));
	if (r)
		pthread_mutex_init(&r->mu, NULL);
	return r;
}

static void family_free(metrics_family *f)
{
	if (!f)
		return;
	int n = atomic_load(&f->nlist);
	for (int i = 0; i < n; i++)
		series_free(f->list[i]);
	series_free(f->single);
	series_free(f->overflow);
	for (int i = 0; i < f->nlabels; i++)
		rk_free(f->labels[i]);
	rk_free(f->slots);
	rk_free(f->list);
	rk_free(f->bounds);
	rk_free(f->bounds_us);
	rk_free(f->name);
	rk_free(f->help);
	pthread_mutex_destroy(&f->mu);
	rk_free(f);
}

void metrics_registry_free(metrics_registry *r)
{
	if (!r)
		return;
	for (metrics_family *f = r->head, *next; f; f = next) {
		next = f->next;
		family_free(f);
	}
	pthread_mutex_destroy(&r->mu);
	rk_free(r);
}

static int64_t to_us(double b)
{
	double us = b * 1e6;
	double r = nearbyint(us);
	if (fabs(us - r) < 1e-6 * (fabs(r) + 1))
		return (int64_t)r;
	return (int64_t)floor(us);
}

static int set_bounds(metrics_family *f, const double *bounds, int n)
{
	if (!bounds) {
		bounds = metrics_latency_buckets;
		n = metrics_latency_nbuckets;
	}
	if (n < 1)
		return RK_EINVAL;
	for (int i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1]))
			return RK_EINVAL;
	f->bounds = rk_malloc((size_t)n * sizeof(*f->bounds));
	f->bounds_us = rk_malloc((size_t)n * sizeof(*f->bounds_us));
	if (!f->bounds || !f->bounds_us)
		return RK_ENOMEM;
	memcpy(f->bounds, bounds, (size_t)n * sizeof(*bounds));
	for (int i = 0; i < n; i++)
		f->bounds_us[i] = to_us(bounds[i]);
	f->nbounds = n;
	return 0;
}

/* Builds and links a family; NULL on any error. */
static metrics_family *family_add(metrics_registry *r, enum metrics_type type,
				  enum family_kind kind, const char *name,
				  const char *help, const char *labels,
				  const double *bounds, int nbounds)
{
	if (!r || !name_ok(name, true))
		return NULL;
	metrics_family *f = rk_calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->mu, NULL);
	f->reg = r;
	f->type = type;
	f->kind = kind;
	atomic_init(&f->nlist, 0);
	atomic_init(&f->overflow_used, false);
	f->name = rk_strdup(name);
	f->help = rk_strdup(help ? help : "");
	if (!f->name || !f->help || !parse_labels(f, labels))
		goto out_free;
	if (type == METRICS_HISTOGRAM && set_bounds(f, bounds, nbounds))
		goto out_free;
	if (kind == KIND_PLAIN && f->nlabels) {
		const char *other[METRICS_MAX_LABELS];
		for (int i = 0; i < f->nlabels; i++)
			other[i] = OTHER;
		f->overflow = series_new(f, 0, other);
		if (!f->overflow ||
		    alloc_table(f, METRICS_MAX_SERIES_DEFAULT))
			goto out_free;
	} else if (kind == KIND_PLAIN) {
		f->single = series_new(f, 0, NULL);
		if (!f->single)
			goto out_free;
	}
	pthread_mutex_lock(&r->mu);
	for (metrics_family *g = r->head; g; g = g->next) {
		if (!strcmp(g->name, name)) {
			pthread_mutex_unlock(&r->mu);
			goto out_free;
		}
	}
	if (r->tail)
		r->tail->next = f;
	else
		r->head = f;
	r->tail = f;
	pthread_mutex_unlock(&r->mu);
	return f;

out_free:
	family_free(f);
	return NULL;
}

metrics_family *metrics_counter(metrics_registry *r, const char *name,
				const char *help, const char *labels)
{
	return family_add(r, METRICS_COUNTER, KIND_PLAIN, name, help, labels,
			  NULL, 0);
}

metrics_family *metrics_gauge(metrics_registry *r, const char *name,
			      const char *help, const char *labels)
{
	return family_add(r, METRICS_GAUGE, KIND_PLAIN, name, help, labels,
			  NULL, 0);
}

metrics_family *metrics_histogram(metrics_registry *r, const char *name,
				  const char *help, const char *labels,
				  const double *bounds, int nbounds)
{
	return family_add(r, METRICS_HISTOGRAM, KIND_PLAIN, name, help,
			  labels, bounds, nbounds);
}

metrics_family *metrics_gauge_fn(metrics_registry *r, const char *name,
				 const char *help,
				 double (*fn)(void *arg), void *arg)
{
	if (!fn)
		return NULL;
	metrics_family *f = family_add(r, METRICS_GAUGE, KIND_FN, name, help,
				       NULL, NULL, 0);
	if (f) {
		f->fn = fn;
		f->arg = arg;
	}
	return f;
}

metrics_family *metrics_collector(metrics_registry *r, enum metrics_type type,
				  const char *name, const char *help,
				  const char *labels, metrics_collect_fn fn,
				  void *arg)
{
	if (!fn || type == METRICS_HISTOGRAM)
		return NULL;
	metrics_family *f = family_add(r, type, KIND_COLLECTOR, name, help,
				       labels, NULL, 0);
	if (f) {
		f->collect = fn;
		f->arg = arg;
	}
	return f;
}

/* ---- rendering ---- */

void metrics_buf_printf(metrics_buf *b, const char *fmt, ...)
{
	for (int pass = 0; pass < 2 && !b->oom; pass++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL,
				  b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *q = rk_realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static void put_mem(metrics_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (!b->p || b->len + n >= b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap <= b->len + n)
			cap *= 2;
		char *q = rk_realloc(b->p, cap);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put_str(metrics_buf *b, const char *s)
{
	put_mem(b, s, strlen(s));
}

/* Escapes backslash and newline, and the quote when in a label. */
static void put_escaped(metrics_buf *b, const char *v, bool quote)
{
	const char *run = v;
	for (; *v; v++) {
		const char *esc = *v == '\\' ? "\\\\" :
				  *v == '\n' ? "\\n" :
				  quote && *v == '"' ? "\\\"" : NULL;
		if (!esc)
			continue;
		put_mem(b, run, (size_t)(v - run));
		put_str(b, esc);
		run = v + 1;
	}
	put_mem(b, run, (size_t)(v - run));
}

void metrics_buf_label(metrics_buf *b, const char *v)
{
	put_escaped(b, v ? v : "", true);
}

void metrics_buf_value(metrics_buf *b, double v)
{
	if (isnan(v)) {
		put_str(b, "NaN");
		return;
	}
	if (isinf(v)) {
		put_str(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* the fewest significant digits that read back as v, then plain
	 * notation for 1e-4 <= |v| < 1e21, else an exponent */
	char t[48];
	int p = 1;
	for (; p < 17; p++) {
		snprintf(t, sizeof(t), "%.*e", p - 1, v);
		if (strtod(t, NULL) == v)
			break;
	}
	snprintf(t, sizeof(t), "%.*e", p - 1, v);
	int exp = atoi(strchr(t, 'e') + 1);
	if (v != 0 && exp >= -4 && exp < 21)
		snprintf(t, sizeof(t), "%.*f", p - 1 - exp > 0 ? p - 1 - exp : 0,
			 v);
	else if (v == 0)
		snprintf(t, sizeof(t), "0");
	put_str(b, t);
}

static void put_u64(metrics_buf *b, uint64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
	put_mem(b, t, (size_t)n);
}

/*
 * name{l1="v1",...[,le="x"]} - suffix appended to the name, le given
 * as text (NULL = none).
 */
static void put_head(metrics_buf *b, const metrics_family *f,
		     const char *suffix, const char *const *values,
		     const char *le)
{
	put_str(b, f->name);
	if (suffix)
		put_str(b, suffix);
	if (!f->nlabels && !le) {
		put_mem(b, " ", 1);
		return;
	}
	put_mem(b, "{", 1);
	for (int i = 0; i < f->nlabels; i++) {
		if (i)
			put_mem(b, ",", 1);
		put_str(b, f->labels[i]);
		put_mem(b, "=\"", 2);
		metrics_buf_label(b, values ? values[i] : "");
		put_mem(b, "\"", 1);
	}
	if (le) {
		put_str(b, f->nlabels ? ",le=\"" : "le=\"");
		put_str(b, le);
		put_mem(b, "\"", 1);
	}
	put_mem(b, "} ", 2);
}

static void render_series(metrics_buf *b, const metrics_series *s)
{
	const metrics_family *f = s->fam;
	const char *const *values = (const char *const *)s->values;
	if (f->type == METRICS_COUNTER) {
		put_head(b, f, NULL, values, NULL);
		put_u64(b, atomic_load_explicit(&s->value,
						memory_order_relaxed));
		put_mem(b, "\n", 1);
		return;
	}
	if (f->type == METRICS_GAUGE) {
		put_head(b, f, NULL, values, NULL);
		metrics_buf_value(b, metrics_value(s));
		put_mem(b, "\n", 1);
		return;
	}
	uint64_t cum = 0;
	for (int i = 0; i <= f->nbounds; i++) {
		cum += hist_word(s, i);
		metrics_buf le = { 0 };
		if (i < f->nbounds)
			metrics_buf_value(&le, f->bounds[i]);
		put_head(b, f, "_bucket", values,
			 i < f->nbounds ? (le.p ? le.p : "") : "+Inf");
		rk_free(le.p);
		b->oom |= le.oom;
		put_u64(b, cum);
		put_mem(b, "\n", 1);
	}
	double sum = hist_sum(s);
	put_head(b, f, "_sum", values, NULL);
	metrics_buf_value(b, sum);
	put_mem(b, "\n", 1);
	put_head(b, f, "_count", values, NULL);
	put_u64(b, cum);
	put_mem(b, "\n", 1);
}

void metrics_emit(metrics_emitter *e, const char *const *values, double v)
{
	if (!e)
		return;
	put_head(e->buf, e->fam, NULL, values, NULL);
	metrics_buf_value(e->buf, v);
	put_mem(e->buf, "\n", 1);
}

static const char *type_name(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" :
	       t == METRICS_GAUGE ? "gauge" : "histogram";
}

static void render_family(metrics_buf *b, metrics_family *f)
{
	put_str(b, "# HELP ");
	put_str(b, f->name);
	put_mem(b, " ", 1);
	put_escaped(b, f->help, false);
	put_str(b, "\n# TYPE ");
	put_str(b, f->name);
	put_mem(b, " ", 1);
	put_str(b, type_name(f->type));
	put_mem(b, "\n", 1);
	switch (f->kind) {
	case KIND_FN:
		put_head(b, f, NULL, NULL, NULL);
		metrics_buf_value(b, f->fn(f->arg));
		put_mem(b, "\n", 1);
		return;
	case KIND_COLLECTOR: {
		metrics_emitter e = { f, b };
		f->collect(f->arg, &e);
		return;
	}
	case KIND_PLAIN:
		break;
	}
	if (f->single) {
		render_series(b, f->single);
		return;
	}
	int n = atomic_load_explicit(&f->nlist, memory_order_acquire);
	for (int i = 0; i < n; i++)
		render_series(b, f->list[i]);
	if (atomic_load(&f->overflow_used))
		render_series(b, f->overflow);
}

int metrics_render(metrics_registry *r, metrics_buf *b)
{
	if (!r)
		return 0;
	pthread_mutex_lock(&r->mu);
	for (metrics_family *f = r->head; f && !b->oom; f = f->next)
		render_family(b, f);
	pthread_mutex_unlock(&r->mu);
	return b->oom ? RK_ENOMEM : 0;
}
