/*
 * engine.h - the rule sets riskd serves. A snapshot holds, per scenario,
 * the compiled active version (immutable, reference-counted) with its
 * per-rule hit and error counters, plus the lists. A reload thread polls
 * the store (PRAGMA data_version), compiles off the request path and
 * swaps the snapshot atomically; a request keeps the snapshot it started
 * with. A version that fails to compile is refused and the old one keeps
 * serving. Without a SQLite file but with Redis regions, the rule sets
 * come from Redis instead (rules_redis.h): loaded at start, re-read on
 * every notice on SVC_RULES_CHANNEL and every reload_ms; a SQLite engine
 * with Redis publishes what it serves there after every swap.
 * Neighbours: store/store.h and rules_redis.h (sources), data.h (the
 * regions), handlers_*.c (readers).
 */
#ifndef SVC_ENGINE_H
#define SVC_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "config.h"

struct cJSON;

/* One scenario's active version. Shared between snapshots while its
 * version and the lists it was compiled with stay the same. */
typedef struct svc_scn {
	atomic_int refs;
	char *name;
	int64_t version;
	rules_set *set;
	uint64_t lists_fp;          /* lists fingerprint it was compiled with */
	int64_t loaded_at;          /* unix seconds */
	atomic_uint_fast64_t *hits;    /* per rule (def order) */
	atomic_uint_fast64_t *errors;  /* per rule */
	rules_lists *lists;         /* Redis source: the file's own lists */
	uint64_t src_hash;          /* Redis source: hash of the value read */
} svc_scn;

typedef struct svc_snapshot {
	atomic_int refs;
	uint64_t generation;        /* 1, 2, ... one per swap */
	svc_scn **scn;              /* sorted by name */
	int nscn;
	rules_lists *lists;
	struct svc_keys *keys;      /* API keys (auth.h), never NULL once
				     * loaded */
	int nkeys;                  /* API keys in the store (not revoked) */
} svc_snapshot;

typedef struct svc_engine svc_engine;
struct svc_data;

/* Reload outcome, given to svc_engine_reload's callback. */
typedef void (*svc_reload_done)(void *arg, int rc,
				const struct cJSON *report);

typedef struct svc_engine_stats {
	uint64_t generation;
	uint64_t reloads_ok;        /* reloads that read the store */
	uint64_t reloads_failed;    /* store unreadable */
	uint64_t compile_refused;   /* versions refused (did not compile) */
	int64_t last_reload;        /* unix seconds, 0 = never */
	int nscenarios;
	const char *source;         /* "sqlite" or "redis" (static) */
	uint64_t publishes_ok;      /* rule sets written to Redis */
	uint64_t publishes_failed;  /* publishes that failed (retried) */
} svc_engine_stats;

/*
 * Opens the store (which must exist) and loads every scenario's active
 * version. A scenario that fails to compile is logged and skipped; a
 * store that cannot be read fails: NULL with a message in err. With
 * Redis regions configured (c->nregions) and no file at c->db, the
 * engine starts empty with source "redis": svc_engine_set_data loads it.
 */
svc_engine *svc_engine_new(const svc_config *c, char *err, size_t errlen);

/*
 * Gives the engine the data tier d (may have no Redis: then nothing
 * changes). A SQLite engine then publishes what it serves to Redis from
 * its reload thread (at start, after every swap, after a failure or a
 * change of active region, and every 30 s); a Redis engine subscribes to
 * SVC_RULES_CHANNEL through d and loads every published scenario now,
 * within SVC_RULES_TIMEOUT_MS (Redis unreachable: it starts empty and
 * the reload thread keeps trying). Call once, before svc_engine_start.
 * d must outlive the reload thread (stop the engine before freeing d),
 * and e must outlive d's subscriber (free d before e).
 */
void svc_engine_set_data(svc_engine *e, struct svc_data *d);

/* Where the rule sets come from: "sqlite" or "redis" (static). */
const char *svc_engine_source(const svc_engine *e);

/* Starts the reload thread (polls every c->reload_ms; 0 = no polling). */
int svc_engine_start(svc_engine *e);

/* Stops the reload thread; pending reload callbacks get RK_ESTATE.
 * Idempotent. */
void svc_engine_stop(svc_engine *e);

/* Stops the reload thread and frees; snapshots still held stay valid
 * until released. NULL is a no-op. */
void svc_engine_free(svc_engine *e);

/* The current snapshot with one more reference. Never NULL. */
svc_snapshot *svc_engine_acquire(svc_engine *e);
/* Generation of the current snapshot (cheap: one atomic load). */
uint64_t svc_engine_generation(svc_engine *e);
svc_snapshot *svc_snapshot_ref(svc_snapshot *s);
void svc_snapshot_release(svc_snapshot *s);
/* The scenario by name, or NULL. Valid while s is held. */
svc_scn *svc_snapshot_find(const svc_snapshot *s, const char *name);

/*
 * Asks the reload thread to reload now (SIGHUP, POST /v1/admin/reload).
 * done, if set, is called once from the reload thread when a reload
 * that began after this call has finished, with 0 or an RK_E* code and
 * a report {"generation", "scenarios": [{"name", "version", "status":
 * "loaded"|"unchanged"|"refused"|"removed", "errors": [..]}]} valid only
 * during the call. RK_ESTATE when the engine is stopping (done not
 * called).
 */
int svc_engine_reload(svc_engine *e, svc_reload_done done, void *arg);

/* Reloads synchronously on the caller's thread (tests, start-up). */
int svc_engine_reload_now(svc_engine *e);

void svc_engine_get_stats(svc_engine *e, svc_engine_stats *st);

/* Records one evaluation result in the scenario's rule counters. */
void svc_scn_count(svc_scn *sc, const rules_result *r);

#endif
