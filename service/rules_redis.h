/*
 * rules_redis.h - active rule sets and API key hashes in Redis (SPEC §7
 * "Active rule sets are also published to Redis so an instance without
 * the SQLite file can load them"). This module only encodes, decodes,
 * writes and reads; engine_redis.c decides when (its reload thread) and builds
 * the snapshots. Key layout: docs/internals/cache.md "Rule sets in
 * Redis". Neighbours: engine_redis.c, cache/region.h (the connections).
 */
#ifndef SVC_RULES_REDIS_H
#define SVC_RULES_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "../store/store.h"
#include "auth.h"

struct rg_t;

/* riskd:rules:{scenario} holds {"version": N, "file": {rule-set file}}. */
#define SVC_RULES_PREFIX "riskd:rules:"
/* Set of the published scenario names ("index" is never a scenario). */
#define SVC_RULES_INDEX "riskd:rules:index"
/* A member every publish adds to the index and never a scenario name
 * ([a-z0-9_.-]): the set then exists with no scenario served, and a
 * loading instance removes the last scenario instead of taking an empty
 * index for a flushed Redis. */
#define SVC_RULES_SENTINEL "*"
/* {"keys": [{"id", "name", "role", "hash", "revoked"}]}: SHA-256 only. */
#define SVC_KEYS_KEY "riskd:keys"
/* Bound of one publish or read (every round trip included). */
#define SVC_RULES_TIMEOUT_MS 1000

/*
 * The value of riskd:rules:{def->scenario}: version and the canonical
 * rule-set file of def (rules/export.c) with the current items of every
 * list of `lists` its rules refer to, sorted, so the file imports back
 * (what `riskctl export` prints). Lists def carries itself are kept.
 * Caller frees with rk_free; NULL when out of memory.
 */
char *svc_rr_encode(const rules_def *def, int64_t version,
		    const rules_lists *lists);

/*
 * Parses a value written by svc_rr_encode (or by anyone else) for
 * scenario. 0 with *def (its lists included; caller frees) and *version;
 * RK_ESYNTAX with the reasons in d when the value is not a wrapper, the
 * file does not parse or names another scenario; RK_ENOMEM.
 */
int svc_rr_decode(const char *text, size_t len, const char *scenario,
		  rules_def **def, int64_t *version, rk_diags *d);

/* The riskd:keys value of n store keys (hash, role, name, id, revoked;
 * never the key text, which no one has). rk_free; NULL on ENOMEM. */
char *svc_rr_keys_encode(const store_key *k, int n);
/* A key table from a riskd:keys value; NULL with err when malformed. */
svc_keys *svc_rr_keys_decode(const char *text, size_t len, char *err,
			     size_t errlen);

/* One scenario to publish: name and its svc_rr_encode value. */
typedef struct svc_rr_item {
	const char *name;
	const char *value;
} svc_rr_item;

/*
 * Writes every item (SET riskd:rules:{name}), adds the names to the
 * index, removes from the index and deletes the keys of the scenarios
 * the index holds that are not among items, writes keys (riskd:keys;
 * deleted when NULL), then PUBLISHes each written or removed name on
 * SVC_RULES_CHANNEL. Two round trips to the active region, none past
 * deadline_us. 0, or rg_exec's codes / RK_EIO (an error reply) with a
 * message in err.
 */
int svc_rr_publish(struct rg_t *rg, const svc_rr_item *items, int n,
		   const char *keys, int64_t deadline_us, char *err,
		   size_t errlen);

/* Whether the index exists (1) or not (0: nothing published, or a
 * flushed or restarted Redis); rg_exec's codes, RK_EIO. One round trip. */
int svc_rr_index_exists(struct rg_t *rg, int64_t deadline_us);

/* What a read found. Strings are NUL-terminated copies (rk_free). */
typedef struct svc_rr_read {
	bool have_index;     /* the index key exists */
	char **names;        /* scenarios in the index (that were asked;
			      * never the sentinel) */
	char **values;       /* per name: the key's value, NULL if missing */
	size_t *lens;
	int n;
	char *keys;          /* riskd:keys, NULL if missing */
	size_t keyslen;
} svc_rr_read;

/*
 * Reads the index and every scenario in it (one == NULL), or only
 * whether `one` is in the index and its value; and the key table.
 * 0, rg_exec's codes, RK_EIO (unexpected reply), RK_ENOMEM. out is
 * cleaned on failure.
 */
int svc_rr_fetch(struct rg_t *rg, const char *one, int64_t deadline_us,
		 svc_rr_read *out);
void svc_rr_read_cleanup(svc_rr_read *r);

#endif
