/*
 * data.c - the data tier's life cycle and its non-scoring users: the
 * features API (PUT writes Redis and publishes an invalidation every
 * instance hears; GET reads L1 then Redis), the L1 invalidation
 * subscriber, /v1/regions, readiness and metrics. With no Redis
 * configured L1 is the only feature tier (PUT values live there, with no
 * expiry, until evicted) and velocity is kept in process.
 * Neighbours: fetch.c (the fetch stage), data.h, the cache/ headers.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "data_int.h"
#include "log.h"
#include "metrics.h"
#include "recorder.h"

/* "Forever" for L1 entries written without Redis behind them: L1's
 * longest TTL (about 49 days). */
#define NO_EXPIRY_MS 4294967295LL

int svc_data_key(char *buf, size_t cap, const char *group, const char *key)
{
	int n = snprintf(buf, cap, SVC_FEATURE_PREFIX "%s:%s", group, key);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

cJSON *svc_data_value(const char *s, size_t len)
{
	const char *end = NULL;
	cJSON *x = cJSON_ParseWithLengthOpts(s, len, &end, false);
	if (x && end == s + len)
		return x;
	cJSON_Delete(x);    /* no-op inside a request arena */
	/* not JSON, or JSON then text ("12abc"): the raw text */
	char *t = cJSON_malloc(len + 1);
	if (!t)
		return NULL;
	memcpy(t, s, len);
	t[len] = '\0';
	x = cJSON_CreateString(t);
	cJSON_free(t);
	return x;
}

void svc_data_observe(svc_data *d, int64_t us)
{
	if (d->redis_latency)
		metrics_observe_us(d->redis_latency, us);
}

static void on_region_event(void *ud, const char *msg)
{
	RK_UNUSED(ud);
	log_warn("redis region", "detail", msg, NULL);
}

/* A message on the invalidation channel: the Redis key whose L1 copy
 * goes (what PUT /v1/features and external writers publish). */
static void on_message(void *ud, const char *channel, const char *msg,
		       size_t len)
{
	svc_data *d = ud;
	if (!strcmp(channel, SVC_RULES_CHANNEL)) {
		pthread_mutex_lock(&d->hook_mu);
		if (d->on_rules)
			d->on_rules(d->on_rules_ud, msg, len);
		pthread_mutex_unlock(&d->hook_mu);
		return;
	}
	l1_del(d->l1, msg, len);
	atomic_fetch_add(&d->invalidations, 1);
}

struct rg_t *svc_data_rg(svc_data *d)
{
	return d ? d->rg : NULL;
}

void svc_data_on_rules(svc_data *d,
		       void (*fn)(void *ud, const char *msg, size_t len),
		       void *ud)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->hook_mu);
	d->on_rules = fn;
	d->on_rules_ud = ud;
	pthread_mutex_unlock(&d->hook_mu);
}

svc_data *svc_data_new(const svc_config *c, char *err, size_t errlen)
{
	svc_data *d = rk_calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->cfg = c;
	pthread_mutex_init(&d->hook_mu, NULL);
	l1_config lc = { .max_entries = (size_t)c->l1_entries,
			 .max_bytes = (size_t)c->l1_bytes, .shards = 0 };
	d->l1 = l1_new(&lc);
	if (!d->l1) {
		snprintf(err, errlen, "L1 cache: bad bounds or out of memory "
			 "(RISKD_L1_ENTRIES %lld, RISKD_L1_BYTES %lld)",
			 (long long)c->l1_entries, (long long)c->l1_bytes);
		goto out_free;
	}
	if (!c->nregions) {
		d->vel = vel_store_new(1000000);
		if (!d->vel) {
			snprintf(err, errlen, "out of memory");
			goto out_free;
		}
		return d;
	}
	rg_config rc;
	rg_config_defaults(&rc);
	if (c->nregions > RG_MAX_REGIONS) {
		snprintf(err, errlen, "RISKD_REGIONS: at most %d regions",
			 RG_MAX_REGIONS);
		goto out_free;
	}
	rc.nregions = c->nregions;
	for (int i = 0; i < c->nregions; i++) {
		snprintf(rc.regions[i].name, sizeof(rc.regions[i].name), "%s",
			 c->regions[i].name);
		snprintf(rc.regions[i].host, sizeof(rc.regions[i].host), "%s",
			 c->regions[i].host);
		rc.regions[i].port = c->regions[i].port;
		if (c->region[0] && !strcmp(c->region, c->regions[i].name))
			rc.home = i;
	}
	rc.health_interval_ms = c->health_interval_ms;
	rc.health_timeout_ms = c->health_timeout_ms;
	rc.fail_threshold = c->fail_threshold;
	rc.recover_threshold = c->recover_threshold;
	rc.failback_min_ms = c->failback_min_ms;
	rc.on_event = on_region_event;
	rc.ud = d;
	d->rg = rg_new(&rc, err, errlen);
	if (!d->rg)
		goto out_free;
	d->rec = svc_recorder_new(d->rg, 65536);
	if (!d->rec) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	const char *ch[] = { SVC_INVALIDATE_CHANNEL, SVC_RULES_CHANNEL };
	if (rg_subscribe(d->rg, ch, 2, on_message, d)) {
		snprintf(err, errlen, "Redis: cannot start the subscriber");
		goto out_free;
	}
	return d;
out_free:
	svc_data_free(d);
	return NULL;
}

void svc_data_free(svc_data *d)
{
	if (!d)
		return;
	svc_recorder_free(d->rec);   /* sends what is queued, needs rg */
	rg_free(d->rg);
	l1_free(d->l1);
	vel_store_free(d->vel);
	pthread_mutex_destroy(&d->hook_mu);
	rk_free(d);
}

bool svc_data_has_redis(const svc_data *d)
{
	return d && d->rg;
}

bool svc_data_ready(svc_data *d)
{
	return !d || !d->rg || rg_is_ready(d->rg);
}

const char *svc_data_region(svc_data *d)
{
	return d && d->rg ? rg_active_name(d->rg) : NULL;
}

/* ---- features API ---- */

int svc_data_put(svc_data *d, const char *group, const char *key,
		 const cJSON *obj, int64_t deadline_us, const char **region)
{
	char k[SVC_KEY_MAX];
	*region = NULL;
	if (!d)
		return RK_EUNAVAIL;
	int klen = svc_data_key(k, sizeof(k), group, key);
	if (klen < 0)
		return RK_EINVAL;
	if (!d->rg) {
		jw w;
		jw_init(&w, 256);
		jw_cjson(&w, obj);
		size_t len;
		char *text = jw_finish(&w, &len);
		if (!text)
			return RK_ENOMEM;
		l1_del(d->l1, k, (size_t)klen);
		int rc = l1_put(d->l1, k, (size_t)klen, text, len, rk_now_us(),
				NO_EXPIRY_MS);
		rk_free(text);
		return rc;
	}
	/* MULTI, DEL, HSET k f v ..., EXEC, PUBLISH: the values replace
	 * the old ones at once, then every instance drops its copy. */
	int nf = cJSON_GetArraySize(obj);
	int hargc = 2 + 2 * nf;
	const char **hargv = rk_calloc((size_t)hargc, sizeof(*hargv));
	size_t *hlen = rk_calloc((size_t)hargc, sizeof(*hlen));
	char **vals = rk_calloc((size_t)(nf ? nf : 1), sizeof(*vals));
	int rc = RK_ENOMEM;
	redisReply *rep[5] = { 0 };
	if (!hargv || !hlen || !vals)
		goto out;
	hargv[0] = "HSET";
	hlen[0] = 4;
	hargv[1] = k;
	hlen[1] = (size_t)klen;
	int i = 0;
	const cJSON *f;
	cJSON_ArrayForEach(f, obj) {
		jw w;
		jw_init(&w, 32);
		jw_cjson(&w, f);
		size_t len;
		vals[i] = jw_finish(&w, &len);
		if (!vals[i])
			goto out;
		hargv[2 + 2 * i] = f->string;
		hlen[2 + 2 * i] = strlen(f->string);
		hargv[3 + 2 * i] = vals[i];
		hlen[3 + 2 * i] = len;
		i++;
	}
	const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
	const char *del[] = { "DEL", k };
	size_t dell[] = { 3, (size_t)klen };
	const char *pub[] = { "PUBLISH", SVC_INVALIDATE_CHANNEL, k };
	size_t publ[] = { 7, strlen(SVC_INVALIDATE_CHANNEL), (size_t)klen };
	const char **argv[5] = { multi, del, hargv, exec, pub };
	const size_t *argvlen[5] = { NULL, dell, hlen, NULL, publ };
	int argc[5] = { 1, 2, hargc, 1, 3 };
	if (nf == 0) {          /* an empty object: the key goes */
		argv[2] = del;
		argvlen[2] = dell;
		argc[2] = 2;
	}
	int64_t t0 = rk_now_us();
	rc = rg_exec(d->rg, 5, argv, argvlen, argc, rep, deadline_us,
		     region);
	if (!rc) {
		svc_data_observe(d, rk_now_us() - t0);
		if (!rep[3] || rep[3]->type != REDIS_REPLY_ARRAY)
			rc = RK_EIO;
		l1_del(d->l1, k, (size_t)klen);
	}
out:
	for (int j = 0; j < 5; j++)
		if (rep[j])
			freeReplyObject(rep[j]);
	for (int j = 0; vals && j < nf; j++)
		rk_free(vals[j]);
	rk_free(vals);
	rk_free(hargv);
	rk_free(hlen);
	return rc;
}

/* Values of a Redis hash reply as a JSON object into w. */
static void hash_values(jw *w, const redisReply *r)
{
	jw_obj_begin(w);
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		char field[256];
		snprintf(field, sizeof(field), "%.*s", (int)k->len, k->str);
		jw_key(w, field);
		cJSON *x = svc_data_value(v->str, v->len);
		jw_cjson(w, x);
		cJSON_Delete(x);
	}
	jw_obj_end(w);
}

int svc_data_get(svc_data *d, const char *group, const char *key,
		 int64_t deadline_us, jw *w)
{
	char k[SVC_KEY_MAX];
	if (!d)
		return RK_ENOENT;
	int klen = svc_data_key(k, sizeof(k), group, key);
	if (klen < 0)
		return RK_ENOENT;
	char buf[8192];
	size_t len = 0;
	int64_t age = 0;
	int st = l1_get(d->l1, k, (size_t)klen, rk_now_us(), false, buf,
			sizeof(buf), &len, &age);
	if (st == L1_HIT) {
		cJSON *o = cJSON_ParseWithLength(buf, len);
		jw_kstr(w, "group", group);
		jw_kstr(w, "key", key);
		jw_key(w, "values");
		jw_cjson(w, o);
		jw_kstr(w, "source", "l1");
		jw_kint(w, "age_ms", age / 1000);
		jw_kstr(w, "region", svc_data_region(d));
		cJSON_Delete(o);
		return 0;
	}
	if (!d->rg)
		return RK_ENOENT;
	const char *hget[] = { "HGETALL", k };
	size_t hl[] = { 7, (size_t)klen };
	const char **argv[1] = { hget };
	const size_t *argvlen[1] = { hl };
	int argc[1] = { 2 };
	redisReply *rep = NULL;
	const char *region = NULL;
	int64_t t0 = rk_now_us();
	int rc = rg_exec(d->rg, 1, argv, argvlen, argc, &rep, deadline_us,
			 &region);
	if (rc)
		return rc;
	svc_data_observe(d, rk_now_us() - t0);
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2) {
		freeReplyObject(rep);
		return RK_ENOENT;
	}
	jw_kstr(w, "group", group);
	jw_kstr(w, "key", key);
	jw_key(w, "values");
	hash_values(w, rep);
	jw_kstr(w, "source", "redis");
	jw_kint(w, "age_ms", 0);
	jw_kstr(w, "region", region);
	freeReplyObject(rep);
	return 0;
}

/* ---- status ---- */

void svc_data_regions(svc_data *d, jw *w)
{
	rg_status st[RG_MAX_REGIONS];
	int n = 0, active = -1;
	uint64_t failovers = 0;
	if (d && d->rg)
		rg_snapshot(d->rg, st, &n, &active, &failovers);
	jw_key(w, "active");
	if (active >= 0 && active < n)
		jw_str(w, st[active].name);
	else
		jw_null(w);
	jw_kint(w, "failovers", (int64_t)failovers);
	jw_key(w, "regions");
	jw_arr_begin(w);
	for (int i = 0; i < n; i++) {
		jw_obj_begin(w);
		jw_kstr(w, "name", st[i].name);
		jw_kstr(w, "role", st[i].role);
		jw_kstr(w, "state", st[i].state);
		jw_kbool(w, "active", st[i].active);
		char addr[RG_HOST_MAX + 8];
		snprintf(addr, sizeof(addr), "%s:%d", st[i].host, st[i].port);
		jw_kstr(w, "address", addr);
		jw_key(w, "rtt_ms");
		if (st[i].rtt_us >= 0)
			jw_num(w, (double)st[i].rtt_us / 1000.0);
		else
			jw_null(w);
		jw_kint(w, "consecutive_failures", st[i].fails);
		jw_kint(w, "last_change_ms", st[i].changed_ms);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* ---- metrics ---- */

static void m_cache(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	l1_stats s;
	l1_stats_get(d->l1, &s);
	const char *hit[] = { "l1", "hit" }, *neg[] = { "l1", "negative_hit" },
		   *miss[] = { "l1", "miss" }, *rhit[] = { "redis", "fetch" };
	metrics_emit(e, hit, (double)s.hits);
	metrics_emit(e, neg, (double)s.negative_hits);
	metrics_emit(e, miss, (double)s.misses);
	metrics_emit(e, rhit, (double)atomic_load(&d->redis_fetches));
}

static void m_fetch_requests(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	metrics_emit(e, NULL, (double)atomic_load(&d->redis_fetch_requests));
}

static void m_l1(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	l1_stats s;
	l1_stats_get(d->l1, &s);
	const char *a[] = { "entries" }, *b[] = { "bytes" };
	metrics_emit(e, a, (double)s.entries);
	metrics_emit(e, b, (double)s.bytes);
}

static void m_l1_events(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	l1_stats s;
	l1_stats_get(d->l1, &s);
	const char *ev[] = { "eviction" }, *ex[] = { "expiration" },
		   *co[] = { "coalesced" }, *in[] = { "invalidation" };
	metrics_emit(e, ev, (double)s.evictions);
	metrics_emit(e, ex, (double)s.expirations);
	metrics_emit(e, co, (double)s.coalesced);
	metrics_emit(e, in, (double)atomic_load(&d->invalidations));
}

static void m_redis_errors(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	const char *er[] = { "error" }, *to[] = { "timeout" };
	metrics_emit(e, er, (double)atomic_load(&d->redis_errors));
	metrics_emit(e, to, (double)atomic_load(&d->redis_timeouts));
}

static void m_velocity(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	const char *ok[] = { "ok" }, *er[] = { "error" },
		   *dr[] = { "dropped" };
	uint64_t okn = atomic_load(&d->velocity_records);
	uint64_t ern = atomic_load(&d->velocity_errors), drn = 0;
	if (d->rec) {
		svc_recorder_stats st;
		svc_recorder_get_stats(d->rec, &st);
		okn += st.recorded;
		ern += st.failed;
		drn = st.dropped;
	}
	metrics_emit(e, ok, (double)okn);
	metrics_emit(e, er, (double)ern);
	metrics_emit(e, dr, (double)drn);
}

static void m_degraded(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	metrics_emit(e, NULL, (double)atomic_load(&d->degraded));
}

static void m_region_up(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	rg_status st[RG_MAX_REGIONS];
	int n = 0;
	if (d->rg)
		rg_snapshot(d->rg, st, &n, NULL, NULL);
	for (int i = 0; i < n; i++) {
		const char *v[] = { st[i].name, st[i].active ? "true" :
							       "false" };
		metrics_emit(e, v, st[i].up ? 1 : 0);
	}
}

static void m_failovers(void *arg, metrics_emitter *e)
{
	svc_data *d = arg;
	uint64_t f = 0;
	rg_status st[RG_MAX_REGIONS];
	if (d->rg)
		rg_snapshot(d->rg, st, NULL, NULL, &f);
	metrics_emit(e, NULL, (double)f);
}

void svc_data_metrics(svc_data *d, metrics_registry *m)
{
	metrics_collector(m, METRICS_COUNTER, "riskd_cache_lookups_total",
		"Feature lookups by tier and outcome (l1 hit/negative_hit/"
		"miss; redis fetch = pipelined round trips).", "tier,result",
		m_cache, d);
	metrics_collector(m, METRICS_GAUGE, "riskd_l1_size",
		"L1 cache size in entries and bytes.", "unit", m_l1, d);
	metrics_collector(m, METRICS_COUNTER, "riskd_l1_events_total",
		"L1 evictions, expirations, coalesced waits, invalidations.",
		"event", m_l1_events, d);
	metrics_collector(m, METRICS_COUNTER, "riskd_redis_errors_total",
		"Redis request-path failures by kind.", "kind",
		m_redis_errors, d);
	metrics_collector(m, METRICS_COUNTER,
		"riskd_velocity_records_total",
		"Events recorded in velocity aggregates, by result (ok, error; "
		"dropped: the Redis recorder's queue was full).", "result",
		m_velocity, d);
	metrics_collector(m, METRICS_COUNTER,
		"riskd_redis_fetch_requests_total",
		"Scores whose features or velocity came in a successful Redis "
		"round trip; divided by riskd_cache_lookups_total{tier=\"redis\","
		"result=\"fetch\"} (the round trips), the scores per round trip "
		"(queued scores share one).", NULL, m_fetch_requests, d);
	metrics_collector(m, METRICS_COUNTER, "riskd_degraded_total",
		"Answers made without some features or velocity.", NULL,
		m_degraded, d);
	metrics_collector(m, METRICS_GAUGE, "riskd_region_up",
		"1 when the region's health checks pass; active=true marks "
		"the region serving reads and writes.", "region,active",
		m_region_up, d);
	metrics_collector(m, METRICS_COUNTER, "riskd_region_failovers_total",
		"Switches of the active region (failovers and failbacks).",
		NULL, m_failovers, d);
	metrics_family *h = metrics_histogram(m,
		"riskd_redis_duration_seconds",
		"Redis pipelined round trips on the request path.", NULL, NULL,
		0);
	d->redis_latency = h ? metrics_get(h) : NULL;
}
