/*
 * test_store.c - the SQLite store on real temporary files: migration,
 * versions and activation history, rollback, loading, lists, keys, the
 * data_version another connection's commit changes, and error paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	snprintf(txt, sizeof(txt), "{\"scenario\": \"%s\", \"description\": \"d\", "
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
	store_close(st);
	store_close(NULL);
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
	assert_int_equal(got->nlists, 0);   /* lists live apart */
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
	assert_int_equal(store_key_create(st, "root", NULL, &k3, &id2), RK_EINVAL);
	assert_int_equal(store_key_create(st, "score", "ops", &k3, &id2), RK_EEXIST);
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
	rk_free(k1);
	rk_free(k2);
	store_close(st);
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
		cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
