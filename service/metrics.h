/*
 * metrics.h - a Prometheus registry: counter, gauge and histogram
 * families with fixed label names, rendered as text format 0.0.4 for
 * GET /metrics (SPEC §7 "Metrics"). The hot path is lock-free: a series
 * is found in a fixed open-addressed table with atomic loads, and
 * counting is one atomic add. Series are created on first use, capped
 * per family (excess lands in one series whose labels are all "other").
 * Neighbours: server.c and handlers_*.c (users), docs/internals/
 * observability.md (the metric names riskd exports).
 */
#ifndef SVC_METRICS_H
#define SVC_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;
typedef struct metrics_series metrics_series;

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

/* Series per family unless raised with metrics_family_set_max_series. */
#define METRICS_MAX_SERIES_DEFAULT 1000
/* Label names per family. */
#define METRICS_MAX_LABELS 8

/*
 * Upper bounds, in seconds, of the default latency histogram (fine
 * enough for a sub-millisecond P99): 25us 50us 100us 200us 300us 500us
 * 750us 1ms 1.5ms 2ms 3ms 5ms 7.5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s,
 * then +Inf (implicit).
 */
extern const double metrics_latency_buckets[];
extern const int metrics_latency_nbuckets;

/* ---- the registry ---- */

metrics_registry *metrics_registry_new(void);
/* Frees the registry, its families and series (every handle becomes
 * invalid). NULL is a no-op. Call only when no thread uses it. */
void metrics_registry_free(metrics_registry *r);

/*
 * Registers a family. labels is a comma-separated list of label names
 * ("endpoint,status"), or NULL / "" for none. Names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]* (labels [a-zA-Z_][a-zA-Z0-9_]*, not "le" and
 * not starting with "__"); at most METRICS_MAX_LABELS labels. Returns
 * NULL on an invalid or duplicate name or out of memory; every metrics_
 * call accepts a NULL family or series and then does nothing, so a
 * failed registration never crashes the caller. Families render in
 * registration order. Thread-safe.
 */
metrics_family *metrics_counter(metrics_registry *r, const char *name,
				const char *help, const char *labels);
metrics_family *metrics_gauge(metrics_registry *r, const char *name,
			      const char *help, const char *labels);
/*
 * bounds: strictly increasing finite upper bounds in seconds (or any
 * unit the name says), nbounds >= 1; +Inf is added. NULL bounds means
 * metrics_latency_buckets. The bounds are copied.
 */
metrics_family *metrics_histogram(metrics_registry *r, const char *name,
				  const char *help, const char *labels,
				  const double *bounds, int nbounds);

/*
 * A gauge without labels whose value fn(arg) computes at render time
 * (queue depth, region count). fn runs on the rendering thread while
 * the registry's render lock is held: it must not call into the
 * registry.
 */
metrics_family *metrics_gauge_fn(metrics_registry *r, const char *name,
				 const char *help,
				 double (*fn)(void *arg), void *arg);

/*
 * A family whose samples a callback emits at render time, for values
 * that live elsewhere and whose label sets come and go (region_up per
 * region, ruleset_version per scenario, per-rule counters kept by the
 * compiled rule set). type is METRICS_COUNTER or METRICS_GAUGE. fn
 * calls metrics_emit(e, values, v) once per sample, values holding one
 * label value per label name. Same locking rule as metrics_gauge_fn.
 */
typedef struct metrics_emitter metrics_emitter;
typedef void (*metrics_collect_fn)(void *arg, metrics_emitter *e);
metrics_family *metrics_collector(metrics_registry *r, enum metrics_type type,
				  const char *name, const char *help,
				  const char *labels, metrics_collect_fn fn,
				  void *arg);
void metrics_emit(metrics_emitter *e, const char *const *values, double v);

/*
 * Raises (or lowers) the number of series the family may create; the
 * overflow series does not count. Only before the family's first
 * series exists: RK_ESTATE afterwards, RK_EINVAL for n < 1 or over
 * 1,000,000, RK_ENOMEM.
 */
int metrics_family_set_max_series(metrics_family *f, int n);

/* ---- series (label values) ---- */

/*
 * The series for the given label values, one const char * per label
 * name, in order (none for a family without labels), created on first
 * use. Lock-free when the series exists. Never NULL for a non-NULL
 * counter/gauge/histogram family: past the family's cap, or out of
 * memory, it returns the overflow series (every label "other"). Values
 * are copied; NULL values read as "". Callers on a hot path should
 * keep the returned pointer: it lives as long as the registry.
 */
metrics_series *metrics_get(metrics_family *f, ...);
metrics_series *metrics_getv(metrics_family *f, const char *const *values);

/*
 * Creates (or finds) n series at once, values holding n * nlabels label
 * values row by row, and stores them in out[0..n-1] (for per-rule
 * counters indexed by rule). Raise the cap first if n is large.
 * Returns 0, or RK_ELIMIT when some rows got the overflow series.
 */
int metrics_get_bulk(metrics_family *f, int n, const char *const *values,
		     metrics_series **out);

/* Counters: add a non-negative amount. One relaxed atomic add. */
void metrics_inc(metrics_series *s);
void metrics_add(metrics_series *s, uint64_t n);

/* Gauges: set, add (may be negative). Atomic. */
void metrics_set(metrics_series *s, double v);
void metrics_gauge_add(metrics_series *s, double v);

/* Histograms: one observation (seconds for latency families). */
void metrics_observe(metrics_series *s, double v);
/* One latency observation given in microseconds (no floating point
 * on the hot path). */
void metrics_observe_us(metrics_series *s, int64_t us);

/* Current value of a counter or gauge (tests, internal decisions);
 * a histogram gives its observation count. 0 for NULL. */
double metrics_value(const metrics_series *s);

/* ---- rendering ---- */

/* A growing text buffer (rk_malloc'd; free p with rk_free). */
typedef struct metrics_buf {
	char *p;
	size_t len, cap;
	bool oom;         /* an allocation failed; the text is incomplete */
} metrics_buf;

/* Appends printf-formatted text (sets b->oom on failure). */
void metrics_buf_printf(metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends a label value escaped for the text format (\\, \", \n). */
void metrics_buf_label(metrics_buf *b, const char *v);
/* Appends a sample value: the fewest digits that read back exactly,
 * plain for 1e-4 <= |v| < 1e21 ("200000", "0.0015"), else with an
 * exponent ("2.5e-05"); "+Inf", "-Inf", "NaN". */
void metrics_buf_value(metrics_buf *b, double v);

/*
 * Appends every family in the text format 0.0.4 (# HELP, # TYPE,
 * samples; histograms as cumulative _bucket{le=...}, _sum, _count) to
 * b, which may already hold text (b = {0} starts empty). Families
 * without any series write only their HELP and TYPE lines, except
 * families without labels, which always show their one sample. Returns
 * 0 or RK_ENOMEM (b->oom set; b->p still the caller's to free).
 * Thread-safe against concurrent updates and series creation.
 */
int metrics_render(metrics_registry *r, metrics_buf *b);

#endif
