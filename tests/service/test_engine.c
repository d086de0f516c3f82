/*
 * test_engine.c - unit tests of service/engine.c on a real SQLite file:
 * the first load, reload only when the store changed, a new version
 * swapped in while an old snapshot stays usable, a list change
 * recompiling, a set that no longer compiles refused with the old one
 * kept, the reload thread answering a waiting caller, counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "../../common/rk.h"
#include "../../service/engine.h"
#include "../../store/store.h"

static char path[64];
static svc_config cfg;

static const char *const set_v = "{\"scenario\": \"pay\", \"thresholds\": "
	"{\"review\": %d, \"decline\": 80}, \"rules\": [{\"id\": \"big\", "
	"\"when\": \"amount > 10\", \"score\": 60}, {\"id\": \"bl\", \"when\": "
	"\"ip in @bad\", \"action\": \"decline\"}], \"lists\": {\"bad\": "
	"[\"1.2.3.4\"]}}";

static int64_t import(store *st, int review, bool activate)
{
	char text[1024];
	snprintf(text, sizeof(text), set_v, review);
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(text, strlen(text), &d);
	assert_non_null(def);
	int64_t v = 0;
	assert_int_equal(store_import(st, def, activate, &v), 0);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	return v;
}

static store *setup_store(void)
{
	snprintf(path, sizeof(path), "/tmp/test_engine.%d.db", (int)getpid());
	unlink(path);
	char err[256];
	store *st = store_open(path, true, err, sizeof(err));
	assert_non_null(st);
	svc_config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "%s", path);
	cfg.reload_ms = 0;
	return st;
}

static void teardown_store(store *st)
{
	store_close(st);
	unlink(path);
	char wal[80];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	unlink(wal);
}

static int review_of(const svc_scn *sc)
{
	return rules_set_def(sc->set)->th_review;
}

static void test_load_and_swap(void **state)
{
	(void)state;
	store *st = setup_store();
	char err[256];

	/* an empty store: no scenarios, generation 0 */
	svc_engine *e = svc_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	svc_snapshot *s0 = svc_engine_acquire(e);
	assert_int_equal(s0->nscn, 0);
	svc_snapshot_release(s0);

	assert_int_equal(import(st, 50, true), 1);
	assert_int_equal(svc_engine_reload_now(e), 0);
	svc_snapshot *s1 = svc_engine_acquire(e);
	assert_int_equal(s1->nscn, 1);
	svc_scn *sc1 = svc_snapshot_find(s1, "pay");
	assert_non_null(sc1);
	assert_int_equal(sc1->version, 1);
	assert_int_equal(rules_set_version(sc1->set), 1);
	assert_null(svc_snapshot_find(s1, "nope"));
	uint64_t g1 = svc_engine_generation(e);
	assert_int_equal(g1, s1->generation);

	/* no change in the store: the snapshot stays */
	assert_int_equal(svc_engine_reload_now(e), 0);
	assert_int_equal(svc_engine_generation(e), g1);

	/* a new version swaps; the old snapshot is still usable */
	assert_int_equal(import(st, 40, true), 2);
	assert_int_equal(svc_engine_reload_now(e), 0);
	assert_int_equal(svc_engine_generation(e), g1 + 1);
	svc_snapshot *s2 = svc_engine_acquire(e);
	svc_scn *sc2 = svc_snapshot_find(s2, "pay");
	assert_int_equal(sc2->version, 2);
	assert_int_equal(review_of(sc2), 40);
	assert_int_equal(review_of(sc1), 50);   /* old one still alive */
	svc_snapshot_release(s1);

	/* importing without activating changes nothing served */
	assert_int_equal(import(st, 30, false), 3);
	assert_int_equal(svc_engine_reload_now(e), 0);
	svc_snapshot *s3 = svc_engine_acquire(e);
	assert_ptr_equal(svc_snapshot_find(s3, "pay"), sc2);  /* reused */
	svc_snapshot_release(s3);

	/* a list change recompiles the same version */
	const char *item = "5.6.7.8";
	assert_int_equal(store_list_add(st, "bad", &item, 1), 0);
	assert_int_equal(svc_engine_reload_now(e), 0);
	s3 = svc_engine_acquire(e);
	svc_scn *sc3 = svc_snapshot_find(s3, "pay");
	assert_ptr_not_equal(sc3, sc2);
	assert_int_equal(sc3->version, 2);
	svc_snapshot_release(s3);
	svc_snapshot_release(s2);

	svc_engine_stats stt;
	svc_engine_get_stats(e, &stt);
	assert_int_equal(stt.nscenarios, 1);
	assert_int_equal(stt.compile_refused, 0);
	assert_true(stt.reloads_ok >= 5);
	svc_engine_free(e);
	teardown_store(st);
}

static void test_refused_keeps_old(void **state)
{
	(void)state;
	store *st = setup_store();
	char err[256];
	import(st, 50, true);
	svc_engine *e = svc_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	svc_snapshot *s = svc_engine_acquire(e);
	svc_scn *before = svc_snapshot_find(s, "pay");
	assert_non_null(before);
	svc_snapshot_release(s);

	/* the rules use @bad; deleting the list makes them uncompilable */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE "
				      "FROM lists WHERE name = 'bad'", NULL,
				      NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(svc_engine_reload_now(e), 0);
	s = svc_engine_acquire(e);
	assert_ptr_equal(svc_snapshot_find(s, "pay"), before);
	svc_snapshot_release(s);
	svc_engine_stats stt;
	svc_engine_get_stats(e, &stt);
	assert_int_equal(stt.compile_refused, 1);
	svc_engine_free(e);
	teardown_store(st);
}

struct wait {
	int calls, rc;
	char status[32];
};

static void done(void *arg, int rc, const cJSON *report)
{
	struct wait *w = arg;
	w->calls++;
	w->rc = rc;
	const cJSON *sc = report ? cJSON_GetArrayItem(cJSON_GetObjectItem(
					report, "scenarios"), 0) : NULL;
	const cJSON *status = cJSON_GetObjectItem(sc, "status");
	snprintf(w->status, sizeof(w->status), "%s",
		 cJSON_IsString(status) ? status->valuestring : "-");
}

static void test_reload_thread(void **state)
{
	(void)state;
	store *st = setup_store();
	char err[256];
	import(st, 50, true);
	svc_engine *e = svc_engine_new(&cfg, err, sizeof(err));
	assert_non_null(e);
	struct wait w = { 0 };
	assert_int_equal(svc_engine_reload(e, done, &w), RK_ESTATE);
	assert_int_equal(svc_engine_start(e), 0);
	import(st, 45, true);
	assert_int_equal(svc_engine_reload(e, done, &w), 0);
	for (int i = 0; i < 500 && !w.calls; i++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
	}
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.rc, 0);
	assert_string_equal(w.status, "loaded");
	svc_snapshot *s = svc_engine_acquire(e);
	assert_int_equal(svc_snapshot_find(s, "pay")->version, 2);
	svc_snapshot_release(s);
	svc_engine_stop(e);
	assert_int_equal(svc_engine_reload(e, done, &w), RK_ESTATE);
	svc_engine_free(e);
	teardown_store(st);
}

static void test_missing_store(void **state)
{
	(void)state;
	char err[256];
	svc_config_defaults(&cfg);
	snprintf(cfg.db, sizeof(cfg.db), "/nonexistent/riskd.db");
	assert_null(svc_engine_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "riskctl init"));
	svc_engine_free(NULL);
}

static void test_counters(void **state)
{
	(void)state;
	store *st = setup_store();
	char err[256];
	import(st, 50, true);
	svc_engine *e = svc_engine_new(&cfg, err, sizeof(err));
	svc_snapshot *s = svc_engine_acquire(e);
	svc_scn *sc = svc_snapshot_find(s, "pay");
	int hits[] = { 0, 1 }, errs[] = { 0 };
	rules_result r = { .hits = hits, .nhits = 2, .errors = errs,
			   .nerrors = 1 };
	svc_scn_count(sc, &r);
	svc_scn_count(sc, &r);
	assert_int_equal(atomic_load(&sc->hits[0]), 2);
	assert_int_equal(atomic_load(&sc->hits[1]), 2);
	assert_int_equal(atomic_load(&sc->errors[0]), 2);
	assert_int_equal(atomic_load(&sc->errors[1]), 0);
	svc_snapshot_release(s);
	svc_engine_free(e);
	teardown_store(st);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_and_swap),
		cmocka_unit_test(test_refused_keeps_old),
		cmocka_unit_test(test_reload_thread),
		cmocka_unit_test(test_missing_store),
		cmocka_unit_test(test_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
