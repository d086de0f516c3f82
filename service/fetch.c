/*
 * fetch.c - the fetch stage of the scoring pipeline (SPEC §7 "Caching
 * tiers") and velocity recording. For one event it works out the key of
 * every feature group the rule set reads (the group's key template over
 * the event), answers what it can from L1, claims the misses (one fetch
 * per key in flight across requests) and sends every Redis read the
 * event needs - feature hashes and velocity aggregates - in one
 * pipelined round trip bounded by the request's remaining budget. What
 * cannot be had in time reads as null and marks the answer degraded.
 * Recording goes to recorder.c (Redis) or the in-process store.
 * Neighbours: data.c (the tier's state), handlers_score.c (the caller).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "../cache/resp.h"
#include "../cache/rpipe.h"
#include "data_int.h"
#include "recorder.h"

/* An L1 read buffer; larger values get one from the request arena. */
#define VALBUF 2048

enum gstate { G_NONE, G_HIT, G_NEG, G_CLAIMED, G_PENDING };

struct group {
	const char *name;
	const char *tpl;      /* key template; NULL: group not defined */
	int64_t ttl_ms;
	char key[SVC_KEY_MAX];
	int klen;
	enum gstate st;
	bool from_redis;
	int64_t age_us;
	cJSON *obj;
};

/* Expands a key template ("{card.id}", "acct-{user.id}") over event
 * into buf. false when a path has no value (the group reads null). */
static bool expand(const char *tpl, const cJSON *event, char *buf,
		   size_t cap)
{
	size_t n = 0;
	for (const char *p = tpl; *p; p++) {
		if (*p != '{') {
			if (n + 1 >= cap)
				return false;
			buf[n++] = *p;
			continue;
		}
		const char *e = strchr(p, '}');
		if (!e || e - p - 1 >= 256)
			return false;
		char path[256];
		memcpy(path, p + 1, (size_t)(e - p - 1));
		path[e - p - 1] = '\0';
		const cJSON *v = vel_path_get(event, path);
		char tmp[256];
		const char *s;
		if (cJSON_IsString(v) && v->valuestring[0]) {
			s = v->valuestring;
		} else if (cJSON_IsNumber(v)) {
			double x = v->valuedouble;
			if (x == (double)(int64_t)x)
				snprintf(tmp, sizeof(tmp), "%lld",
					 (long long)x);
			else
				snprintf(tmp, sizeof(tmp), "%.17g", x);
			s = tmp;
		} else {
			return false;
		}
		size_t sl = strlen(s);
		if (n + sl >= cap)
			return false;
		memcpy(buf + n, s, sl);
		n += sl;
		p = e;
	}
	buf[n] = '\0';
	return n > 0;
}

/* The distinct groups the rules of set read, with their definitions. */
static int groups_used(const rules_set *set, struct group *g, int cap)
{
	const rules_def *def = rules_set_def(set);
	int n = 0;
	int nslots = rules_set_nfeature_slots(set);
	for (int i = 0; i < nslots; i++) {
		const rules_need *need = rules_set_feature_slot(set, i);
		if (!need)
			continue;
		bool seen = false;
		for (int j = 0; j < n && !seen; j++)
			seen = !strcmp(g[j].name, need->group);
		if (seen || n == cap)
			continue;
		memset(&g[n], 0, sizeof(g[n]));
		g[n].name = need->group;
		g[n].ttl_ms = -1;   /* a group the set does not define */
		for (int j = 0; j < def->nfeatures; j++)
			if (!strcmp(def->features[j].name, need->group)) {
				g[n].ttl_ms = def->features[j].ttl_ms;
				g[n].tpl = def->features[j].key;
			}
		n++;
	}
	return n;
}

/* A cached or fetched object text into a cJSON object (in the arena
 * installed by the caller); NULL when it does not parse. */
static cJSON *parse_obj(const char *text, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(text, len);
	return cJSON_IsObject(o) ? o : NULL;
}

/* Reads key from L1 (claiming a miss when claim); fills g. */
static void l1_read(svc_data *d, struct group *g, bool claim,
		    int64_t deadline_us, arena *mem, bool wait)
{
	char stackbuf[VALBUF];
	char *buf = stackbuf;
	size_t cap = sizeof(stackbuf), len = 0;
	int64_t age = 0;
	for (int tries = 0; tries < 2; tries++) {
		int st = wait ? l1_wait(d->l1, g->key, (size_t)g->klen,
					deadline_us, buf, cap, &len, &age)
			      : l1_get(d->l1, g->key, (size_t)g->klen,
				       rk_now_us(), claim, buf, cap, &len,
				       &age);
		if (st == RK_ELIMIT) {
			/* too big for the stack buffer: read it again */
			buf = arena_alloc(mem, len + 1);
			if (!buf)
				break;
			cap = len + 1;
			claim = false;
			wait = false;
			continue;
		}
		switch (st) {
		case L1_HIT:
			g->obj = parse_obj(buf, len);
			g->st = g->obj ? G_HIT : G_NEG;
			g->age_us = age;
			return;
		case L1_NEGATIVE:
			g->st = G_NEG;
			g->age_us = age;
			return;
		case L1_CLAIMED:
			g->st = G_CLAIMED;
			return;
		case L1_PENDING:
			g->st = G_PENDING;
			return;
		default:
			g->st = G_NONE;
			return;
		}
	}
	g->st = G_NONE;
}

/* HGETALL key appended to ctx: 0, or RK_ENOMEM. */
static int hgetall(redisContext *ctx, const char *key, size_t klen)
{
	const char *argv[] = {"HGETALL", key};
	size_t len[] = {7, klen};
	return resp_append(ctx, 2, argv, len) == REDIS_OK ? 0 : RK_ENOMEM;
}

/* A Redis HGETALL reply into an object; each field's value is JSON text
 * (a value that does not parse is a string). NULL for an empty hash. */
static cJSON *hash_to_obj(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
		return NULL;
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		char field[256];
		snprintf(field, sizeof(field), "%.*s", (int)k->len, k->str);
		cJSON *x = svc_data_value(v->str, v->len);
		if (x)
			cJSON_AddItemToObject(o, field, x);
	}
	return o;
}

static void degrade(svc_fetch *out, const char *why)
{
	for (int i = 0; i < out->ndegraded; i++)
		if (!strcmp(out->degraded_reasons[i], why))
			return;
	if (out->ndegraded < 3)
		out->degraded_reasons[out->ndegraded++] = why;
	out->degraded = true;
}

/* Puts a fetched group into L1 (the value, or a negative entry). */
static void l1_fill(svc_data *d, struct group *g)
{
	int64_t ttl = g->ttl_ms > 0 ? g->ttl_ms : d->cfg->l1_ttl_ms;
	if (!g->obj) {
		l1_put(d->l1, g->key, (size_t)g->klen, NULL, 0, rk_now_us(),
		       ttl);
		return;
	}
	jw w;
	jw_init(&w, 256);
	jw_cjson(&w, g->obj);
	size_t len;
	char *text = jw_finish(&w, &len);
	if (text)
		l1_put(d->l1, g->key, (size_t)g->klen, text, len, rk_now_us(),
		       ttl);
	else
		l1_abandon(d->l1, g->key, (size_t)g->klen);
	rk_free(text);
}

/* One request's fetch, in its arena while a batch is worked on. */
struct fstate {
	const rules_set *set;
	const cJSON *event;
	arena *mem;
	svc_fetch *out;
	struct group g[SVC_MAX_GROUPS];
	int ng;
	rules_velocity_def vd[SVC_MAX_VELOCITY];
	int nv;
	double vals[SVC_MAX_VELOCITY];
	bool has[SVC_MAX_VELOCITY];
	int64_t now_ms;
	int nclaimed, nvr;   /* replies expected in the round */
	bool redis;          /* takes part in the round */
};

/*
 * Phase 1: the groups and velocity set reads, L1 for each group's key
 * (claiming misses when Redis is there), in-process velocity without
 * Redis.
 */
static void prepare(svc_data *d, struct fstate *st)
{
	memset(st->out, 0, sizeof(*st->out));
	st->ng = groups_used(st->set, st->g, SVC_MAX_GROUPS);
	st->nv = vel_defs_used(st->set, st->vd, SVC_MAX_VELOCITY);
	st->nclaimed = st->nvr = 0;
	st->redis = false;
	if (!st->ng && !st->nv)
		return;
	bool redis = d->rg != NULL;
	st->now_ms = vel_now_ms();
	memset(st->has, 0, sizeof(st->has));
	rk_cjson_arena(st->mem);
	for (int i = 0; i < st->ng; i++) {
		struct group *g = &st->g[i];
		char key[SVC_KEY_MAX];
		if (!g->tpl || !expand(g->tpl, st->event, key, sizeof(key)))
			continue;      /* no key: the group reads null */
		g->klen = svc_data_key(g->key, sizeof(g->key), g->name, key);
		if (g->klen < 0)
			continue;
		l1_read(d, g, redis, 0, st->mem, false);
		st->nclaimed += g->st == G_CLAIMED;
	}
	if (!redis && st->nv &&
	    !vel_store_read(d->vel, st->vd, st->nv, st->event, st->now_ms,
			    st->vals, st->has))
		st->out->velocity_source = "process";
	rk_cjson_arena(NULL);
	st->redis = redis && (st->nclaimed || st->nv);
}

/* A failed round: claims given back, the answer degraded. */
static void round_failed(svc_data *d, struct fstate *st, bool timeout)
{
	for (int i = 0; i < st->ng; i++) {
		if (st->g[i].st != G_CLAIMED)
			continue;
		l1_abandon(d->l1, st->g[i].key, (size_t)st->g[i].klen);
		st->g[i].st = G_NONE;
	}
	if (st->nclaimed)
		degrade(st->out, timeout ? "features_timeout" :
					   "features_unavailable");
	if (st->nv)
		degrade(st->out, "velocity_unavailable");
}

/* One request's replies (rep[0..nclaimed+nvr)) into its state; appends
 * its prunes to ctx (counted in *np; none when ctx is NULL). */
static void round_parse(svc_data *d, struct fstate *st, redisReply **rep,
			redisContext *ctx, const char *region, int *np)
{
	rk_cjson_arena(st->mem);
	st->out->region = region;
	int k = 0;
	for (int i = 0; i < st->ng; i++) {
		struct group *g = &st->g[i];
		if (g->st != G_CLAIMED)
			continue;
		g->obj = hash_to_obj(rep[k++]);
		g->st = g->obj ? G_HIT : G_NEG;
		g->age_us = 0;
		g->from_redis = true;
		l1_fill(d, g);
	}
	rk_cjson_arena(NULL);
	if (!st->nv)
		return;
	redisReply **vr = rep + st->nclaimed;
	if (vel_redis_parse_reads(vr, st->nvr, st->vd, st->nv, st->event,
				  st->now_ms, st->vals, st->has))
		degrade(st->out, "velocity_unavailable");
	else
		st->out->velocity_source = "redis";
	/* Buckets that left a window go now and then (once a bucket per
	 * entity at most), so busy hashes stay about VEL_BUCKETS fields. */
	int n = 0;
	if (ctx && !vel_redis_append_prunes(ctx, vr, st->nvr, st->vd, st->nv,
				     st->event, st->now_ms, &n))
		*np += n;
}

/*
 * Phase 2: ONE pipelined round trip for every request of the batch that
 * needs Redis: their claimed groups' HGETALLs and velocity reads, within
 * the earliest deadline; then the prunes the replies call for.
 */
static void redis_round(svc_data *d, struct fstate **sts, int n,
			int64_t deadline_us)
{
	int nrep = 0, nin = 0;
	for (int i = 0; i < n; i++)
		nin += sts[i]->redis;
	if (!nin)
		return;
	rg_conn *c = rg_acquire(d->rg, deadline_us);
	bool failed = false, timeout = false, prune_failed = false;
	redisReply **rep = NULL;
	if (!c || rg_conn_set_budget(c, deadline_us)) {
		failed = c != NULL;
		timeout = rk_now_us() >= deadline_us;
		goto out;
	}
	redisContext *ctx = rg_conn_ctx(c);
	for (int i = 0; i < n && !failed; i++) {
		struct fstate *st = sts[i];
		if (!st->redis)
			continue;
		for (int j = 0; j < st->ng; j++)
			if (st->g[j].st == G_CLAIMED &&
			    hgetall(ctx, st->g[j].key, (size_t)st->g[j].klen))
				failed = true;
		if (!failed && st->nv &&
		    vel_redis_append_reads(ctx, st->vd, st->nv, st->event,
					   st->now_ms, &st->nvr))
			failed = true;
		nrep += st->nclaimed + st->nvr;
	}
	rep = nrep ? rk_calloc((size_t)nrep, sizeof(*rep)) : NULL;
	if (failed || (nrep && !rep)) {
		failed = true;
		goto out;
	}
	int64_t t0 = rk_now_us();
	for (int i = 0; i < nrep; i++) {
		void *x = NULL;
		if (redisGetReply(ctx, &x) != REDIS_OK || !x) {
			failed = true;
			/* hiredis reports a socket timeout as an I/O error
			 * with EAGAIN */
			timeout = rk_now_us() >= deadline_us ||
				  (ctx->err == REDIS_ERR_IO &&
				   (errno == EAGAIN || errno == EWOULDBLOCK));
			goto out;
		}
		rep[i] = x;
	}
	svc_data_observe(d, rk_now_us() - t0);
	atomic_fetch_add(&d->redis_fetches, 1);
	atomic_fetch_add(&d->redis_fetch_requests, (uint_fast64_t)nin);
	const char *region = rg_conn_region(c);
	int k = 0, np = 0;
	for (int i = 0; i < n; i++) {
		struct fstate *st = sts[i];
		if (!st->redis)
			continue;
		round_parse(d, st, rep + k, ctx, region, &np);
		k += st->nclaimed + st->nvr;
	}
	for (int i = 0; i < np; i++) {
		void *x = NULL;
		if (redisGetReply(ctx, &x) != REDIS_OK || !x) {
			prune_failed = true;  /* values stay good */
			break;
		}
		freeReplyObject(x);
	}
out:
	if (failed || !c) {
		atomic_fetch_add(timeout ? &d->redis_timeouts :
					   &d->redis_errors, 1);
		for (int i = 0; i < n; i++)
			if (sts[i]->redis)
				round_failed(d, sts[i], timeout);
	}
	for (int i = 0; rep && i < nrep; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	rk_free(rep);
	rg_release(d->rg, c, failed || prune_failed);
}

/* Phase 3: waits for keys other requests were fetching, then the
 * request's features and velocity objects. */
static void finish(svc_data *d, struct fstate *st, int64_t deadline_us)
{
	svc_fetch *out = st->out;
	rk_cjson_arena(st->mem);
	for (int i = 0; i < st->ng; i++) {
		struct group *g = &st->g[i];
		if (g->st != G_PENDING)
			continue;
		l1_read(d, g, false, deadline_us, st->mem, true);
		if (g->st == G_PENDING || g->st == G_NONE ||
		    g->st == G_CLAIMED) {
			if (g->st == G_CLAIMED)
				l1_abandon(d->l1, g->key, (size_t)g->klen);
			g->st = G_NONE;
			degrade(out, "features_timeout");
		}
	}
	cJSON *f = st->ng ? cJSON_CreateObject() : NULL;
	for (int i = 0; i < st->ng; i++) {
		struct group *g = &st->g[i];
		svc_group_src *s = &out->groups[out->ngroups++];
		s->group = g->name;
		s->age_ms = g->st == G_HIT || g->st == G_NEG ?
				    g->age_us / 1000 : -1;
		s->source = g->st == G_NONE ? "none" :
			    g->from_redis ? "redis" : "l1";
		if (g->obj && f)
			cJSON_AddItemToObject(f, g->name, g->obj);
	}
	out->features = f;
	if (st->nv)
		out->velocity = vel_to_json(st->vd, st->nv, st->vals, st->has);
	rk_cjson_arena(NULL);
	if (out->degraded)
		atomic_fetch_add(&d->degraded, 1);
}

/* st, or (NULL) a new one in the request's arena; filled from q. */
static struct fstate *fstate_new(const svc_data_req *q, struct fstate *st)
{
	if (!st && !(st = arena_alloc(q->mem, sizeof(*st))))
		return NULL;
	st->set = q->set;
	st->event = q->event;
	st->mem = q->mem;
	st->out = q->out;
	return st;
}

void svc_data_fetch_many(svc_data *d, const svc_data_req *qs, int n)
{
	/* one request (the usual case) keeps its state on the stack: the
	 * arena would need a fresh ~12 KiB chunk for it */
	struct fstate one;
	struct fstate *sts[SVC_FETCH_BATCH];
	int64_t deadline = INT64_MAX;
	int m = 0;
	for (int i = 0; i < n; i++) {
		memset(qs[i].out, 0, sizeof(*qs[i].out));
		if (!d)
			continue;
		struct fstate *st = m < SVC_FETCH_BATCH ?
			fstate_new(&qs[i], n == 1 ? &one : NULL) : NULL;
		if (!st) {   /* out of memory: this one reads nothing */
			degrade(qs[i].out, "features_unavailable");
			continue;
		}
		prepare(d, st);
		sts[m++] = st;
		if (qs[i].deadline_us < deadline)
			deadline = qs[i].deadline_us;
	}
	if (!m)
		return;
	redis_round(d, sts, m, deadline);
	for (int i = 0; i < m; i++)
		if (sts[i]->ng || sts[i]->nv)
			finish(d, sts[i], deadline);
}

void svc_data_fetch(svc_data *d, const rules_set *set, const cJSON *event,
		    int64_t deadline_us, arena *mem, svc_fetch *out)
{
	svc_data_req q = { set, event, deadline_us, mem, out };
	svc_data_fetch_many(d, &q, 1);
}

/* ---- the fetch stage on an event loop ---- */

/* Prunes are best effort: no connect is waited for, and they may take
 * this long before their connection counts as failed. */
#define PRUNE_BUDGET_US 1000000

struct afetch {
	struct fstate st;
	svc_data *d;
	rp_pipe *p;
	const char *region;
	int64_t t0;
	void (*done)(void *ud);
	void *ud;
};

/* Claims given back (the request goes elsewhere). */
static void unclaim(svc_data *d, struct fstate *st)
{
	for (int i = 0; i < st->ng; i++) {
		if (st->g[i].st != G_CLAIMED)
			continue;
		l1_abandon(d->l1, st->g[i].key, (size_t)st->g[i].klen);
		st->g[i].st = G_NONE;
	}
}

static void afetch_failed(struct afetch *a, int err)
{
	atomic_fetch_add(err == RK_ETIMEOUT ? &a->d->redis_timeouts :
					      &a->d->redis_errors, 1);
	round_failed(a->d, &a->st, err == RK_ETIMEOUT);
}

static void afetch_done(void *ud, redisReply **rep, int n, int err)
{
	struct afetch *a = ud;
	svc_data *d = a->d;
	if (err) {
		afetch_failed(a, err);
	} else {
		svc_data_observe(d, rk_now_us() - a->t0);
		atomic_fetch_add(&d->redis_fetches, 1);
		atomic_fetch_add(&d->redis_fetch_requests, 1);
		/* prunes ride on the current connection, if there is one
		 * (a deadline of now: never a connect) */
		const char *region;
		int e, np = 0;
		redisContext *ctx = rp_begin(a->p, rk_now_us(), &region, &e);
		RK_UNUSED(n);
		round_parse(d, &a->st, rep, ctx, a->region, &np);
		if (np)
			rp_commit(a->p, np, rk_now_us() + PRUNE_BUDGET_US, NULL,
				  NULL);
	}
	finish(d, &a->st, 0);
	a->done(a->ud);
}

int svc_data_fetch_start(svc_data *d, rp_pipe *p, const svc_data_req *q,
			 void (*done)(void *ud), void *ud)
{
	memset(q->out, 0, sizeof(*q->out));
	if (!d)
		return SVC_FETCH_DONE;
	struct afetch *a = arena_alloc(q->mem, sizeof(*a));
	if (!a) {
		degrade(q->out, "features_unavailable");
		return SVC_FETCH_DONE;
	}
	struct fstate *st = fstate_new(q, &a->st);
	a->region = NULL;
	a->t0 = 0;
	a->d = d;
	a->p = p;
	a->done = done;
	a->ud = ud;
	prepare(d, st);
	for (int i = 0; i < st->ng; i++) {
		if (st->g[i].st == G_PENDING) {
			unclaim(d, st);
			return SVC_FETCH_WAIT;
		}
	}
	if (!st->redis) {
		if (st->ng || st->nv)
			finish(d, st, 0);
		return SVC_FETCH_DONE;
	}
	int err = 0;
	redisContext *ctx = rp_begin(p, q->deadline_us, &a->region, &err);
	if (!ctx) {
		afetch_failed(a, err);
		finish(d, st, 0);
		return SVC_FETCH_DONE;
	}
	int nrep = 0;
	bool failed = false;
	for (int j = 0; j < st->ng && !failed; j++) {
		if (st->g[j].st != G_CLAIMED)
			continue;
		if (hgetall(ctx, st->g[j].key, (size_t)st->g[j].klen))
			failed = true;
		else
			nrep++;
	}
	st->nvr = 0;
	if (!failed && st->nv &&
	    vel_redis_append_reads(ctx, st->vd, st->nv, st->event,
				   st->now_ms, &st->nvr))
		failed = true;
	nrep += st->nvr;
	/* what went into the buffer gets its replies read either way */
	if (failed || nrep != st->nclaimed + st->nvr) {
		if (nrep)
			rp_commit(p, nrep, q->deadline_us, NULL, NULL);
		afetch_failed(a, RK_EUNAVAIL);
		finish(d, st, 0);
		return SVC_FETCH_DONE;
	}
	if (rp_commit(p, nrep, q->deadline_us, afetch_done, a)) {
		afetch_failed(a, RK_EUNAVAIL);
		finish(d, st, 0);
		return SVC_FETCH_DONE;
	}
	a->t0 = rk_now_us();
	return SVC_FETCH_SENT;
}

/* One event's recordings sent on a loop's pipe are done. */
static void recorded(void *ud, redisReply **rep, int n, int err)
{
	svc_data *d = ud;
	RK_UNUSED(rep);
	RK_UNUSED(n);
	atomic_fetch_add(err ? &d->velocity_errors : &d->velocity_records, 1);
}

/* The recordings of event as a round on p; false when p has no
 * connection at hand (the recorder takes them then). */
static bool record_on_pipe(svc_data *d, rp_pipe *p, const rules_def *def,
			   const cJSON *event, int64_t now_ms)
{
	const char *region;
	int err, n = 0;
	/* a deadline of now: never a connect on the request path */
	redisContext *ctx = rp_begin(p, rk_now_us(), &region, &err);
	if (!ctx)
		return false;
	int rc = vel_redis_append_records(ctx, def->velocity, def->nvelocity,
					  event, now_ms, &n);
	if (n && rp_commit(p, n, rk_now_us() + PRUNE_BUDGET_US,
			   rc ? NULL : recorded, d))
		rc = RK_ENOMEM;
	if (rc)
		atomic_fetch_add(&d->velocity_errors, 1);
	else if (!n)
		atomic_fetch_add(&d->velocity_records, 1);
	return true;
}

void svc_data_record(svc_data *d, const rules_set *set, const cJSON *event,
		     struct rp_pipe *p)
{
	const rules_def *def = rules_set_def(set);
	if (!d || !def->nvelocity)
		return;
	int64_t now_ms = vel_now_ms();
	if (!d->rg) {
		if (vel_store_record(d->vel, def->velocity, def->nvelocity,
				     event, now_ms))
			atomic_fetch_add(&d->velocity_errors, 1);
		else
			atomic_fetch_add(&d->velocity_records, 1);
		return;
	}
	/* on a loop: with the next reads, in the same write; else off the
	 * request path: the recorder batches them (recorder.h) */
	if (p && record_on_pipe(d, p, def, event, now_ms))
		return;
	svc_recorder_push(d->rec, (rules_set *)set, event, now_ms);
}
