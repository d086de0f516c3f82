/*
 * engine.c - loading, compiling and swapping the served rule sets. The
 * reload thread owns a store handle; each reload reads the lists, the
 * scenarios and the keys, recompiles only what changed (a new active
 * version, or any list change), and publishes a new snapshot under a
 * mutex (readers take a reference; the last release frees). The same
 * thread runs the Redis half (engine_redis.c): publishing, or loading
 * without a SQLite file. Neighbours: engine.h (contract), engine_int.h
 * (shared with engine_redis.c), store/store.h, rules/rules.h,
 * handlers_admin.c.
 */
#include "engine_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../common/rk.h"
#include "../store/store.h"
#include "auth.h"
#include "log.h"

struct waiter {
	svc_reload_done done;
	void *arg;
	struct waiter *next;
};

/* ---- logging ---- */

void eng__log(const char *level, const char *msg, const char *scenario,
	      int64_t version, const char *error)
{
	enum log_level lv = LOG_LEVEL_INFO;
	log_parse_level(level, &lv);
	log_rec l;
	if (!log_begin(&l, lv, msg))
		return;
	if (scenario)
		log_str(&l, "scenario", scenario);
	if (version)
		log_int(&l, "version", version);
	if (error)
		log_str(&l, "error", error);
	log_end(&l);
}

/* ---- scenarios and snapshots ---- */

svc_scn *eng__scn_ref(svc_scn *sc)
{
	atomic_fetch_add_explicit(&sc->refs, 1, memory_order_relaxed);
	return sc;
}

static void scn_release(svc_scn *sc)
{
	if (!sc || atomic_fetch_sub_explicit(&sc->refs, 1,
					     memory_order_acq_rel) != 1)
		return;
	rules_set_free(sc->set);
	rules_lists_free(sc->lists);
	rk_free(sc->name);
	rk_free(sc->hits);
	rk_free(sc->errors);
	rk_free(sc);
}

/* Takes ownership of set. */
svc_scn *eng__scn_new(const char *name, int64_t version, rules_set *set,
		      uint64_t fp)
{
	svc_scn *sc = rk_calloc(1, sizeof(*sc));
	int n = rules_set_def(set)->nrules;
	if (!sc)
		goto out_free_set;
	atomic_init(&sc->refs, 1);
	sc->name = rk_strdup(name);
	sc->hits = rk_calloc((size_t)n + 1, sizeof(*sc->hits));
	sc->errors = rk_calloc((size_t)n + 1, sizeof(*sc->errors));
	if (!sc->name || !sc->hits || !sc->errors) {
		rk_free(sc->name);
		rk_free(sc->hits);
		rk_free(sc->errors);
		rk_free(sc);
		goto out_free_set;
	}
	for (int i = 0; i <= n; i++) {
		atomic_init(&sc->hits[i], 0);
		atomic_init(&sc->errors[i], 0);
	}
	sc->version = version;
	sc->set = set;
	sc->lists_fp = fp;
	sc->loaded_at = (int64_t)time(NULL);
	rules_set_set_version(set, version);
	return sc;
out_free_set:
	rules_set_free(set);
	return NULL;
}

void svc_scn_count(svc_scn *sc, const rules_result *r)
{
	for (int i = 0; i < r->nhits; i++)
		atomic_fetch_add_explicit(&sc->hits[r->hits[i]], 1,
					  memory_order_relaxed);
	for (int i = 0; i < r->nshadow; i++)
		atomic_fetch_add_explicit(&sc->hits[r->shadow[i]], 1,
					  memory_order_relaxed);
	for (int i = 0; i < r->nerrors; i++)
		atomic_fetch_add_explicit(&sc->errors[r->errors[i]], 1,
					  memory_order_relaxed);
}

void eng__snapshot_free(svc_snapshot *s)
{
	for (int i = 0; i < s->nscn; i++)
		scn_release(s->scn[i]);
	rk_free(s->scn);
	rules_lists_free(s->lists);
	svc_keys_release(s->keys);
	rk_free(s);
}

svc_snapshot *svc_snapshot_ref(svc_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void svc_snapshot_release(svc_snapshot *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1,
					   memory_order_acq_rel) == 1)
		eng__snapshot_free(s);
}

svc_scn *svc_snapshot_find(const svc_snapshot *s, const char *name)
{
	int lo = 0, hi = s->nscn - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(name, s->scn[mid]->name);
		if (!c)
			return s->scn[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

svc_snapshot *svc_engine_acquire(svc_engine *e)
{
	pthread_mutex_lock(&e->mu);
	svc_snapshot *s = svc_snapshot_ref(e->cur);
	pthread_mutex_unlock(&e->mu);
	return s;
}

uint64_t svc_engine_generation(svc_engine *e)
{
	return atomic_load_explicit(&e->gen, memory_order_acquire);
}

/* ---- one reload ---- */

/* Order-independent fingerprint of every list's name and items. */
uint64_t eng__lists_fp(const rules_lists *l)
{
	uint64_t fp = 0;
	for (int i = 0; i < rules_lists_count(l); i++) {
		const char *name = rules_lists_name(l, i);
		const strset *set = rules_lists_get(l, name);
		uint64_t acc = 0;
		size_t pos = 0, len;
		const char *s;
		while (set && strset_next(set, &pos, &s, &len))
			acc += rk_hash(s, len) * 0x9e3779b97f4a7c15ULL + 1;
		fp += (rk_hash(name, strlen(name)) ^ acc) *
			      0x100000001b3ULL +
		      (set ? strset_count(set) : 0);
	}
	return fp;
}

void eng__report_scn(cJSON *arr, const char *name, int64_t version,
		     const char *status, const rk_diags *d)
{
	cJSON *o = arr ? cJSON_CreateObject() : NULL;
	if (!o)
		return;
	cJSON_AddStringToObject(o, "name", name);
	if (version)
		cJSON_AddNumberToObject(o, "version", (double)version);
	else
		cJSON_AddNullToObject(o, "version");
	cJSON_AddStringToObject(o, "status", status);
	if (d && d->n) {
		cJSON *errs = cJSON_AddArrayToObject(o, "errors");
		for (int i = 0; errs && i < d->n && i < 20; i++) {
			char buf[512];
			rk_diag_format(&d->v[i], NULL, buf, sizeof(buf));
			cJSON_AddItemToArray(errs, cJSON_CreateString(buf));
		}
	}
	cJSON_AddItemToArray(arr, o);
}

/*
 * Loads and compiles scenario `name`'s active version. Returns the new
 * scenario, or NULL with the reason in d (store errors included).
 */
static svc_scn *load_scn(svc_engine *e, const char *name,
			 const rules_lists *lists, uint64_t fp,
			 int64_t *version, rk_diags *d)
{
	rules_def *def = NULL;
	int rc = store_load_def(e->st, name, 0, &def, version);
	if (rc) {
		rk_diags_add(d, NULL, 0, 0, "store: %s", store_errmsg(e->st));
		return NULL;
	}
	rules_set *set = rules_compile(def, lists, d);
	rules_def_free(def);
	if (!set)
		return NULL;
	svc_scn *sc = eng__scn_new(name, *version, set, fp);
	if (!sc)
		rk_diags_add(d, NULL, 0, 0, "out of memory");
	return sc;
}

static int cmp_scn(const void *a, const void *b)
{
	return strcmp((*(svc_scn *const *)a)->name,
		      (*(svc_scn *const *)b)->name);
}

/*
 * Reads the store and swaps in a new snapshot if anything changed. With
 * !force, does nothing while PRAGMA data_version is unchanged. Fills
 * report (may be NULL). Caller holds reload_mu.
 */
static int reload_locked(svc_engine *e, bool force, cJSON *report)
{
	int64_t dv;
	int rc = store_data_version(e->st, &dv);
	if (rc)
		goto out_fail;
	if (!force && e->have_dv && dv == e->data_version)
		return 0;

	rules_lists *lists = NULL;
	store_scenario *sv = NULL;
	int nsv = 0;
	svc_keys *keys = NULL;
	char kerr[256];
	if ((rc = store_load_lists(e->st, &lists)) ||
	    (rc = store_scenarios(e->st, &sv, &nsv)) ||
	    (!(keys = svc_keys_load(e->st, kerr, sizeof(kerr))) &&
	     (rc = RK_EIO))) {
		rules_lists_free(lists);
		store_scenarios_free(sv, nsv);
		goto out_fail;
	}
	uint64_t fp = eng__lists_fp(lists);
	svc_snapshot *old = svc_engine_acquire(e);
	svc_snapshot *s = rk_calloc(1, sizeof(*s));
	cJSON *arr = report ? cJSON_AddArrayToObject(report, "scenarios") :
			      NULL;
	bool changed = !svc_keys_equal(old->keys, keys);
	int refused = 0;
	if (!s || !(s->scn = rk_calloc((size_t)nsv + 1, sizeof(*s->scn)))) {
		rk_free(s);
		svc_snapshot_release(old);
		svc_keys_release(keys);
		rules_lists_free(lists);
		store_scenarios_free(sv, nsv);
		rc = RK_ENOMEM;
		goto out_fail;
	}
	atomic_init(&s->refs, 1);
	s->lists = lists;
	s->keys = keys;
	s->nkeys = svc_keys_active(keys);
	for (int i = 0; i < nsv; i++) {
		svc_scn *prev = svc_snapshot_find(old, sv[i].name);
		if (!sv[i].active) {
			if (prev) {
				changed = true;
				eng__report_scn(arr, sv[i].name, 0,
						"removed", NULL);
			}
			continue;
		}
		if (prev && prev->version == sv[i].active &&
		    prev->lists_fp == fp) {
			s->scn[s->nscn++] = eng__scn_ref(prev);
			eng__report_scn(arr, sv[i].name, prev->version,
					"unchanged", NULL);
			continue;
		}
		rk_diags d;
		rk_diags_init(&d);
		int64_t version = sv[i].active;
		svc_scn *sc = load_scn(e, sv[i].name, lists, fp, &version, &d);
		if (sc) {
			changed = true;
			s->scn[s->nscn++] = sc;
			eng__report_scn(arr, sv[i].name, version, "loaded",
					NULL);
			eng__log("info", "rule set loaded", sv[i].name,
				 version, NULL);
		} else {
			refused++;
			char first[512] = "";
			if (d.n)
				rk_diag_format(&d.v[0], NULL, first,
					       sizeof(first));
			eng__log("error", "rule set refused", sv[i].name,
				 version, first);
			eng__report_scn(arr, sv[i].name, version, "refused",
					&d);
			if (prev)
				s->scn[s->nscn++] = eng__scn_ref(prev);
		}
		rk_diags_cleanup(&d);
	}
	for (int i = 0; i < old->nscn; i++) {
		int j;
		for (j = 0; j < nsv; j++)
			if (!strcmp(sv[j].name, old->scn[i]->name))
				break;
		if (j == nsv) {
			changed = true;
			eng__report_scn(arr, old->scn[i]->name, 0, "removed",
					NULL);
		}
	}
	store_scenarios_free(sv, nsv);
	if (!changed && old->lists && eng__lists_fp(old->lists) != fp)
		changed = true;
	e->data_version = dv;
	e->have_dv = true;
	eng__install(e, s, changed, refused, report);
	svc_snapshot_release(old);
	return 0;
out_fail:
	pthread_mutex_lock(&e->mu);
	e->stats.reloads_failed++;
	pthread_mutex_unlock(&e->mu);
	eng__log("error", "reload failed", NULL, 0, store_errmsg(e->st));
	return rc;
}

/*
 * Ends a reload that read its source: sorts s, makes it current if
 * changed (else frees it: takes s), counts, adds the generation to
 * report.
 */
void eng__install(svc_engine *e, svc_snapshot *s, bool changed,
		  int refused, cJSON *report)
{
	qsort(s->scn, (size_t)s->nscn, sizeof(*s->scn), cmp_scn);
	pthread_mutex_lock(&e->mu);
	e->stats.reloads_ok++;
	e->stats.compile_refused += (uint64_t)refused;
	e->stats.last_reload = (int64_t)time(NULL);
	if (changed) {
		s->generation = e->cur->generation + 1;
		svc_snapshot *prev_cur = e->cur;
		e->cur = s;
		s = NULL;
		atomic_store_explicit(&e->gen, e->cur->generation,
				      memory_order_release);
		svc_snapshot_release(prev_cur);
	}
	e->stats.generation = e->cur->generation;
	e->stats.nscenarios = e->cur->nscn;
	pthread_mutex_unlock(&e->mu);
	if (report)
		cJSON_AddNumberToObject(report, "generation",
					(double)svc_engine_generation(e));
	if (s)
		eng__snapshot_free(s);
}

/* One reload by whichever source the engine has. Caller holds
 * reload_mu. */
static int reload_any(svc_engine *e, bool force, cJSON *report)
{
	if (e->redis_src)
		return eng__redis_reload(e, NULL, report);
	int rc = reload_locked(e, force, report);
	eng__maybe_publish(e);
	return rc;
}

const char *svc_engine_source(const svc_engine *e)
{
	return e->redis_src ? "redis" : "sqlite";
}

int svc_engine_reload_now(svc_engine *e)
{
	pthread_mutex_lock(&e->reload_mu);
	int rc = e->redis_src ? eng__redis_reload(e, NULL, NULL) :
				reload_locked(e, true, NULL);
	pthread_mutex_unlock(&e->reload_mu);
	return rc;
}

/* ---- the reload thread ---- */

static void *reload_main(void *arg)
{
	svc_engine *e = arg;
	pthread_mutex_lock(&e->reload_mu);
	eng__maybe_publish(e);
	pthread_mutex_unlock(&e->reload_mu);
	pthread_mutex_lock(&e->mu);
	while (!e->stopping) {
		if (!e->force && !e->waiters && !e->nnotes && !e->notes_all) {
			if (e->reload_ms > 0) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				int64_t ns = ts.tv_nsec +
					     e->reload_ms * 1000000LL;
				ts.tv_sec += ns / 1000000000LL;
				ts.tv_nsec = ns % 1000000000LL;
				pthread_cond_timedwait(&e->cv, &e->mu, &ts);
			} else {
				pthread_cond_wait(&e->cv, &e->mu);
			}
			if (e->stopping)
				break;
		}
		bool force = e->force || e->waiters;
		/* Only notices: re-read the scenarios they name; anything
		 * else (a tick, a request): everything. */
		bool full = force || e->notes_all || !e->nnotes;
		char notes[MAX_NOTES][72];
		int nnotes = full ? 0 : e->nnotes;
		memcpy(notes, e->notes, sizeof(notes));
		e->nnotes = 0;
		e->notes_all = false;
		struct waiter *w = e->waiters;
		e->waiters = NULL;
		e->force = false;
		pthread_mutex_unlock(&e->mu);

		cJSON *report = w ? cJSON_CreateObject() : NULL;
		int rc = 0;
		pthread_mutex_lock(&e->reload_mu);
		if (full)
			rc = reload_any(e, force, report);
		for (int i = 0; i < nnotes; i++)
			eng__redis_reload(e, notes[i], NULL);
		pthread_mutex_unlock(&e->reload_mu);
		while (w) {
			struct waiter *next = w->next;
			w->done(w->arg, rc, report);
			rk_free(w);
			w = next;
		}
		cJSON_Delete(report);
		pthread_mutex_lock(&e->mu);
	}
	/* Waiters that arrived while stopping are answered with an error. */
	struct waiter *w = e->waiters;
	e->waiters = NULL;
	pthread_mutex_unlock(&e->mu);
	while (w) {
		struct waiter *next = w->next;
		w->done(w->arg, RK_ESTATE, NULL);
		rk_free(w);
		w = next;
	}
	return NULL;
}

int svc_engine_reload(svc_engine *e, svc_reload_done done, void *arg)
{
	struct waiter *w = NULL;
	if (done) {
		w = rk_malloc(sizeof(*w));
		if (!w)
			return RK_ENOMEM;
		w->done = done;
		w->arg = arg;
	}
	pthread_mutex_lock(&e->mu);
	if (e->stopping || !e->started) {
		pthread_mutex_unlock(&e->mu);
		rk_free(w);
		return RK_ESTATE;
	}
	if (w) {
		w->next = e->waiters;
		e->waiters = w;
	}
	e->force = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

void svc_engine_get_stats(svc_engine *e, svc_engine_stats *st)
{
	pthread_mutex_lock(&e->mu);
	*st = e->stats;
	pthread_mutex_unlock(&e->mu);
}

/* ---- life cycle ---- */

svc_engine *svc_engine_new(const svc_config *c, char *err, size_t errlen)
{
	svc_engine *e = rk_calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(e->db, sizeof(e->db), "%s", c->db);
	e->reload_ms = c->reload_ms;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->reload_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	e->cur = rk_calloc(1, sizeof(*e->cur));
	if (!e->cur) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	atomic_init(&e->cur->refs, 1);
	atomic_init(&e->gen, 0);
	e->stats.source = "sqlite";
	struct stat sb;
	if (c->nregions > 0 && stat(c->db, &sb) != 0 && errno == ENOENT) {
		e->redis_src = true;
		e->stats.source = "redis";
		if (!(e->cur->keys = svc_keys_new(NULL, 0, err, errlen)))
			goto out_free;
		eng__log("info", "no SQLite store: rule sets come from Redis",
			 NULL, 0, NULL);
		return e;
	}
	e->st = store_open(c->db, false, err, errlen);
	if (!e->st)
		goto out_free;
	int rc = svc_engine_reload_now(e);
	if (rc) {
		snprintf(err, errlen, "%s: %s", c->db, store_errmsg(e->st));
		goto out_free;
	}
	return e;
out_free:
	svc_engine_free(e);
	return NULL;
}

int svc_engine_start(svc_engine *e)
{
	pthread_mutex_lock(&e->mu);
	int rc = pthread_create(&e->tid, NULL, reload_main, e);
	if (!rc) {
		pthread_setname_np(e->tid, "riskd-reload");
		e->started = true;
	}
	pthread_mutex_unlock(&e->mu);
	return rc ? RK_ESTATE : 0;
}

void svc_engine_stop(svc_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	bool join = e->started;
	e->started = false;
	e->stopping = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (join)
		pthread_join(e->tid, NULL);
}

void svc_engine_free(svc_engine *e)
{
	if (!e)
		return;
	svc_engine_stop(e);
	store_close(e->st);
	svc_snapshot_release(e->cur);
	eng__redis_cleanup(e);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->reload_mu);
	pthread_mutex_destroy(&e->mu);
	rk_free(e);
}
