/*
 * test_rules_redis.c - unit tests of service/rules_redis.c: the value of
 * riskd:rules:{scenario} (version, the lists the rules use, sorted; the
 * file parses back), refusal of malformed values, the riskd:keys table,
 * allocation failures; then publish and fetch against a real
 * redis-server (stale scenarios removed from the index, one and all,
 * the index check, errors once it is gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../cache/region.h"
#include "../../common/rk.h"
#include "../../service/rules_redis.h"
#include "../cache/redis_util.h"

static const char file_json[] =
	"{\"scenario\": \"pay\", \"lists\": {\"own\": [\"z\"]}, "
	"\"rules\": [{\"id\": \"bl\", \"when\": \"ip in @blocked\", "
	"\"action\": \"decline\"}, {\"id\": \"own\", \"when\": "
	"\"ip in @own\", \"score\": 5}]}";

static rules_def *parse(const char *txt)
{
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	rk_diags_cleanup(&d);
	return def;
}

static rules_lists *store_lists(void)
{
	rules_lists *l = rules_lists_new();
	strset *a = strset_new(), *b = strset_new();
	assert_non_null(l);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(strset_add(a, "9.9.9.9", 7), 0);
	assert_int_equal(strset_add(a, "1.1.1.1", 7), 0);
	assert_int_equal(strset_add(b, "x", 1), 0);
	assert_int_equal(rules_lists_put(l, "blocked", a), 0);
	assert_int_equal(rules_lists_put(l, "unused", b), 0);
	return l;
}

static void test_encode_decode(void **st)
{
	(void)st;
	rules_def *def = parse(file_json);
	rules_lists *l = store_lists();
	assert_non_null(def);
	char *v = svc_rr_encode(def, 3, l);
	assert_non_null(v);
	cJSON *o = cJSON_Parse(v);
	assert_non_null(o);
	assert_int_equal(cJSON_GetObjectItem(o, "version")->valueint, 3);
	cJSON *lists = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "file"),
					   "lists");
	char *lt = cJSON_PrintUnformatted(lists);
	/* the file's own list kept, the used one added sorted, the unused
	 * one left out */
	assert_string_equal(lt, "{\"own\":[\"z\"],\"blocked\":[\"1.1.1.1\","
				"\"9.9.9.9\"]}");
	cJSON_free(lt);
	cJSON_Delete(o);

	rk_diags d;
	rk_diags_init(&d);
	rules_def *back = NULL;
	int64_t ver = 0;
	assert_int_equal(svc_rr_decode(v, strlen(v), "pay", &back, &ver, &d),
			 0);
	assert_int_equal(ver, 3);
	assert_int_equal(back->nlists, 2);
	assert_int_equal(back->nrules, 2);
	rules_set *set = rules_compile(back, NULL, &d);
	assert_non_null(set);
	rules_set_free(set);
	rules_def_free(back);
	/* another scenario's key */
	assert_int_equal(svc_rr_decode(v, strlen(v), "other", &back, &ver,
				       &d), RK_ESYNTAX);
	assert_null(back);
	assert_true(d.n > 0);
	rk_diags_cleanup(&d);
	rk_free(v);
	rules_lists_free(l);
	rules_def_free(def);
}

static void test_decode_refuses(void **st)
{
	(void)st;
	static const char *const bad[] = {
		"not json",
		"[1]",
		"{\"file\": {\"scenario\": \"pay\", \"rules\": []}}",
		"{\"version\": 0, \"file\": {\"scenario\": \"pay\", "
		"\"rules\": []}}",
		"{\"version\": 1.5, \"file\": {\"scenario\": \"pay\", "
		"\"rules\": []}}",
		"{\"version\": 1, \"file\": \"x\"}",
		"{\"version\": 1, \"file\": {\"scenario\": \"pay\", \"rules\": "
		"[{\"id\": \"x\"}]}}",
	};
	for (size_t i = 0; i < RK_ARRAY_LEN(bad); i++) {
		rk_diags d;
		rk_diags_init(&d);
		rules_def *def = NULL;
		int64_t ver = 0;
		assert_int_equal(svc_rr_decode(bad[i], strlen(bad[i]), "pay",
					       &def, &ver, &d), RK_ESYNTAX);
		assert_null(def);
		assert_true(d.n > 0);
		rk_diags_cleanup(&d);
	}
}

static void test_keys(void **st)
{
	(void)st;
	store_key k[2] = {{.id = 1, .name = "ops", .role = "admin"},
			  {.id = 2, .name = NULL, .role = "score",
			   .revoked = true}};
	store_key_hash("secret-1", k[0].hash);
	store_key_hash("secret-2", k[1].hash);
	char *v = svc_rr_keys_encode(k, 2);
	assert_non_null(v);
	assert_null(strstr(v, "secret"));
	char err[256];
	svc_keys *t = svc_rr_keys_decode(v, strlen(v), err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(svc_keys_active(t), 1);
	const svc_key *got = NULL;
	assert_int_equal(svc_keys_check(t, "Bearer secret-1", &got),
			 SVC_AUTH_OK);
	assert_true(got->admin);
	assert_int_equal(svc_keys_check(t, "Bearer secret-2", &got),
			 SVC_AUTH_REVOKED);
	svc_keys_release(t);
	rk_free(v);
	v = svc_rr_keys_encode(NULL, 0);
	assert_string_equal(v, "{\"keys\":[]}");
	rk_free(v);
	static const char *const bad[] = {
		"{}", "{\"keys\": [{\"id\": 1}]}",
		"{\"keys\": [{\"id\": 1, \"role\": \"root\", \"hash\": "
		"\"00000000000000000000000000000000"
		"00000000000000000000000000000000\""
		", \"revoked\": false}]}",
	};
	for (size_t i = 0; i < RK_ARRAY_LEN(bad); i++)
		assert_null(svc_rr_keys_decode(bad[i], strlen(bad[i]), err,
					       sizeof(err)));
}

static void test_oom(void **st)
{
	(void)st;
	rules_def *def = parse(file_json);
	rules_lists *l = store_lists();
	store_key k = {.id = 1, .name = "ops", .role = "admin"};
	store_key_hash("s", k.hash);
	int ok = 0;
	for (long n = 0; n < 400; n++) {
		rk_alloc_fail_after(n);
		char *v = svc_rr_encode(def, 2, l);
		rules_def *back = NULL;
		int64_t ver = 0;
		rk_diags d;
		rk_diags_init(&d);
		int rc = v ? svc_rr_decode(v, strlen(v), "pay", &back, &ver,
					   &d) : RK_ENOMEM;
		char *kv = svc_rr_keys_encode(&k, 1);
		char err[128];
		svc_keys *t = kv ? svc_rr_keys_decode(kv, strlen(kv), err,
						      sizeof(err)) : NULL;
		rk_alloc_fail_after(-1);
		if (!rc && t)
			ok++;
		rk_diags_cleanup(&d);
		rules_def_free(back);
		rk_free(v);
		rk_free(kv);
		svc_keys_release(t);
	}
	assert_true(ok > 0);  /* the walk reached the end */
	rules_lists_free(l);
	rules_def_free(def);
}

/* ---- against redis-server ---- */

static void test_publish_fetch(void **st)
{
	(void)st;
	ru_redis srv = {.port = ru_free_port()};
	assert_int_equal(ru_start(&srv), 0);
	rg_config cfg;
	rg_config_defaults(&cfg);
	cfg.nregions = 1;
	snprintf(cfg.regions[0].name, RG_NAME_MAX, "a");
	snprintf(cfg.regions[0].host, RG_HOST_MAX, "127.0.0.1");
	cfg.regions[0].port = srv.port;
	char err[256];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	int64_t dl = rk_now_us() + 2000000;

	/* nothing published yet */
	svc_rr_read r;
	assert_int_equal(svc_rr_fetch(rg, NULL, dl, &r), 0);
	assert_false(r.have_index);
	assert_int_equal(r.n, 0);
	assert_null(r.keys);
	svc_rr_read_cleanup(&r);
	assert_int_equal(svc_rr_index_exists(rg, dl), 0);

	svc_rr_item items[] = {{"a", "{\"v\":1}"}, {"b", "{\"v\":2}"},
			       {"index", "{}"}};
	assert_int_equal(svc_rr_publish(rg, items, 3, "{\"keys\":[]}", dl,
					err, sizeof(err)), 0);
	assert_int_equal(svc_rr_fetch(rg, NULL, dl, &r), 0);
	assert_true(r.have_index);
	assert_int_equal(r.n, 2);  /* "index" is never published */
	for (int i = 0; i < r.n; i++)
		assert_string_equal(r.values[i], !strcmp(r.names[i], "a") ?
					 "{\"v\":1}" : "{\"v\":2}");
	assert_string_equal(r.keys, "{\"keys\":[]}");
	svc_rr_read_cleanup(&r);
	assert_int_equal(svc_rr_index_exists(rg, dl), 1);

	/* b no longer served: out of the index, its key deleted */
	assert_int_equal(svc_rr_publish(rg, items, 1, NULL, dl, err,
					sizeof(err)), 0);
	assert_int_equal(svc_rr_fetch(rg, "b", dl, &r), 0);
	assert_true(r.have_index);
	assert_int_equal(r.n, 0);
	assert_null(r.keys);
	svc_rr_read_cleanup(&r);
	assert_int_equal(svc_rr_fetch(rg, "a", dl, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.values[0], "{\"v\":1}");
	assert_int_equal(r.lens[0], 7);
	svc_rr_read_cleanup(&r);

	/* the last scenario goes: the index still exists (its sentinel),
	 * so a loader sees "none served", not "nothing published" */
	assert_int_equal(svc_rr_publish(rg, items, 0, NULL, dl, err,
					sizeof(err)), 0);
	assert_int_equal(svc_rr_fetch(rg, NULL, dl, &r), 0);
	assert_true(r.have_index);
	assert_int_equal(r.n, 0);
	svc_rr_read_cleanup(&r);
	assert_int_equal(svc_rr_fetch(rg, "a", dl, &r), 0);
	assert_true(r.have_index);
	assert_int_equal(r.n, 0);
	svc_rr_read_cleanup(&r);
	assert_int_equal(svc_rr_index_exists(rg, dl), 1);

	/* Redis gone: errors, nothing left allocated */
	ru_kill(&srv);
	assert_true(svc_rr_fetch(rg, NULL, rk_now_us() + 300000, &r) < 0);
	assert_int_equal(r.n, 0);
	assert_true(svc_rr_index_exists(rg, rk_now_us() + 300000) < 0);
	assert_true(svc_rr_publish(rg, items, 1, NULL, rk_now_us() + 300000,
				   err, sizeof(err)) < 0);
	assert_true(err[0] != '\0');
	rg_free(rg);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_oom),
		cmocka_unit_test(test_publish_fetch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
