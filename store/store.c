/*
 * store.c - the SQLite rule store: open, migrate by PRAGMA user_version,
 * and scenario versions (import, activate, rollback, list, load). One
 * transaction per change, so a failed import stores nothing. Lists are in
 * store_lists.c, API keys in store_keys.c; the DDL is schemas/store.sql.
 */
#include "store_int.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int store_fail(store *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what, sqlite3_errmsg(st->db));
	return RK_EIO;
}

int store_set_err(store *st, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	return code;
}

const char *store_errmsg(const store *st)
{
	return st->err;
}

int store_exec(store *st, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(st->err, sizeof(st->err), "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return RK_EIO;
	}
	return 0;
}

int store_begin(store *st)
{
	return store_exec(st, "BEGIN IMMEDIATE");
}

int store_commit(store *st)
{
	return store_exec(st, "COMMIT");
}

void store_rollback_tx(store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

void store_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

store *store_open(const char *path, bool create, char *err, size_t errlen)
{
	struct stat sb;
	if (!create && stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: no store here (run `riskctl init` "
			 "to create one)", path);
		return NULL;
	}
	store *st = rk_calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
		    (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path,
			 st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto out_close;
	}
	sqlite3_busy_timeout(st->db, 5000);
	if (store_exec(st, "PRAGMA foreign_keys = ON") ||
	    store_exec(st, "PRAGMA journal_mode = WAL") ||
	    store_exec(st, "PRAGMA synchronous = NORMAL")) {
		snprintf(err, errlen, "%s: %s", path, st->err);
		goto out_close;
	}
	if (create && store_migrate(st)) {
		snprintf(err, errlen, "%s: %s", path, st->err);
		goto out_close;
	}
	if (store_schema_version(st) != STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %d, this riskd needs %d "
			 "(run `riskctl init` to migrate)", path,
			 store_schema_version(st), STORE_SCHEMA_VERSION);
		goto out_close;
	}
	return st;
out_close:
	store_close(st);
	return NULL;
}

void store_close(store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	rk_free(st);
}

int store_schema_version(store *st)
{
	sqlite3_stmt *q;
	int v = -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL))
		return -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* Migration steps: step i brings user_version from i - 1 to i. */
static const char *const migrations[] = {
	NULL,
	store_schema_sql,
};

int store_migrate(store *st)
{
	int v = store_schema_version(st);
	if (v < 0)
		return store_fail(st, "reading the schema version");
	if (v > STORE_SCHEMA_VERSION)
		return store_set_err(st, RK_ESTATE, "schema version %d is newer "
				     "than this program (%d)", v,
				     STORE_SCHEMA_VERSION);
	for (int step = v + 1; step <= STORE_SCHEMA_VERSION; step++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", step);
		if (store_begin(st))
			return RK_EIO;
		if (store_exec(st, migrations[step]) || store_exec(st, pragma)) {
			store_rollback_tx(st);
			return RK_EIO;
		}
		if (store_commit(st))
			return RK_EIO;
	}
	return 0;
}

int store_data_version(store *st, int64_t *v)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "PRAGMA data_version", -1, &q, NULL))
		return store_fail(st, "data_version");
	int rc = sqlite3_step(q) == SQLITE_ROW ? 0 : store_fail(st, "data_version");
	if (!rc)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return rc;
}

/* ---- versions ---- */

static int prepare(store *st, const char *sql, sqlite3_stmt **q)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, q, NULL) != SQLITE_OK)
		return store_fail(st, "prepare");
	return 0;
}

static int64_t scalar(store *st, const char *sql, const char *arg, int64_t dflt)
{
	sqlite3_stmt *q;
	int64_t v = dflt;
	if (prepare(st, sql, &q))
		return dflt;
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static int set_active(store *st, const char *scenario, int64_t version)
{
	sqlite3_stmt *q;
	int rc = prepare(st, "UPDATE scenarios SET active_version = ?2 WHERE name = ?1", &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "activate");
	sqlite3_finalize(q);
	if (rc || prepare(st, "INSERT INTO activations (scenario, version, "
			  "activated_at) VALUES (?1, ?2, ?3)", &q))
		return rc ? rc : RK_EIO;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	sqlite3_bind_int64(q, 3, store_now());
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "activate");
	sqlite3_finalize(q);
	return rc;
}

static int insert_rules(store *st, const rules_def *def, int64_t version)
{
	sqlite3_stmt *q;
	int rc = prepare(st, "INSERT INTO rules (scenario, version, idx, id, name, "
			 "reason, when_expr, score, action, mode, tags) VALUES "
			 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &q);
	if (rc)
		return rc;
	for (int i = 0; i < def->nrules && !rc; i++) {
		const rules_rule_def *r = &def->rules[i];
		char *tags = NULL;
		if (r->ntags) {
			cJSON *a = cJSON_CreateArray();
			for (int k = 0; a && k < r->ntags; k++)
				cJSON_AddItemToArray(a, cJSON_CreateString(r->tags[k]));
			tags = a ? cJSON_PrintUnformatted(a) : NULL;
			cJSON_Delete(a);
			if (!tags) {
				rc = store_set_err(st, RK_ENOMEM, "out of memory");
				break;
			}
		}
		sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, version);
		sqlite3_bind_int(q, 3, i);
		sqlite3_bind_text(q, 4, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, r->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, r->reason, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, r->when, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 8, r->score);
		sqlite3_bind_text(q, 9, rules_action_name(r->action), -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 10, rules_mode_name(r->mode), -1, SQLITE_STATIC);
		if (tags)
			sqlite3_bind_text(q, 11, tags, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(q, 11);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = store_fail(st, "storing rules");
		sqlite3_reset(q);
		cJSON_free(tags);
	}
	sqlite3_finalize(q);
	return rc;
}

/* The canonical text of a definition without its lists. */
static char *canonical(const rules_def *def)
{
	rules_def copy = *def;
	copy.lists = NULL;
	copy.nlists = 0;
	return rules_def_to_text(&copy, false);
}

int store_import(store *st, const rules_def *def, bool activate,
		 int64_t *version)
{
	char *text = canonical(def);
	if (!text)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	char sum[65];
	store_sha256_hex(text, strlen(text), sum);
	int rc = store_begin(st);
	if (rc)
		goto out_free;
	sqlite3_stmt *q;
	if ((rc = prepare(st, "INSERT OR IGNORE INTO scenarios (name, created_at) "
			  "VALUES (?1, ?2)", &q)))
		goto out_rollback;
	sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "scenario");
	sqlite3_finalize(q);
	if (rc)
		goto out_rollback;
	int64_t v = scalar(st, "SELECT max(version) FROM versions WHERE scenario = ?1",
			   def->scenario, 0) + 1;
	if ((rc = prepare(st, "INSERT INTO versions (scenario, version, created_at, "
			  "description, checksum, nrules, definition) VALUES "
			  "(?1, ?2, ?3, ?4, ?5, ?6, ?7)", &q)))
		goto out_rollback;
	sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, v);
	sqlite3_bind_int64(q, 3, store_now());
	sqlite3_bind_text(q, 4, def->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, sum, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, def->nrules);
	sqlite3_bind_text(q, 7, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store_fail(st, "storing the version");
	sqlite3_finalize(q);
	if (rc || (rc = insert_rules(st, def, v)))
		goto out_rollback;
	for (int i = 0; i < def->nlists && !rc; i++)
		rc = store_list_replace_tx(st, &def->lists[i]);
	if (rc || (activate && (rc = set_active(st, def->scenario, v))))
		goto out_rollback;
	if ((rc = store_commit(st)))
		goto out_rollback;
	*version = v;
	rk_free(text);
	return 0;
out_rollback:
	store_rollback_tx(st);
out_free:
	rk_free(text);
	return rc;
}

static bool version_exists(store *st, const char *scenario, int64_t version)
{
	sqlite3_stmt *q;
	bool found = false;
	if (prepare(st, "SELECT 1 FROM versions WHERE scenario = ?1 AND version = ?2", &q))
		return false;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return found;
}

int store_activate(store *st, const char *scenario, int64_t version)
{
	if (!version_exists(st, scenario, version))
		return store_set_err(st, RK_ENOENT, "scenario '%s' has no version %lld",
				     scenario, (long long)version);
	int rc = store_begin(st);
	if (rc)
		return rc;
	if ((rc = set_active(st, scenario, version)) || (rc = store_commit(st))) {
		store_rollback_tx(st);
		return rc;
	}
	return 0;
}

int store_rollback(store *st, const char *scenario, int64_t *version)
{
	int64_t cur = scalar(st, "SELECT active_version FROM scenarios WHERE name = ?1",
			     scenario, -1);
	if (cur < 0)
		return store_set_err(st, RK_ENOENT, "no scenario '%s'", scenario);
	/* The newest activation of another version before the current one. */
	sqlite3_stmt *q;
	int rc = prepare(st, "SELECT version FROM activations WHERE scenario = ?1 "
			 "AND version != ?2 AND seq < (SELECT max(seq) FROM "
			 "activations WHERE scenario = ?1 AND version = ?2) "
			 "ORDER BY seq DESC LIMIT 1", &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, cur);
	int64_t prev = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);
	if (!prev)
		return store_set_err(st, RK_ENOENT, "scenario '%s' has no earlier "
				     "active version to roll back to", scenario);
	if ((rc = store_activate(st, scenario, prev)))
		return rc;
	*version = prev;
	return 0;
}

int store_versions(store *st, const char *scenario, store_version **out, int *n)
{
	*out = NULL;
	*n = 0;
	int64_t active = scalar(st, "SELECT active_version FROM scenarios WHERE name = ?1",
				scenario, -1);
	if (active < 0 && !scalar(st, "SELECT count(*) FROM scenarios WHERE name = ?1",
				  scenario, 0))
		return store_set_err(st, RK_ENOENT, "no scenario '%s'", scenario);
	sqlite3_stmt *q;
	int rc = prepare(st, "SELECT version, created_at, nrules, checksum, "
			 "description FROM versions WHERE scenario = ?1 ORDER BY version", &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	int cap = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			store_version *nv = rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!nv) {
				rc = store_set_err(st, RK_ENOMEM, "out of memory");
				break;
			}
			*out = nv;
		}
		store_version *v = &(*out)[*n];
		memset(v, 0, sizeof(*v));
		v->version = sqlite3_column_int64(q, 0);
		v->created_at = sqlite3_column_int64(q, 1);
		v->nrules = sqlite3_column_int(q, 2);
		snprintf(v->checksum, sizeof(v->checksum), "%s",
			 (const char *)sqlite3_column_text(q, 3));
		const unsigned char *desc = sqlite3_column_text(q, 4);
		v->description = desc ? rk_strdup((const char *)desc) : NULL;
		v->active = v->version == active;
		(*n)++;
	}
	sqlite3_finalize(q);
	if (rc) {
		store_versions_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_versions_free(store_version *v, int n)
{
	for (int i = 0; i < n; i++)
		rk_free(v[i].description);
	rk_free(v);
}

int store_load_def(store *st, const char *scenario, int64_t version,
		   rules_def **def, int64_t *version_out)
{
	*def = NULL;
	if (!version) {
		version = scalar(st, "SELECT active_version FROM scenarios WHERE name = ?1",
				 scenario, 0);
		if (!version)
			return store_set_err(st, RK_ENOENT, "scenario '%s' %s", scenario,
					     scalar(st, "SELECT count(*) FROM scenarios "
						    "WHERE name = ?1", scenario, 0)
					     ? "has no active version" : "does not exist");
	}
	sqlite3_stmt *q;
	int rc = prepare(st, "SELECT definition FROM versions WHERE scenario = ?1 "
			 "AND version = ?2", &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return store_set_err(st, RK_ENOENT, "scenario '%s' has no version %lld",
				     scenario, (long long)version);
	}
	const char *text = (const char *)sqlite3_column_text(q, 0);
	rk_diags d;
	rk_diags_init(&d);
	*def = rules_def_parse(text, strlen(text), &d);
	sqlite3_finalize(q);
	if (!*def) {
		char msg[256] = "unknown error";
		if (d.n)
			rk_diag_format(&d.v[0], NULL, msg, sizeof(msg));
		rc = store_set_err(st, RK_EIO, "stored version %lld of '%s' does not "
				   "parse: %s", (long long)version, scenario, msg);
	}
	rk_diags_cleanup(&d);
	if (!rc && version_out)
		*version_out = version;
	return rc;
}

int store_scenarios(store *st, store_scenario **out, int *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *q;
	int rc = prepare(st, "SELECT s.name, coalesce(s.active_version, 0), "
			 "(SELECT max(version) FROM versions v WHERE v.scenario = s.name) "
			 "FROM scenarios s ORDER BY s.name", &q);
	if (rc)
		return rc;
	int cap = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			store_scenario *ns = rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!ns) {
				rc = store_set_err(st, RK_ENOMEM, "out of memory");
				break;
			}
			*out = ns;
		}
		store_scenario *s = &(*out)[*n];
		s->name = rk_strdup((const char *)sqlite3_column_text(q, 0));
		s->active = sqlite3_column_int64(q, 1);
		s->latest = sqlite3_column_int64(q, 2);
		if (!s->name) {
			rc = store_set_err(st, RK_ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
	sqlite3_finalize(q);
	if (rc) {
		store_scenarios_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

void store_scenarios_free(store_scenario *s, int n)
{
	for (int i = 0; i < n; i++)
		rk_free(s[i].name);
	rk_free(s);
}
