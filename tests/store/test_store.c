/*
 * test_store.c - the SQLite store (store/store*.c) on real temporary
 * files: migration and schema checks, versions and activation history,
 * rollback, loading and the export round trip, imports that fail half-way
 * (a SQL error, every allocation failure) storing nothing, immutability,
 * lists, keys, the data_version another connection's commit changes, and
 * error paths. A raw sqlite3 connection plays the other writer.
 */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka needs the headers above first. */
#include <cmocka.h>

#include "common/rk.h"
#include "store/store.h"

static char path[64];

static int setup(void **st)
{
	snprintf(path, sizeof(path), "/tmp/riskd-test-XXXXXX");
	int fd = mkstemp(path);
	close(fd);
	unlink(path);
	return 0;
}

static int teardown(void **st)
{
	char p[96];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

static rules_def *def_of(const char *scenario, const char *when, int score)
{
	char txt[512];
	snprintf(
	    txt, sizeof(txt),
	    "{\"scenario\": \"%s\", \"description\": \"d\", "
	    "\"lists\": {\"bl\": [\"x\", \"y\"]}, \"rules\": [{\"id\": \"a\", "
	    "\"when\": \"%s\", \"score\": %d, \"tags\": [\"t\\\"q\"]}]}",
	    scenario, when, score);
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	rk_diags_cleanup(&d);
	assert_non_null(def);
	return def;
}

/* Runs sql on a separate raw connection (another process, in effect). */
static void raw_exec(const char *sql, int want)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	if (rc != want)
		fail_msg("%s: %d (%s), want %d", sql, rc, sqlite3_errmsg(db),
			 want);
	sqlite3_close(db);
}

/* The first column of the first row of sql as an integer (-1: none). */
static long long raw_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

/* Rows of every table, to prove a failed change stored nothing. */
static long long rows(void)
{
	return raw_int("SELECT (SELECT count(*) FROM scenarios) * 1000000 + "
		       "(SELECT count(*) FROM versions) * 10000 + "
		       "(SELECT count(*) FROM rules) * 1000 + "
		       "(SELECT count(*) FROM activations) * 100 + "
		       "(SELECT count(*) FROM lists) * 10 + "
		       "(SELECT count(*) FROM list_items)");
}

static void test_open_migrate(void **s)
{
	char err[256];
	assert_null(store_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, "riskctl init"));
	store *st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 1);
	assert_int_equal(store_migrate(st), 0);
	store_close(st);
	st = store_open(path, false, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(store_migrate(st), 0);
	assert_int_equal(store_schema_version(st), 1);
	int64_t dv;
	assert_int_equal(store_data_version(st, &dv), 0);
	store_close(st);
	store_close(NULL);
	/* init again: the same schema, nothing lost. */
	st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	store_close(st);
	assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE "
				 "type = 'table' AND name IN ('scenarios', "
				 "'versions', 'rules', 'activations', 'lists', "
				 "'list_items', 'api_keys')"),
			 7);
	assert_int_equal(raw_int("SELECT count(*) FROM sqlite_master WHERE "
				 "type = 'trigger'"),
			 1);

	/* A store from a newer program is refused, not migrated down. */
	raw_exec("PRAGMA user_version = 99", SQLITE_OK);
	assert_null(store_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99 is newer"));
	assert_null(store_open(path, true, err, sizeof(err)));
	assert_non_null(strstr(err, "newer than this program"));
}

/* A file that exists but was never initialised, and one that is junk. */
static void test_open_unmigrated(void **s)
{
	char err[256];
	raw_exec("CREATE TABLE other (x)", SQLITE_OK);
	assert_null(store_open(path, false, err, sizeof(err)));
	assert_non_null(strstr(err, "not a riskd store yet"));
	assert_non_null(strstr(err, "riskctl init"));
	store *st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	assert_int_equal(store_schema_version(st), 1);
	store_close(st);
	unlink(path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a database, only some text that is long enough "
	      "for SQLite to read a header from it and refuse it.\n",
	      f);
	fclose(f);
	assert_null(store_open(path, true, err, sizeof(err)));
	assert_non_null(strstr(err, "not a database"));
}

static void test_versions(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *d1 = def_of("pay", "amount > 1", 10);
	rules_def *d2 = def_of("pay", "amount > 2", 20);
	int64_t v;
	assert_int_equal(store_import(st, d1, false, &v), 0);
	assert_int_equal(v, 1);
	rules_def *got;
	assert_int_equal(store_load_def(st, "pay", 0, &got, &v), RK_ENOENT);
	assert_non_null(strstr(store_errmsg(st), "no active version"));
	assert_int_equal(store_import(st, d2, true, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(store_load_def(st, "pay", 0, &got, &v), 0);
	assert_int_equal(v, 2);
	assert_string_equal(got->rules[0].when, "amount > 2");
	assert_int_equal(got->nlists, 0); /* lists live apart */
	rules_def_free(got);
	assert_int_equal(store_activate(st, "pay", 1), 0);
	assert_int_equal(store_rollback(st, "pay", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(store_rollback(st, "pay", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(store_activate(st, "pay", 7), RK_ENOENT);
	assert_int_equal(store_rollback(st, "nope", &v), RK_ENOENT);
	store_version *vs;
	int n;
	assert_int_equal(store_versions(st, "pay", &vs, &n), 0);
	assert_int_equal(n, 2);
	assert_true(vs[0].active);
	assert_false(vs[1].active);
	assert_int_equal(vs[0].nrules, 1);
	assert_string_equal(vs[0].description, "d");
	assert_int_equal(strlen(vs[0].checksum), 64);
	assert_string_not_equal(vs[0].checksum, vs[1].checksum);
	store_versions_free(vs, n);
	assert_int_equal(store_versions(st, "nope", &vs, &n), RK_ENOENT);
	store_scenario *sc;
	assert_int_equal(store_scenarios(st, &sc, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sc[0].name, "pay");
	assert_int_equal(sc[0].active, 1);
	assert_int_equal(sc[0].latest, 2);
	store_scenarios_free(sc, n);
	rules_def_free(d1);
	rules_def_free(d2);
	store_close(st);
}

static void test_lists(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	const char *items[] = {"b", "a", "b"};
	assert_int_equal(store_list_add(st, "l1", items, 3), 0);
	char **v;
	int n;
	assert_int_equal(store_list_items(st, "l1", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "a");
	store_strv_free(v, n);
	assert_int_equal(store_list_remove(st, "l1", items, 1), 0);
	assert_int_equal(store_list_remove(st, "zz", items, 1), RK_ENOENT);
	assert_int_equal(store_list_items(st, "zz", &v, &n), RK_ENOENT);
	/* An import replaces the lists its file carries. */
	rules_def *d = def_of("p2", "x in @bl", 1);
	int64_t ver;
	assert_int_equal(store_list_add(st, "bl", items, 1), 0);
	assert_int_equal(store_import(st, d, true, &ver), 0);
	rules_lists *l;
	assert_int_equal(store_load_lists(st, &l), 0);
	assert_int_equal(rules_lists_count(l), 2);
	const strset *bl = rules_lists_get(l, "bl");
	assert_int_equal(strset_count(bl), 2);
	assert_false(strset_has(bl, "b", 1));
	assert_true(strset_has(rules_lists_get(l, "l1"), "a", 1));
	rules_lists_free(l);
	rules_def_free(d);
	/* Names are what `@name` can say; nothing stored for a bad one. */
	long long before = rows();
	assert_int_equal(store_list_add(st, "bad name", items, 1), RK_EINVAL);
	assert_int_equal(store_list_add(st, "9lives", items, 1), RK_EINVAL);
	assert_int_equal(store_list_add(st, "", items, 1), RK_EINVAL);
	char long_name[80];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(store_list_add(st, long_name, items, 1), RK_EINVAL);
	long_name[64] = '\0';
	assert_int_equal(store_list_add(st, long_name, items, 1), 0);
	assert_int_equal(rows(), before + 11);
	/* An empty list exists, and loads as an empty set. */
	assert_int_equal(store_list_add(st, "_empty", NULL, 0), 0);
	assert_int_equal(store_list_items(st, "_empty", &v, &n), 0);
	assert_int_equal(n, 0);
	store_strv_free(v, n);
	assert_int_equal(store_load_lists(st, &l), 0);
	assert_int_equal(rules_lists_count(l), 4);
	assert_non_null(rules_lists_get(l, "_empty"));
	assert_int_equal(strset_count(rules_lists_get(l, "_empty")), 0);
	assert_int_equal(strset_count(rules_lists_get(l, long_name)), 1);
	rules_lists_free(l);
	store_close(st);
}

static void test_keys(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	char *k1, *k2;
	int64_t id1, id2;
	assert_int_equal(store_key_create(st, "admin", "ops", &k1, &id1), 0);
	assert_int_equal(store_key_create(st, "score", NULL, &k2, &id2), 0);
	assert_int_equal(strlen(k1), 46);
	assert_memory_equal(k1, "rk_", 3);
	assert_string_not_equal(k1, k2);
	char *k3;
	assert_int_equal(store_key_create(st, "root", NULL, &k3, &id2),
			 RK_EINVAL);
	assert_int_equal(store_key_create(st, "score", "ops", &k3, &id2),
			 RK_EEXIST);
	store_key *keys;
	int n;
	assert_int_equal(store_key_list(st, &keys, &n), 0);
	assert_int_equal(n, 2);
	char h[65];
	store_key_hash(k1, h);
	assert_string_equal(keys[0].hash, h);
	assert_string_equal(keys[0].role, "admin");
	assert_memory_equal(keys[0].prefix, k1, 10);
	assert_false(keys[0].revoked);
	store_key_list_free(keys, n);
	assert_int_equal(store_key_revoke(st, "ops"), 0);
	assert_int_equal(store_key_revoke(st, "ops"), RK_ENOENT);
	char idtxt[16];
	snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id2);
	assert_int_equal(store_key_revoke(st, idtxt), 0);
	assert_int_equal(store_key_list(st, &keys, &n), 0);
	assert_true(keys[0].revoked && keys[1].revoked);
	store_key_list_free(keys, n);
	assert_int_equal(store_key_revoke(st, "999"), RK_ENOENT);
	assert_int_equal(store_key_revoke(st, ""), RK_ENOENT);
	/* A number names an id, so a name cannot be one. */
	assert_int_equal(store_key_create(st, "score", "42", &k3, &id2),
			 RK_EINVAL);
	assert_int_equal(store_key_create(st, "score", "", &k3, &id2),
			 RK_EINVAL);
	assert_int_equal(store_key_create(st, "score", "a b", &k3, &id2),
			 RK_EINVAL);
	assert_int_equal(store_key_create(st, "score", "k42", &k3, &id2), 0);
	/* base64url of 32 bytes: 43 characters of [A-Za-z0-9_-]. */
	assert_int_equal(strspn(k3 + 3,
				"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				"opqrstuvwxyz0123456789-_"),
			 43);
	rk_free(k3);
	/* Only the hash is stored: the secret is nowhere in the table. */
	char like[128];
	snprintf(like, sizeof(like),
		 "SELECT count(*) FROM api_keys WHERE "
		 "name || prefix || hash LIKE '%%%s%%'",
		 k1 + 10);
	assert_int_equal(raw_int(like), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM api_keys WHERE "
				 "length(hash) = 64 AND length(prefix) = 10"),
			 3);
	rk_free(k1);
	rk_free(k2);
	store_close(st);
}

/* Each rollback undoes the last activation; activate reaches the rest. */
static void test_rollback_history(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	int64_t v;
	for (int i = 1; i <= 3; i++) {
		rules_def *d = def_of("pay", "amount > 1", i);
		assert_int_equal(store_import(st, d, true, &v), 0);
		assert_int_equal(v, i);
		rules_def_free(d);
	}
	assert_int_equal(store_rollback(st, "pay", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(store_rollback(st, "pay", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(store_activate(st, "pay", 1), 0);
	assert_int_equal(store_activate(st, "pay", 1), 0); /* again */
	assert_int_equal(store_rollback(st, "pay", &v), 0);
	assert_int_equal(v, 3);
	rules_def *got;
	assert_int_equal(store_load_def(st, "pay", 0, &got, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(got->rules[0].score, 3);
	rules_def_free(got);
	/* The history, oldest first, as one number. */
	assert_int_equal(raw_int("SELECT CAST(group_concat(version, '') AS "
				 "INTEGER) FROM (SELECT version FROM "
				 "activations ORDER BY seq)"),
			 12323113);
	assert_int_equal(raw_int("SELECT count(*) FROM activations"), 8);

	/* Imported but never activated: nothing to roll back from. */
	rules_def *d = def_of("quiet", "amount > 1", 1);
	assert_int_equal(store_import(st, d, false, &v), 0);
	rules_def_free(d);
	assert_int_equal(store_rollback(st, "quiet", &v), RK_ENOENT);
	assert_non_null(strstr(store_errmsg(st), "has no active version"));
	/* One activation only: nothing earlier. */
	assert_int_equal(store_activate(st, "quiet", 1), 0);
	assert_int_equal(store_rollback(st, "quiet", &v), RK_ENOENT);
	assert_non_null(strstr(store_errmsg(st), "no earlier active version"));
	/* Scenarios number their versions apart. */
	store_scenario *sc;
	int n;
	assert_int_equal(store_scenarios(st, &sc, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sc[0].name, "pay");
	assert_int_equal(sc[0].active, 3);
	assert_int_equal(sc[0].latest, 3);
	assert_string_equal(sc[1].name, "quiet");
	assert_int_equal(sc[1].active, 1);
	assert_int_equal(sc[1].latest, 1);
	store_scenarios_free(sc, n);
	store_close(st);
}

/* Loading and every error path of versions. */
static void test_load_errors(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *got = (rules_def *)1;
	int64_t v = 42;
	assert_int_equal(store_load_def(st, "nope", 0, &got, &v), RK_ENOENT);
	assert_null(got);
	assert_int_equal(v, 42);
	assert_string_equal(store_errmsg(st), "no scenario 'nope'");
	assert_int_equal(store_load_def(st, "nope", 1, &got, NULL), RK_ENOENT);
	assert_string_equal(store_errmsg(st),
			    "scenario 'nope' has no version 1");
	rules_def *d = def_of("pay", "amount > 1", 5);
	assert_int_equal(store_import(st, d, false, &v), 0);
	rules_def_free(d);
	assert_int_equal(store_load_def(st, "pay", 2, &got, NULL), RK_ENOENT);
	assert_int_equal(store_load_def(st, "pay", -1, &got, NULL), RK_ENOENT);
	assert_int_equal(store_load_def(st, "pay", 1, &got, NULL), 0);
	assert_string_equal(got->scenario, "pay");
	assert_string_equal(got->description, "d");
	assert_int_equal(got->rules[0].ntags, 1);
	assert_string_equal(got->rules[0].tags[0], "t\"q");
	rules_def_free(got);
	assert_int_equal(store_activate(st, "pay", 0), RK_ENOENT);
	assert_int_equal(store_activate(st, "nope", 1), RK_ENOENT);
	assert_string_equal(store_errmsg(st),
			    "scenario 'nope' has no version 1");
	store_version *vs = (store_version *)1;
	int n = 7;
	assert_int_equal(store_versions(st, "nope", &vs, &n), RK_ENOENT);
	assert_null(vs);
	assert_int_equal(n, 0);
	/* The rules table mirrors the definition for querying. */
	assert_int_equal(raw_int("SELECT score FROM rules WHERE scenario = "
				 "'pay' AND version = 1 AND id = 'a'"),
			 5);
	assert_int_equal(raw_int("SELECT count(*) FROM rules WHERE tags = "
				 "'[\"t\\\"q\"]' AND mode = 'active' AND "
				 "when_expr = 'amount > 1'"),
			 1);
	store_close(st);
}

/*
 * The export round trip at the API level: a loaded version re-imported
 * is a new version with the same checksum (lists are not part of it).
 */
static void test_roundtrip(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *d = def_of("pay", "x in @bl and amount > 3", 7);
	int64_t v1, v2;
	assert_int_equal(store_import(st, d, true, &v1), 0);
	rules_def *got;
	assert_int_equal(store_load_def(st, "pay", v1, &got, NULL), 0);
	char *a = rules_def_to_text(d, false), *b;
	assert_int_equal(store_import(st, got, false, &v2), 0);
	assert_int_equal(v2, v1 + 1);
	rules_def_free(got);
	assert_int_equal(store_load_def(st, "pay", v2, &got, NULL), 0);
	b = rules_def_to_text(got, false);
	assert_non_null(strstr(a, "\"lists\""));
	assert_null(strstr(b, "\"lists\""));
	rules_def_free(got);
	store_version *vs;
	int n;
	assert_int_equal(store_versions(st, "pay", &vs, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(vs[0].checksum, vs[1].checksum);
	assert_true(vs[0].active);
	store_versions_free(vs, n);
	rk_free(a);
	rk_free(b);
	rules_def_free(d);
	store_close(st);
}

/* A SQL error half-way through an import (a list item) stores nothing. */
static void test_import_atomic(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *d = def_of("pay", "amount > 1", 1);
	int64_t v;
	assert_int_equal(store_import(st, d, true, &v), 0);
	raw_exec("CREATE TRIGGER boom BEFORE INSERT ON list_items WHEN "
		 "NEW.item = 'y' BEGIN SELECT RAISE(ABORT, 'no y here'); END",
		 SQLITE_OK);
	long long before = rows();
	v = 99;
	assert_int_equal(store_import(st, d, true, &v), RK_EIO);
	assert_int_equal(v, 99);
	assert_non_null(strstr(store_errmsg(st), "no y here"));
	assert_int_equal(rows(), before);
	assert_int_equal(raw_int("SELECT active_version FROM scenarios"), 1);
	/* A list change is one transaction too. */
	const char *items[] = {"x1", "y", "z"};
	assert_int_equal(store_list_add(st, "other", items, 3), RK_EIO);
	assert_int_equal(rows(), before);
	/* The handle is usable afterwards (no transaction left open). */
	raw_exec("DROP TRIGGER boom", SQLITE_OK);
	assert_int_equal(store_import(st, d, true, &v), 0);
	assert_int_equal(v, 2);
	rules_def_free(d);
	store_close(st);
}

/* Every allocation failure during an import: an error, nothing stored. */
static void test_import_alloc_failures(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *d = def_of("pay", "amount > 1", 1);
	int64_t v;
	assert_int_equal(store_import(st, d, false, &v), 0);
	long long before = rows();
	rk_alloc_fail_after(-1);
	assert_int_equal(store_import(st, d, false, &v), 0);
	long total = rk_alloc_fail_after(-1);
	assert_true(total > 3);
	before = rows();
	for (long n = 0; n < total; n++) {
		rk_alloc_fail_after(n);
		int rc = store_import(st, d, true, &v);
		rk_alloc_fail_after(-1);
		assert_int_equal(rc, RK_ENOMEM);
		assert_int_equal(rows(), before);
	}
	assert_int_equal(store_import(st, d, true, &v), 0);
	assert_int_equal(v, 3);
	/* Reading back under allocation failures: errors, no leaks. */
	rk_alloc_fail_after(-1);
	store_version *vs;
	int n;
	rules_lists *l;
	assert_int_equal(store_versions(st, "pay", &vs, &n), 0);
	store_versions_free(vs, n);
	assert_int_equal(store_load_lists(st, &l), 0);
	rules_lists_free(l);
	total = rk_alloc_fail_after(-1);
	for (long k = 0; k < total; k++) {
		rk_alloc_fail_after(k);
		int a = store_versions(st, "pay", &vs, &n);
		int b = a ? 0 : store_load_lists(st, &l);
		rk_alloc_fail_after(-1);
		assert_true(a == RK_ENOMEM || b == RK_ENOMEM);
		if (!a)
			store_versions_free(vs, n);
		if (!a && !b)
			rules_lists_free(l);
	}
	rules_def_free(d);
	store_close(st);
}

/* Versions cannot be edited in place, even with sqlite3 by hand. */
static void test_immutable(void **s)
{
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	rules_def *d = def_of("pay", "amount > 1", 1);
	int64_t v;
	assert_int_equal(store_import(st, d, false, &v), 0);
	rules_def_free(d);
	store_close(st);
	raw_exec("UPDATE versions SET definition = '{}'", SQLITE_CONSTRAINT);
	raw_exec("UPDATE versions SET description = 'x'", SQLITE_CONSTRAINT);
	raw_exec("INSERT INTO api_keys (role, prefix, hash, created_at) "
		 "VALUES ('root', 'p', 'h', 0)",
		 SQLITE_CONSTRAINT);
	raw_exec("PRAGMA foreign_keys = ON; INSERT INTO list_items VALUES "
		 "('nolist', 'x')",
		 SQLITE_CONSTRAINT);
}

/* A commit on another connection changes data_version (hot reload). */
static void test_data_version(void **s)
{
	char err[256];
	store *a = store_open(path, true, err, sizeof(err));
	store *b = store_open(path, false, err, sizeof(err));
	int64_t v1, v2, v3;
	assert_int_equal(store_data_version(a, &v1), 0);
	const char *items[] = {"q"};
	assert_int_equal(store_list_add(b, "dv", items, 1), 0);
	assert_int_equal(store_data_version(a, &v2), 0);
	assert_true(v2 != v1);
	assert_int_equal(store_data_version(a, &v3), 0);
	assert_true(v3 == v2);
	store_close(a);
	store_close(b);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_migrate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_unmigrated, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback_history, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_import_atomic, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_import_alloc_failures, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_immutable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
