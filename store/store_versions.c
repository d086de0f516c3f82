/*
 * store_versions.c - scenario versions in the store: import (the next
 * immutable version, in one transaction so a failure stores nothing),
 * activate and the activation history that rollback walks, listing
 * versions and scenarios, and loading a stored definition. Core helpers
 * are in store.c; the lists an import carries go through store_lists.c.
 */
#include "store_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int scenario_exists(store *st, const char *scenario, bool *exists)
{
	int64_t n = 0;
	bool found;
	int rc = store_scalar(st,
			      "SELECT count(*) FROM scenarios WHERE "
			      "name = ?1",
			      scenario, &n, &found);
	*exists = !rc && n > 0;
	return rc;
}

/* *active = the active version, 0 when none; RK_ENOENT for no scenario. */
static int active_version(store *st, const char *scenario, int64_t *active)
{
	bool exists, found;
	int rc = scenario_exists(st, scenario, &exists);
	if (rc)
		return rc;
	if (!exists)
		return store_set_err(st, RK_ENOENT, "no scenario '%s'",
				     scenario);
	rc = store_scalar(st,
			  "SELECT active_version FROM scenarios WHERE "
			  "name = ?1",
			  scenario, active, &found);
	if (!rc && !found)
		*active = 0;
	return rc;
}

/* Inside a transaction: makes version active and records it. */
static int set_active(store *st, const char *scenario, int64_t version)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st,
			       "UPDATE scenarios SET active_version = ?2 "
			       "WHERE name = ?1",
			       &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	if ((rc = store_step_done(st, q, "activating")))
		return rc;
	if ((rc = store_prepare(st,
				"INSERT INTO activations (scenario, "
				"version, activated_at) VALUES (?1, ?2, ?3)",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	sqlite3_bind_int64(q, 3, store_now());
	return store_step_done(st, q, "recording the activation");
}

/* The tags of a rule as a JSON array text (NULL with none). */
static int tags_json(const rules_rule_def *r, char **out)
{
	*out = NULL;
	if (!r->ntags)
		return 0;
	cJSON *a = cJSON_CreateArray();
	for (int k = 0; a && k < r->ntags; k++) {
		cJSON *s = cJSON_CreateString(r->tags[k]);
		if (!s) {
			cJSON_Delete(a);
			return RK_ENOMEM;
		}
		cJSON_AddItemToArray(a, s);
	}
	*out = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return *out ? 0 : RK_ENOMEM;
}

static int insert_rules(store *st, const rules_def *def, int64_t version)
{
	sqlite3_stmt *q;
	int rc =
	    store_prepare(st,
			  "INSERT INTO rules (scenario, version, idx, "
			  "id, name, reason, when_expr, score, action, "
			  "mode, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			  "?8, ?9, ?10, ?11)",
			  &q);
	if (rc)
		return rc;
	for (int i = 0; i < def->nrules && !rc; i++) {
		const rules_rule_def *r = &def->rules[i];
		char *tags;
		if (tags_json(r, &tags)) {
			rc = store_set_err(st, RK_ENOMEM, "out of memory");
			break;
		}
		sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, version);
		sqlite3_bind_int(q, 3, i);
		sqlite3_bind_text(q, 4, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 5, r->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 6, r->reason, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 7, r->when, -1, SQLITE_STATIC);
		sqlite3_bind_int(q, 8, r->score);
		sqlite3_bind_text(q, 9, rules_action_name(r->action), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(q, 10, rules_mode_name(r->mode), -1,
				  SQLITE_STATIC);
		if (tags)
			sqlite3_bind_text(q, 11, tags, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(q, 11);
		if (sqlite3_step(q) != SQLITE_DONE)
			rc = store_fail(st, "storing the rules");
		sqlite3_reset(q);
		cJSON_free(tags);
	}
	sqlite3_finalize(q);
	return rc;
}

/*
 * The canonical text of a definition without its lists: what a version
 * stores and what its checksum covers (lists live apart, see
 * docs/internals/store.md).
 */
static char *canonical(const rules_def *def)
{
	rules_def copy = *def;
	copy.lists = NULL;
	copy.nlists = 0;
	return rules_def_to_text(&copy, false);
}

static int insert_version(store *st, const rules_def *def, int64_t v,
			  const char *text, const char *sum)
{
	sqlite3_stmt *q;
	int rc =
	    store_prepare(st,
			  "INSERT INTO versions (scenario, version, "
			  "created_at, description, checksum, nrules, "
			  "definition) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			  &q);
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, v);
	sqlite3_bind_int64(q, 3, store_now());
	sqlite3_bind_text(q, 4, def->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, sum, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, def->nrules);
	sqlite3_bind_text(q, 7, text, -1, SQLITE_STATIC);
	return store_step_done(st, q, "storing the version");
}

int store_import(store *st, const rules_def *def, bool activate,
		 int64_t *version)
{
	if (!def->scenario || !*def->scenario)
		return store_set_err(st, RK_EINVAL,
				     "the rule set names no "
				     "scenario");
	char *text = canonical(def);
	if (!text)
		return store_set_err(st, RK_ENOMEM, "out of memory");
	char sum[65];
	store_sha256_hex(text, strlen(text), sum);
	int rc = store_begin(st);
	if (rc)
		goto out_free;
	sqlite3_stmt *q;
	if ((rc = store_prepare(st,
				"INSERT OR IGNORE INTO scenarios (name, "
				"created_at) VALUES (?1, ?2)",
				&q)))
		goto out_rollback;
	sqlite3_bind_text(q, 1, def->scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, store_now());
	if ((rc = store_step_done(st, q, "storing the scenario")))
		goto out_rollback;
	/* Inside the write transaction: no other writer takes v meanwhile. */
	int64_t v = 0;
	bool found;
	if ((rc = store_scalar(st,
			       "SELECT max(version) FROM versions WHERE "
			       "scenario = ?1",
			       def->scenario, &v, &found)))
		goto out_rollback;
	v++;
	if ((rc = insert_version(st, def, v, text, sum)) ||
	    (rc = insert_rules(st, def, v)))
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

/* *exists = whether scenario has version. */
static int version_exists(store *st, const char *scenario, int64_t version,
			  bool *exists)
{
	sqlite3_stmt *q;
	int rc = store_prepare(st,
			       "SELECT 1 FROM versions WHERE scenario = ?1 "
			       "AND version = ?2",
			       &q);
	*exists = false;
	if (rc)
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	int s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		*exists = true;
	else if (s != SQLITE_DONE)
		rc = store_fail(st, "reading the versions");
	sqlite3_finalize(q);
	return rc;
}

int store_activate(store *st, const char *scenario, int64_t version)
{
	int rc = store_begin(st);
	if (rc)
		return rc;
	bool exists;
	if ((rc = version_exists(st, scenario, version, &exists)))
		goto out_rollback;
	if (!exists) {
		rc = store_set_err(st, RK_ENOENT,
				   "scenario '%s' has no version "
				   "%lld",
				   scenario, (long long)version);
		goto out_rollback;
	}
	if ((rc = set_active(st, scenario, version)) || (rc = store_commit(st)))
		goto out_rollback;
	return 0;
out_rollback:
	store_rollback_tx(st);
	return rc;
}

/*
 * The target is the newest activation, before the current version's
 * latest one, of a version other than the current: so rolling back twice
 * returns to where one started (like an undo of the last activation), and
 * `activate` reaches anything older.
 */
int store_rollback(store *st, const char *scenario, int64_t *version)
{
	int64_t cur;
	int rc = active_version(st, scenario, &cur);
	if (rc)
		return rc;
	if (!cur)
		return store_set_err(st, RK_ENOENT,
				     "scenario '%s' has no active "
				     "version",
				     scenario);
	sqlite3_stmt *q;
	if ((rc = store_prepare(st,
				"SELECT version FROM activations WHERE "
				"scenario = ?1 AND version != ?2 AND seq < "
				"(SELECT max(seq) FROM activations WHERE "
				"scenario = ?1 AND version = ?2) ORDER BY seq "
				"DESC LIMIT 1",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, cur);
	int64_t prev = 0;
	int s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		prev = sqlite3_column_int64(q, 0);
	else if (s != SQLITE_DONE)
		rc = store_fail(st, "reading the activations");
	sqlite3_finalize(q);
	if (rc)
		return rc;
	if (!prev)
		return store_set_err(st, RK_ENOENT,
				     "scenario '%s' has no earlier "
				     "active version to roll back to",
				     scenario);
	if ((rc = store_activate(st, scenario, prev)))
		return rc;
	*version = prev;
	return 0;
}

int store_versions(store *st, const char *scenario, store_version **out, int *n)
{
	*out = NULL;
	*n = 0;
	int64_t active;
	int rc = active_version(st, scenario, &active);
	if (rc)
		return rc;
	sqlite3_stmt *q;
	if ((rc = store_prepare(st,
				"SELECT version, created_at, nrules, "
				"checksum, description FROM versions WHERE "
				"scenario = ?1 ORDER BY version",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	int cap = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			store_version *nv =
			    rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!nv) {
				rc = store_set_err(st, RK_ENOMEM,
						   "out of memory");
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
		v->active = v->version == active;
		(*n)++;
		const unsigned char *desc = sqlite3_column_text(q, 4);
		if (desc && !(v->description = rk_strdup((const char *)desc))) {
			rc = store_set_err(st, RK_ENOMEM, "out of memory");
			break;
		}
	}
	if (!rc && s != SQLITE_DONE)
		rc = store_fail(st, "reading the versions");
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

/* Parses stored text; a version that no longer parses is reported. */
static int parse_stored(store *st, const char *scenario, int64_t version,
			const char *text, rules_def **def)
{
	rk_diags d;
	rk_diags_init(&d);
	*def = rules_def_parse(text, strlen(text), &d);
	int rc = 0;
	if (!*def) {
		char msg[256] = "out of memory";
		if (d.n)
			rk_diag_format(&d.v[0], NULL, msg, sizeof(msg));
		rc = store_set_err(st, d.n ? RK_EIO : RK_ENOMEM,
				   "stored version "
				   "%lld of '%s' does not parse: %s",
				   (long long)version, scenario, msg);
	}
	rk_diags_cleanup(&d);
	return rc;
}

int store_load_def(store *st, const char *scenario, int64_t version,
		   rules_def **def, int64_t *version_out)
{
	*def = NULL;
	int rc;
	if (!version) {
		if ((rc = active_version(st, scenario, &version)))
			return rc;
		if (!version)
			return store_set_err(st, RK_ENOENT,
					     "scenario '%s' has no "
					     "active version",
					     scenario);
	}
	sqlite3_stmt *q;
	if ((rc = store_prepare(st,
				"SELECT definition FROM versions WHERE "
				"scenario = ?1 AND version = ?2",
				&q)))
		return rc;
	sqlite3_bind_text(q, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, version);
	int s = sqlite3_step(q);
	if (s == SQLITE_ROW)
		rc = parse_stored(st, scenario, version,
				  (const char *)sqlite3_column_text(q, 0), def);
	else if (s == SQLITE_DONE)
		rc = store_set_err(st, RK_ENOENT,
				   "scenario '%s' has no version "
				   "%lld",
				   scenario, (long long)version);
	else
		rc = store_fail(st, "reading the version");
	sqlite3_finalize(q);
	if (!rc && version_out)
		*version_out = version;
	return rc;
}

int store_scenarios(store *st, store_scenario **out, int *n)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *q;
	int rc = store_prepare(st,
			       "SELECT s.name, coalesce(s.active_version, "
			       "0), (SELECT coalesce(max(version), 0) FROM "
			       "versions v WHERE v.scenario = s.name) FROM "
			       "scenarios s ORDER BY s.name",
			       &q);
	if (rc)
		return rc;
	int cap = 0, s;
	while ((s = sqlite3_step(q)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			store_scenario *ns =
			    rk_realloc(*out, (size_t)cap * sizeof(**out));
			if (!ns) {
				rc = store_set_err(st, RK_ENOMEM,
						   "out of memory");
				break;
			}
			*out = ns;
		}
		store_scenario *sc = &(*out)[*n];
		sc->name = rk_strdup((const char *)sqlite3_column_text(q, 0));
		sc->active = sqlite3_column_int64(q, 1);
		sc->latest = sqlite3_column_int64(q, 2);
		if (!sc->name) {
			rc = store_set_err(st, RK_ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
	if (!rc && s != SQLITE_DONE)
		rc = store_fail(st, "reading the scenarios");
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
