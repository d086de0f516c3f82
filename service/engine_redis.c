/*
 * engine_redis.c - the Redis half of the served rule sets. Without a
 * SQLite file the engine loads every published scenario from Redis and
 * follows notices on SVC_RULES_CHANNEL; a SQLite engine publishes what
 * it serves there. Both run on engine.c's reload thread, under
 * reload_mu. Neighbours: engine_int.h (the engine's struct), engine.c
 * (snapshots, install), rules_redis.h (encoding, fetch, publish), data.h.
 */
#include "engine_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../cache/region.h"
#include "../common/rk.h"
#include "../store/store.h"
#include "auth.h"
#include "data.h"
#include "log.h"
#include "rules_redis.h"

/* A SQLite engine rewrites the Redis copy this often even unchanged (a
 * flushed or replaced Redis gets it back). */
#define REPUBLISH_US (30LL * 1000000)

/* A Redis value that did not compile, not tried again until it
 * changes. */
struct refused {
	char *name;
	uint64_t hash;
};

/* ---- Redis: loading (no SQLite file) ---- */

static struct refused *refused_find(svc_engine *e, const char *name)
{
	for (int i = 0; i < e->nrefused; i++)
		if (!strcmp(e->refused[i].name, name))
			return &e->refused[i];
	return NULL;
}

/* Remembers that name's value with hash h did not compile (best
 * effort: out of memory only means it is tried again next time). */
static void refused_note(svc_engine *e, const char *name, uint64_t h)
{
	struct refused *r = refused_find(e, name);
	if (r) {
		r->hash = h;
		return;
	}
	struct refused *v = rk_realloc(e->refused, ((size_t)e->nrefused + 1) *
						       sizeof(*v));
	if (!v)
		return;
	e->refused = v;
	if ((v[e->nrefused].name = rk_strdup(name)))
		v[e->nrefused++].hash = h;
}

static void refused_forget(svc_engine *e, const char *name)
{
	struct refused *r = refused_find(e, name);
	if (!r)
		return;
	rk_free(r->name);
	*r = e->refused[--e->nrefused];
}

/* Adds copies of every list of src to dst (later ones replace). */
static int lists_merge(rules_lists *dst, const rules_lists *src)
{
	for (int i = 0; i < rules_lists_count(src); i++) {
		const char *name = rules_lists_name(src, i);
		const strset *from = rules_lists_get(src, name);
		strset *to = strset_new();
		size_t pos = 0, len;
		const char *str;
		if (!to)
			return RK_ENOMEM;
		while (from && strset_next(from, &pos, &str, &len))
			if (strset_add(to, str, len)) {
				strset_free(to);
				return RK_ENOMEM;
			}
		int rc = rules_lists_put(dst, name, to);
		if (rc)
			return rc;
	}
	return 0;
}

/* Decodes and compiles one Redis value; NULL with the reasons in d. */
static svc_scn *redis_scn(const char *name, const char *value, size_t len,
			  uint64_t h, int64_t *version, rk_diags *d)
{
	rules_def *def = NULL;
	rules_lists *lists = NULL;
	rules_set *set = NULL;
	svc_scn *sc = NULL;
	if (svc_rr_decode(value, len, name, &def, version, d))
		return NULL;
	if (!(lists = rules_lists_new()) || rules_lists_put_def(lists, def)) {
		rk_diags_add(d, NULL, 0, 0, "out of memory");
		goto out;
	}
	if (!(set = rules_compile(def, lists, d)))
		goto out;
	if (!(sc = eng__scn_new(name, *version, set, eng__lists_fp(lists)))) {
		rk_diags_add(d, NULL, 0, 0, "out of memory");
		goto out;
	}
	sc->lists = lists;
	sc->src_hash = h;
	lists = NULL;
out:
	rules_lists_free(lists);
	rules_def_free(def);
	return sc;
}

static bool read_has(const svc_rr_read *rd, const char *name)
{
	for (int i = 0; i < rd->n; i++)
		if (!strcmp(rd->names[i], name))
			return true;
	return false;
}

/* The key table of rd (the old one while riskd:keys is unchanged or
 * malformed; an empty one when there is none). NULL: out of memory. */
static svc_keys *redis_keys(svc_engine *e, const svc_rr_read *rd,
			    const svc_snapshot *old)
{
	char err[256];
	if (!rd->keys) {
		e->keys_hash = 0;
		return svc_keys_new(NULL, 0, err, sizeof(err));
	}
	uint64_t h = rk_hash(rd->keys, rd->keyslen);
	if (h == e->keys_hash && old->keys)
		return svc_keys_ref(old->keys);
	svc_keys *k = svc_rr_keys_decode(rd->keys, rd->keyslen, err,
					 sizeof(err));
	if (k) {
		e->keys_hash = h;
		return k;
	}
	if (h != e->keys_hash)
		eng__log("error", "API keys in Redis refused", NULL, 0, err);
	e->keys_hash = h;
	return old->keys ? svc_keys_ref(old->keys) :
			   svc_keys_new(NULL, 0, err, sizeof(err));
}

/* The Redis reload; contract in engine_int.h. */
int eng__redis_reload(svc_engine *e, const char *one, cJSON *report)
{
	svc_rr_read rd;
	int rc = e->rg ? svc_rr_fetch(e->rg, one, rk_now_us() +
					  SVC_RULES_TIMEOUT_MS * 1000LL, &rd) :
			 RK_EUNAVAIL;
	if (rc) {
		pthread_mutex_lock(&e->mu);
		e->stats.reloads_failed++;
		pthread_mutex_unlock(&e->mu);
		eng__log("error", "reload from Redis failed", one, 0,
			 rk_strerror(rc));
		return rc;
	}
	svc_snapshot *old = svc_engine_acquire(e);
	svc_snapshot *s = rk_calloc(1, sizeof(*s));
	if (!s || !(s->scn = rk_calloc((size_t)(old->nscn + rd.n) + 1,
				       sizeof(*s->scn))) ||
	    !(s->lists = rules_lists_new()) ||
	    !(s->keys = redis_keys(e, &rd, old))) {
		rc = RK_ENOMEM;
		goto out_free;
	}
	atomic_init(&s->refs, 1);
	s->nkeys = svc_keys_active(s->keys);
	cJSON *arr = report ? cJSON_AddArrayToObject(report, "scenarios") :
			      NULL;
	bool changed = !svc_keys_equal(old->keys, s->keys);
	int refused = 0;
	for (int i = 0; i < old->nscn; i++) {
		svc_scn *sc = old->scn[i];
		if (read_has(&rd, sc->name))
			continue;  /* decided below */
		if (rd.have_index && (!one || !strcmp(one, sc->name))) {
			changed = true;
			eng__report_scn(arr, sc->name, 0, "removed", NULL);
			eng__log("info", "rule set removed", sc->name, 0,
				 NULL);
			continue;
		}
		s->scn[s->nscn++] = eng__scn_ref(sc);
	}
	for (int i = 0; i < rd.n; i++) {
		const char *name = rd.names[i];
		svc_scn *prev = svc_snapshot_find(old, name);
		uint64_t h = rd.values[i] ? rk_hash(rd.values[i], rd.lens[i]) :
					    0;
		struct refused *r = refused_find(e, name);
		if (!rd.values[i] || (prev && prev->src_hash == h) ||
		    (r && r->hash == h)) {
			/* missing key, same value, or refused already */
			if (prev)
				s->scn[s->nscn++] = eng__scn_ref(prev);
			bool same = !rd.values[i] ||
				    (prev && prev->src_hash == h);
			if (prev || r)
				eng__report_scn(arr, name,
						prev ? prev->version : 0,
						same ? "unchanged" : "refused",
						NULL);
			continue;
		}
		rk_diags d;
		rk_diags_init(&d);
		int64_t version = 0;
		svc_scn *sc = redis_scn(name, rd.values[i], rd.lens[i], h,
					&version, &d);
		if (sc) {
			changed = true;
			s->scn[s->nscn++] = sc;
			refused_forget(e, name);
			eng__report_scn(arr, name, version, "loaded", NULL);
			eng__log("info", "rule set loaded from Redis", name,
				 version, NULL);
		} else {
			refused++;
			refused_note(e, name, h);
			char first[512] = "";
			if (d.n)
				rk_diag_format(&d.v[0], NULL, first,
					       sizeof(first));
			eng__log("error", "rule set refused", name, version,
				 first);
			eng__report_scn(arr, name, version, "refused", &d);
			if (prev)
				s->scn[s->nscn++] = eng__scn_ref(prev);
		}
		rk_diags_cleanup(&d);
	}
	for (int i = 0; i < s->nscn; i++)
		if (lists_merge(s->lists, s->scn[i]->lists)) {
			rc = RK_ENOMEM;
			goto out_free;
		}
	eng__install(e, s, changed, refused, report);
	svc_snapshot_release(old);
	svc_rr_read_cleanup(&rd);
	return 0;
out_free:
	if (s)
		eng__snapshot_free(s);
	svc_snapshot_release(old);
	svc_rr_read_cleanup(&rd);
	pthread_mutex_lock(&e->mu);
	e->stats.reloads_failed++;
	pthread_mutex_unlock(&e->mu);
	eng__log("error", "reload from Redis failed", one, 0, rk_strerror(rc));
	return rc;
}

/* A message on SVC_RULES_CHANNEL (subscriber thread): the scenario it
 * names is re-read by the reload thread. */
static void on_rules_note(void *ud, const char *msg, size_t len)
{
	svc_engine *e = ud;
	pthread_mutex_lock(&e->mu);
	int i;
	for (i = 0; i < e->nnotes; i++)
		if (strlen(e->notes[i]) == len &&
		    !memcmp(e->notes[i], msg, len))
			break;
	if (i == e->nnotes) {
		if (!len || len >= sizeof(e->notes[0]) ||
		    memchr(msg, '\0', len) || e->nnotes == MAX_NOTES) {
			e->notes_all = true;
		} else {
			memcpy(e->notes[e->nnotes], msg, len);
			e->notes[e->nnotes++][len] = '\0';
		}
	}
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* ---- Redis: publishing (SQLite engine) ---- */

/* The riskd:keys value of the store's keys; NULL with rc set. */
static char *keys_value(svc_engine *e, int *rc)
{
	store_key *k = NULL;
	int n = 0;
	if ((*rc = store_key_list(e->st, &k, &n)))
		return NULL;
	char *v = svc_rr_keys_encode(k, n);
	store_key_list_free(k, n);
	if (!v)
		*rc = RK_ENOMEM;
	return v;
}

/* The publish step of a SQLite engine; contract in engine_int.h. */
void eng__maybe_publish(svc_engine *e)
{
	if (!e->rg || e->redis_src)
		return;
	uint64_t gen = svc_engine_generation(e);
	const char *region = rg_active_name(e->rg);
	int64_t now = rk_now_us();
	bool news = gen != e->pub_gen || strcmp(region, e->pub_region);
	if (e->pub_ok ? !news && now - e->pub_at_us < REPUBLISH_US :
			e->pub_at_us && now - e->pub_at_us < 1000000) {
		/* Up to date, unless Redis lost the keys (restarted without
		 * persistence, flushed): one EXISTS per tick. */
		if (!e->pub_ok || !e->stats.nscenarios ||
		    svc_rr_index_exists(e->rg, now + SVC_RULES_TIMEOUT_MS *
							 1000LL) != 0)
			return;
		eng__log("warn",
			 "rule sets missing in Redis: publishing again", NULL,
			 0, NULL);
		news = true;
	}
	svc_snapshot *snap = svc_engine_acquire(e);
	svc_rr_item *items = rk_calloc((size_t)snap->nscn + 1,
				       sizeof(*items));
	char err[512] = "out of memory";
	int rc = items ? 0 : RK_ENOMEM, n = 0;
	for (; !rc && n < snap->nscn; n++) {
		svc_scn *sc = snap->scn[n];
		items[n].name = sc->name;
		items[n].value = svc_rr_encode(rules_set_def(sc->set),
					       sc->version, snap->lists);
		if (!items[n].value)
			rc = RK_ENOMEM;
	}
	char *keys = rc ? NULL : keys_value(e, &rc);
	if (rc && rc != RK_ENOMEM)
		snprintf(err, sizeof(err), "API keys: %s", store_errmsg(e->st));
	if (!rc)
		rc = svc_rr_publish(e->rg, items, n, keys, now +
				    SVC_RULES_TIMEOUT_MS * 1000LL, err,
				    sizeof(err));
	for (int i = 0; i < n; i++)
		rk_free((char *)items[i].value);
	rk_free(items);
	rk_free(keys);
	svc_snapshot_release(snap);
	e->pub_at_us = now;
	bool was_ok = e->pub_ok;
	e->pub_ok = !rc;
	pthread_mutex_lock(&e->mu);
	if (rc)
		e->stats.publishes_failed++;
	else
		e->stats.publishes_ok++;
	pthread_mutex_unlock(&e->mu);
	if (rc) {
		if (was_ok || news)
			eng__log("error",
				 "publishing rule sets to Redis failed", NULL,
				 0, err);
		return;
	}
	if (news || !was_ok) {
		log_rec l;
		if (log_begin(&l, LOG_LEVEL_INFO,
			      "rule sets published to Redis")) {
			log_int(&l, "scenarios", n);
			log_int(&l, "generation", (int64_t)gen);
			log_str(&l, "region", region);
			log_end(&l);
		}
	}
	e->pub_gen = gen;
	snprintf(e->pub_region, sizeof(e->pub_region), "%s", region);
}

void svc_engine_set_data(svc_engine *e, struct svc_data *d)
{
	e->rg = svc_data_rg(d);
	if (!e->rg || !e->redis_src)
		return;
	svc_data_on_rules(d, on_rules_note, e);
	pthread_mutex_lock(&e->reload_mu);
	eng__redis_reload(e, NULL, NULL);
	pthread_mutex_unlock(&e->reload_mu);
}

void eng__redis_cleanup(svc_engine *e)
{
	for (int i = 0; i < e->nrefused; i++)
		rk_free(e->refused[i].name);
	rk_free(e->refused);
}
