/*
 * test_auth.c - unit tests of service/auth.c: a key table built from a
 * real temporary SQLite store (roles, revoked, unknown, missing and
 * malformed headers, table equality), the engine carrying the table in
 * its snapshot, and the token bucket (burst, refill, Retry-After,
 * unlimited, allocation failure).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../common/rk.h"
#include "../../service/auth.h"
#include "../../service/engine.h"
#include "../../store/store.h"

static char path[64];

static store *open_store(void)
{
	snprintf(path, sizeof(path), "/tmp/test_auth.%d.db", (int)getpid());
	unlink(path);
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	return st;
}

static void close_store(store *st)
{
	store_close(st);
	char f[80];
	unlink(path);
	snprintf(f, sizeof(f), "%s-wal", path);
	unlink(f);
	snprintf(f, sizeof(f), "%s-shm", path);
	unlink(f);
}

static char *bearer(const char *key)
{
	static char h[600];
	snprintf(h, sizeof(h), "Bearer %s", key);
	return h;
}

static void test_table_from_store(void **state)
{
	(void)state;
	store *st = open_store();
	char err[256];
	svc_keys *k = svc_keys_load(st, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(svc_keys_active(k), 0);
	const svc_key *key;
	assert_int_equal(svc_keys_check(k, bearer("nope"), &key),
			 SVC_AUTH_UNKNOWN);
	svc_keys_release(k);

	char *admin, *scorer, *old;
	int64_t id_admin, id_score, id_old;
	assert_int_equal(store_key_create(st, "admin", "ops", &admin,
					  &id_admin), 0);
	assert_int_equal(store_key_create(st, "score", "shop", &scorer,
					  &id_score), 0);
	assert_int_equal(store_key_create(st, "score", NULL, &old, &id_old),
			 0);
	assert_int_equal(store_key_revoke(st, "shop"), 0);
	k = svc_keys_load(st, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(svc_keys_active(k), 2);

	assert_int_equal(svc_keys_check(k, bearer(admin), &key), SVC_AUTH_OK);
	assert_non_null(key);
	assert_true(key->admin);
	assert_int_equal(key->id, id_admin);
	assert_string_equal(key->name, "ops");

	assert_int_equal(svc_keys_check(k, bearer(old), &key), SVC_AUTH_OK);
	assert_false(key->admin);
	assert_int_equal(key->id, id_old);
	assert_string_equal(key->name, "");

	assert_int_equal(svc_keys_check(k, bearer(scorer), &key),
			 SVC_AUTH_REVOKED);
	assert_int_equal(key->id, id_score);

	/* unknown, missing, malformed */
	assert_int_equal(svc_keys_check(k, bearer("rk_not_a_key"), &key),
			 SVC_AUTH_UNKNOWN);
	assert_null(key);
	assert_int_equal(svc_keys_check(k, NULL, &key), SVC_AUTH_MISSING);
	assert_int_equal(svc_keys_check(k, "", &key), SVC_AUTH_MALFORMED);
	assert_int_equal(svc_keys_check(k, "Bearer", &key),
			 SVC_AUTH_MALFORMED);
	assert_int_equal(svc_keys_check(k, "Bearer ", &key),
			 SVC_AUTH_MALFORMED);
	assert_int_equal(svc_keys_check(k, admin, &key), SVC_AUTH_MALFORMED);
	char h[600];
	snprintf(h, sizeof(h), "Basic %s", admin);
	assert_int_equal(svc_keys_check(k, h, &key), SVC_AUTH_MALFORMED);
	snprintf(h, sizeof(h), "Bearer %s extra", admin);
	assert_int_equal(svc_keys_check(k, h, &key), SVC_AUTH_MALFORMED);
	/* scheme is case-insensitive, spaces around are allowed */
	snprintf(h, sizeof(h), "  bearer   %s  ", admin);
	assert_int_equal(svc_keys_check(k, h, &key), SVC_AUTH_OK);
	assert_int_equal(key->id, id_admin);
	/* a prefix or an extension of a key is not the key */
	snprintf(h, sizeof(h), "Bearer %.*s", (int)strlen(admin) - 1, admin);
	assert_int_equal(svc_keys_check(k, h, &key), SVC_AUTH_UNKNOWN);
	snprintf(h, sizeof(h), "Bearer %sx", admin);
	assert_int_equal(svc_keys_check(k, h, &key), SVC_AUTH_UNKNOWN);
	/* a very long token is unknown, not a crash */
	char *longh = rk_malloc(5000);
	assert_non_null(longh);
	memcpy(longh, "Bearer ", 7);
	memset(longh + 7, 'a', 4000);
	longh[4007] = '\0';
	assert_int_equal(svc_keys_check(k, longh, &key), SVC_AUTH_UNKNOWN);
	rk_free(longh);

	/* equality follows the store */
	svc_keys *same = svc_keys_load(st, err, sizeof(err));
	assert_true(svc_keys_equal(k, same));
	svc_keys_release(same);
	assert_int_equal(store_key_revoke(st, "ops"), 0);
	svc_keys *after = svc_keys_load(st, err, sizeof(err));
	assert_false(svc_keys_equal(k, after));
	assert_int_equal(svc_keys_active(after), 1);
	assert_int_equal(svc_keys_check(after, bearer(admin), &key),
			 SVC_AUTH_REVOKED);
	/* a reference keeps the old table usable */
	svc_keys *held = svc_keys_ref(k);
	svc_keys_release(k);
	assert_int_equal(svc_keys_check(held, bearer(admin), &key),
			 SVC_AUTH_OK);
	svc_keys_release(held);
	svc_keys_release(after);
	svc_keys_release(NULL);
	assert_true(svc_keys_equal(NULL, NULL));

	rk_free(admin);
	rk_free(scorer);
	rk_free(old);
	close_store(st);
}

static void test_many_keys(void **state)
{
	(void)state;
	store *st = open_store();
	char *keys[40];
	for (int i = 0; i < 40; i++) {
		int64_t id;
		assert_int_equal(store_key_create(st, i % 3 ? "score" :
						  "admin", NULL, &keys[i],
						  &id), 0);
	}
	char err[256];
	svc_keys *k = svc_keys_load(st, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(svc_keys_active(k), 40);
	for (int i = 0; i < 40; i++) {
		const svc_key *key;
		assert_int_equal(svc_keys_check(k, bearer(keys[i]), &key),
				 SVC_AUTH_OK);
		assert_int_equal(key->admin, i % 3 == 0);
		rk_free(keys[i]);
	}
	svc_keys_release(k);
	close_store(st);
}

static void test_bad_hash_and_oom(void **state)
{
	(void)state;
	store_key sk = { .id = 1, .role = "admin", .hash = "zz" };
	char err[256] = "";
	assert_null(svc_keys_new(&sk, 1, err, sizeof(err)));
	assert_string_equal(err, "API key 1: bad hash");
	snprintf(sk.hash, sizeof(sk.hash), "%064d", 0);
	for (int n = 0; n < 3; n++) {
		rk_alloc_fail_after(n);
		svc_keys *k = svc_keys_new(&sk, 1, err, sizeof(err));
		rk_alloc_fail_after(-1);
		assert_null(k);
		assert_string_equal(err, "out of memory");
	}
	svc_keys *k = svc_keys_new(&sk, 1, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(svc_keys_active(k), 1);
	svc_keys_release(k);
}

static void test_engine_snapshot_keys(void **state)
{
	(void)state;
	store *st = open_store();
	svc_config cfg;
	svc_config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "%s", path);
	cfg.reload_ms = 0;
	char err[256];
	svc_engine *e = svc_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	svc_snapshot *s = svc_engine_acquire(e);
	assert_int_equal(s->nkeys, 0);
	uint64_t gen = s->generation;
	svc_snapshot_release(s);

	char *key;
	int64_t id;
	assert_int_equal(store_key_create(st, "score", "k1", &key, &id), 0);
	assert_int_equal(svc_engine_reload_now(e), 0);
	s = svc_engine_acquire(e);
	assert_int_equal(s->nkeys, 1);
	assert_true(s->generation > gen);
	const svc_key *k;
	assert_int_equal(svc_keys_check(s->keys, bearer(key), &k),
			 SVC_AUTH_OK);
	gen = s->generation;
	svc_snapshot_release(s);

	/* revoke one, create another: same count, new table */
	char *key2;
	assert_int_equal(store_key_revoke(st, "k1"), 0);
	assert_int_equal(store_key_create(st, "admin", "k2", &key2, &id), 0);
	assert_int_equal(svc_engine_reload_now(e), 0);
	s = svc_engine_acquire(e);
	assert_int_equal(s->nkeys, 1);
	assert_true(s->generation > gen);
	assert_int_equal(svc_keys_check(s->keys, bearer(key), &k),
			 SVC_AUTH_REVOKED);
	assert_int_equal(svc_keys_check(s->keys, bearer(key2), &k),
			 SVC_AUTH_OK);
	assert_true(k->admin);
	svc_snapshot_release(s);

	rk_free(key);
	rk_free(key2);
	svc_engine_free(e);
	close_store(st);
}

static void test_bucket(void **state)
{
	(void)state;
	char err[64];
	svc_auth *a = svc_auth_new(2, 3, err, sizeof(err));
	assert_non_null(a);
	int ra;
	int64_t t = 1000000;
	/* the burst of 3 at once, then refused */
	for (int i = 0; i < 3; i++)
		assert_int_equal(svc_auth_take(a, 7, t, &ra), 0);
	assert_int_equal(svc_auth_take(a, 7, t, &ra), RK_ELIMIT);
	assert_int_equal(ra, 1);
	/* another key has its own bucket (same stripe: 7 + 16) */
	assert_int_equal(svc_auth_take(a, 23, t, &ra), 0);
	/* 2 per second: after 250 ms half a token, after 500 ms one */
	assert_int_equal(svc_auth_take(a, 7, t + 250000, &ra), RK_ELIMIT);
	assert_int_equal(svc_auth_take(a, 7, t + 500000, &ra), 0);
	assert_int_equal(svc_auth_take(a, 7, t + 500000, &ra), RK_ELIMIT);
	/* a long pause refills to the burst, not beyond */
	t += 60000000;
	for (int i = 0; i < 3; i++)
		assert_int_equal(svc_auth_take(a, 7, t, &ra), 0);
	assert_int_equal(svc_auth_take(a, 7, t, &ra), RK_ELIMIT);
	/* time going backwards does not add tokens */
	assert_int_equal(svc_auth_take(a, 7, t - 5000000, &ra), RK_ELIMIT);
	svc_auth_free(a);

	/* slow rate: Retry-After rounds up to whole seconds */
	a = svc_auth_new(1, 1, err, sizeof(err));
	assert_int_equal(svc_auth_take(a, 1, 0, &ra), 0);
	assert_int_equal(svc_auth_take(a, 1, 100000, &ra), RK_ELIMIT);
	assert_int_equal(ra, 1);
	svc_auth_free(a);

	/* burst 0 = the rate */
	a = svc_auth_new(5, 0, err, sizeof(err));
	for (int i = 0; i < 5; i++)
		assert_int_equal(svc_auth_take(a, 1, 0, &ra), 0);
	assert_int_equal(svc_auth_take(a, 1, 0, &ra), RK_ELIMIT);
	svc_auth_free(a);

	/* rate 0 = unlimited */
	a = svc_auth_new(0, 0, err, sizeof(err));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(svc_auth_take(a, 1, 0, &ra), 0);
	svc_auth_free(a);
	svc_auth_free(NULL);

	/* a bucket that cannot be made lets the request through */
	a = svc_auth_new(1, 1, err, sizeof(err));
	rk_alloc_fail_after(0);
	assert_int_equal(svc_auth_take(a, 1, 0, &ra), RK_ENOMEM);
	rk_alloc_fail_after(-1);
	svc_auth_free(a);
	rk_alloc_fail_after(0);
	assert_null(svc_auth_new(1, 1, err, sizeof(err)));
	rk_alloc_fail_after(-1);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_from_store),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_bad_hash_and_oom),
		cmocka_unit_test(test_engine_snapshot_keys),
		cmocka_unit_test(test_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
