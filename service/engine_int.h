/*
 * engine_int.h - private to the two files of the served rule sets:
 * engine.c (SQLite source, snapshots, the reload thread, life cycle) and
 * engine_redis.c (the Redis half: loading and following rule sets
 * without the SQLite file, publishing what a SQLite engine serves).
 * Everyone else uses engine.h.
 */
#ifndef SVC_ENGINE_INT_H
#define SVC_ENGINE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "../cache/region.h"
#include "../common/rk.h"
#include "../store/store.h"
#include "engine.h"

/* Notices remembered between two runs of the reload thread; more make
 * the next run a full re-read. */
#define MAX_NOTES 16

struct waiter;             /* engine.c: a caller of svc_engine_reload */
struct refused;            /* engine_redis.c: a Redis value refused */

struct svc_engine {
	char db[1024];
	int64_t reload_ms;
	store *st;                  /* reload thread (under reload_mu) */
	pthread_mutex_t reload_mu;  /* one reload at a time */
	int64_t data_version;
	bool have_dv;

	pthread_mutex_t mu;         /* cur, waiters, flags, stats */
	pthread_cond_t cv;
	svc_snapshot *cur;
	atomic_uint_fast64_t gen;
	struct waiter *waiters;
	bool force, stopping, started;
	pthread_t tid;
	svc_engine_stats stats;

	/* Redis (svc_engine_set_data); the rest is the reload thread's */
	bool redis_src;             /* no SQLite file: rule sets from Redis */
	struct rg_t *rg;            /* NULL without Redis */
	char notes[MAX_NOTES][72];  /* scenarios named by notices (mu) */
	int nnotes;                 /* (mu) */
	bool notes_all;             /* (mu) a notice we could not keep */
	uint64_t pub_gen;           /* generation last published */
	bool pub_ok;                /* the last publish worked */
	int64_t pub_at_us;          /* last publish attempt */
	char pub_region[RG_NAME_MAX];
	struct refused *refused;
	int nrefused;
	uint64_t keys_hash;         /* of the riskd:keys value in use */
};

/* ---- engine.c ---- */

/* One log line at level ("info", "warn", "error"); scenario, version
 * and error are left out when NULL or 0. */
void eng__log(const char *level, const char *msg, const char *scenario,
	      int64_t version, const char *error);

svc_scn *eng__scn_ref(svc_scn *sc);

/* A scenario with one reference and zeroed counters; takes ownership of
 * set (freed on failure). NULL: out of memory. */
svc_scn *eng__scn_new(const char *name, int64_t version, rules_set *set,
		      uint64_t fp);

/* Frees s and drops its references (s->refs is not looked at). */
void eng__snapshot_free(svc_snapshot *s);

/* Order-independent fingerprint of every list's name and items. */
uint64_t eng__lists_fp(const rules_lists *l);

/* Appends {"name", "version", "status", "errors"} to arr (NULL: no-op). */
void eng__report_scn(cJSON *arr, const char *name, int64_t version,
		     const char *status, const rk_diags *d);

/*
 * Ends a reload that read its source: sorts s, makes it current if
 * changed (else frees it: takes s), counts, adds the generation to
 * report.
 */
void eng__install(svc_engine *e, svc_snapshot *s, bool changed,
		  int refused, cJSON *report);

/* ---- engine_redis.c ---- */

/*
 * One reload from Redis: every published scenario (one == NULL: a full
 * re-read; a scenario gone from the index is removed, while a missing
 * index keeps what is served) or only `one` (a notice). A value seen
 * before is not compiled again, one that does not compile is refused and
 * the old version keeps serving. Caller holds reload_mu.
 */
int eng__redis_reload(svc_engine *e, const char *one, cJSON *report);

/*
 * Writes every served scenario to Redis when something changed since
 * the last publish (generation, active region), the last one failed (at
 * most once a second) or REPUBLISH_US passed. Does nothing without
 * Redis or on a Redis engine. Bounded by SVC_RULES_TIMEOUT_MS; failures
 * are logged and counted, never returned. Caller holds reload_mu (the
 * store handle).
 */
void eng__maybe_publish(svc_engine *e);

/* Frees what the Redis half keeps on e (the refused values). */
void eng__redis_cleanup(svc_engine *e);

#endif
