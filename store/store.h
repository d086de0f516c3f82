/*
 * store.h - the SQLite rule store: scenarios, immutable versions, lists
 * and API keys (SPEC §2, §5). One store handle per thread. The schema
 * lives in schemas/store.sql and is migrated by PRAGMA user_version; the
 * database runs in WAL mode so a server can read while riskctl writes.
 * Every action returns 0 or a negative RK_E* code; store_errmsg() gives
 * the last message for the handle.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../rules/rules.h"

typedef struct store store;

/*
 * Opens the store at path. With create, a missing file is created and
 * migrated (riskctl init); without it, a missing file or an unmigrated
 * schema is RK_ENOENT. Returns NULL and writes a message into err.
 */
store *store_open(const char *path, bool create, char *err, size_t errlen);
void store_close(store *st);
const char *store_errmsg(const store *st);
/* Creates or migrates the schema to the newest user_version. */
int store_migrate(store *st);
int store_schema_version(store *st);
/* PRAGMA data_version: changes when another connection commits. */
int store_data_version(store *st, int64_t *v);

/* ---- versions ---- */

/*
 * Stores def as the next version of def->scenario (created if new),
 * replaces the lists def carries, and with activate makes it active; one
 * transaction. The caller has compiled def already. *version = number.
 */
int store_import(store *st, const rules_def *def, bool activate,
		 int64_t *version);
int store_activate(store *st, const char *scenario, int64_t version);
/* Activates the version that was active before the current one.
 * RK_ENOENT when there is none. *version = the now active version. */
int store_rollback(store *st, const char *scenario, int64_t *version);

typedef struct store_version {
	int64_t version;
	int64_t created_at;   /* unix seconds */
	bool active;
	int nrules;
	char checksum[65];    /* sha256 hex of the canonical definition */
	char *description;    /* may be NULL */
} store_version;

/* Versions of a scenario, oldest first. Free with store_versions_free. */
int store_versions(store *st, const char *scenario, store_version **out,
		   int *n);
void store_versions_free(store_version *v, int n);

/*
 * Loads version (0 = the active one) of scenario as a parsed definition
 * (caller frees with rules_def_free). *version_out gets the number.
 * RK_ENOENT for an unknown scenario/version or no active version.
 */
int store_load_def(store *st, const char *scenario, int64_t version,
		   rules_def **def, int64_t *version_out);

typedef struct store_scenario {
	char *name;
	int64_t active;       /* 0 = none */
	int64_t latest;
} store_scenario;
int store_scenarios(store *st, store_scenario **out, int *n);
void store_scenarios_free(store_scenario *s, int n);

/* ---- lists ---- */

int store_list_add(store *st, const char *name, const char *const *items,
		   int n);
int store_list_remove(store *st, const char *name, const char *const *items,
		      int n);
/* Items sorted; RK_ENOENT for an unknown list. Free with store_strv_free. */
int store_list_items(store *st, const char *name, char ***items, int *n);
/* Every list, as the compiler wants them (one new reference). */
int store_load_lists(store *st, rules_lists **out);
void store_strv_free(char **v, int n);

/* ---- API keys (only a SHA-256 of each key is stored) ---- */

typedef struct store_key {
	int64_t id;
	char *name;          /* may be NULL */
	char role[8];        /* "score" or "admin" */
	char prefix[12];     /* first characters of the key, for humans */
	char hash[65];       /* sha256 hex */
	int64_t created_at;
	bool revoked;
} store_key;

/* Creates a key for role ("score"|"admin"); *key gets the secret text
 * (caller frees with rk_free); it is never stored. */
int store_key_create(store *st, const char *role, const char *name,
		     char **key, int64_t *id);
int store_key_list(store *st, store_key **out, int *n);
void store_key_list_free(store_key *k, int n);
/* Revokes by id (decimal text) or name. */
int store_key_revoke(store *st, const char *id_or_name);
/* sha256 hex of a key text into out[65]. */
void store_key_hash(const char *key, char out[65]);

#endif
