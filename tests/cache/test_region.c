/*
 * test_region.c - the Redis regions tier against real redis-server
 * processes (tests/cache/redis_util.h): configuration checks, pooled
 * connections and 100-command pipelines, failover after SIGKILL at the
 * default intervals (timed), request-path failures, a hung (SIGSTOPped)
 * Redis bounded by every budget, failback only after the recover
 * threshold and the minimum up time, pub/sub across regions and
 * restarts, rg_free with a dead region, allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "cache/region.h"
#include "common/rk.h"
#include "tests/cache/redis_util.h"

/* Timing slack: generous under valgrind, where everything is slower. */
static int64_t slack_us(void)
{
	const char *v = getenv("VALGRIND");
	return v && *v == '1' ? 200000 : 50000;
}

/* ---- transition log ---- */

static struct {
	pthread_mutex_t mu;
	int n, failovers, failbacks, downs, ups, subscribed;
	char last[256];
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_event(void *ud, const char *msg)
{
	(void)ud;
	pthread_mutex_lock(&ev.mu);
	ev.n++;
	ev.failovers += strstr(msg, "failover") != NULL;
	ev.failbacks += strstr(msg, "failback") != NULL;
	ev.downs += strstr(msg, " down (") != NULL;
	ev.ups += strstr(msg, " up (") != NULL;
	ev.subscribed += strstr(msg, "subscribed on") != NULL;
	snprintf(ev.last, sizeof(ev.last), "%s", msg);
	pthread_mutex_unlock(&ev.mu);
	printf("  event: %s\n", msg);
}

static void ev_reset(void)
{
	pthread_mutex_lock(&ev.mu);
	ev.n = ev.failovers = ev.failbacks = ev.downs = ev.ups = 0;
	ev.subscribed = 0;
	pthread_mutex_unlock(&ev.mu);
}

static int ev_get(int *field)
{
	pthread_mutex_lock(&ev.mu);
	int v = *field;
	pthread_mutex_unlock(&ev.mu);
	return v;
}

static void cfg_regions(rg_config *cfg, ru_redis *srv, int n, int home)
{
	rg_config_defaults(cfg);
	for (int i = 0; i < n; i++) {
		snprintf(cfg->regions[i].name, RG_NAME_MAX, "%c", 'a' + i);
		snprintf(cfg->regions[i].host, RG_HOST_MAX, "127.0.0.1");
		cfg->regions[i].port = srv[i].port;
	}
	cfg->nregions = n;
	cfg->home = home;
	cfg->on_event = on_event;
}

static void start_servers(ru_redis *srv, int n)
{
	for (int i = 0; i < n; i++)
		assert_int_equal(ru_start(&srv[i]), 0);
}

static void stop_servers(ru_redis *srv, int n)
{
	for (int i = 0; i < n; i++) {
		ru_thaw(&srv[i]);
		ru_kill(&srv[i]);
	}
}

static int active_of(rg_t *rg)
{
	rg_status st[RG_MAX_REGIONS];
	int active;
	rg_snapshot(rg, st, NULL, &active, NULL);
	return active;
}

static uint64_t failovers_of(rg_t *rg)
{
	rg_status st[RG_MAX_REGIONS];
	uint64_t f;
	rg_snapshot(rg, st, NULL, NULL, &f);
	return f;
}

/* Polls every 2 ms until the active region is want or timeout; the wait
 * in microseconds, or -1. */
static int64_t wait_active(rg_t *rg, int want, int64_t timeout_us)
{
	int64_t t0 = rk_now_us();
	while (rk_now_us() - t0 < timeout_us) {
		if (active_of(rg) == want)
			return rk_now_us() - t0;
		ru_sleep_ms(2);
	}
	return -1;
}

/* One SET + GET through rg_exec; the answering region in *region. */
static int set_get(rg_t *rg, const char *key, const char *val,
		   const char **region)
{
	const char *a0[] = {"SET", key, val};
	const char *a1[] = {"GET", key};
	const char **argv[] = {a0, a1};
	int argc[] = {3, 2};
	redisReply *rep[2];
	int rc = rg_exec(rg, 2, argv, NULL, argc, rep,
			 rk_now_us() + 500000, region);
	if (rc)
		return rc;
	rc = rep[1]->type == REDIS_REPLY_STRING && !strcmp(rep[1]->str, val)
		     ? 0
		     : RK_EIO;
	freeReplyObject(rep[0]);
	freeReplyObject(rep[1]);
	return rc;
}

/* ---- tests ---- */

static void test_config(void **st)
{
	char err[200];
	rg_config cfg;
	rg_config_defaults(&cfg);
	assert_int_equal(cfg.health_interval_ms, 250);
	assert_int_equal(cfg.health_timeout_ms, 100);
	assert_int_equal(cfg.fail_threshold, 3);
	assert_int_equal(cfg.recover_threshold, 5);
	assert_int_equal(cfg.failback_min_ms, 30000);
	assert_null(rg_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "regions"));

	cfg.nregions = 2;
	snprintf(cfg.regions[0].name, RG_NAME_MAX, "a");
	snprintf(cfg.regions[0].host, RG_HOST_MAX, "127.0.0.1");
	cfg.regions[0].port = 1;
	cfg.regions[1] = cfg.regions[0];
	assert_null(rg_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	snprintf(cfg.regions[1].name, RG_NAME_MAX, "b");
	cfg.regions[1].port = 70000;
	assert_null(rg_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "port"));
	cfg.regions[1].port = 2;
	cfg.home = 2;
	assert_null(rg_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "home"));
	cfg.home = 1;
	cfg.fail_threshold = 0;
	assert_null(rg_new(&cfg, err, sizeof(err)));
	assert_non_null(strstr(err, "fail threshold"));
	cfg.nregions = 5;
	assert_null(rg_new(&cfg, err, sizeof(err)));
	rg_free(NULL);
}

/* Nothing listens: both regions down at start, no connection, no
 * crash; rg_free returns at once. */
static void test_all_down(void **st)
{
	ru_redis srv[2] = {{.port = ru_free_port()}, {.port = ru_free_port()}};
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	assert_false(rg_is_ready(rg));
	assert_null(rg_acquire(rg, rk_now_us() + 100000));
	const char *region = NULL;
	assert_int_equal(set_get(rg, "k", "v", &region), RK_EUNAVAIL);
	assert_string_equal(region, "a");
	rg_status s[RG_MAX_REGIONS];
	int n, active;
	rg_snapshot(rg, s, &n, &active, NULL);
	assert_int_equal(n, 2);
	assert_string_equal(s[0].state, "down");
	assert_int_equal(s[0].rtt_us, -1);
	int64_t t0 = rk_now_us();
	rg_free(rg);
	assert_true(rk_now_us() - t0 < 1000000);
}

static void test_basic(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 1); /* home is b */
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	assert_true(rg_is_ready(rg));
	assert_string_equal(rg_active_name(rg), "b");

	rg_status s[RG_MAX_REGIONS];
	int n, active;
	uint64_t fo;
	ru_sleep_ms(300);
	rg_snapshot(rg, s, &n, &active, &fo);
	assert_int_equal(n, 2);
	assert_int_equal(active, 1);
	assert_int_equal(fo, 0);
	assert_string_equal(s[0].name, "a");
	assert_string_equal(s[0].role, "standby");
	assert_string_equal(s[1].role, "home");
	assert_string_equal(s[0].state, "up");
	assert_true(s[1].active && !s[0].active);
	assert_true(s[0].rtt_us >= 0 && s[0].rtt_us < 100000);
	assert_true(s[0].successes >= 1);
	assert_true(s[0].changed_ms > 1600000000000LL);

	const char *region = NULL;
	assert_int_equal(set_get(rg, "k", "v1", &region), 0);
	assert_string_equal(region, "b");
	/* The write went to b only. */
	redisContext *pa = ru_connect(&srv[0]);
	redisReply *r = redisCommand(pa, "EXISTS k");
	assert_int_equal(r->integer, 0);
	freeReplyObject(r);
	redisFree(pa);

	/* Pooled: the same connection comes back. */
	rg_conn *c = rg_acquire(rg, rk_now_us() + 100000);
	assert_non_null(c);
	redisContext *ctx = rg_conn_ctx(c);
	assert_string_equal(rg_conn_region(c), "b");
	assert_int_equal(rg_conn_set_budget(c, rk_now_us() + 100000), 0);
	assert_int_equal(rg_conn_set_budget(c, rk_now_us() - 1), RK_ETIMEOUT);
	rg_release(rg, c, false);
	c = rg_acquire(rg, rk_now_us() + 100000);
	assert_ptr_equal(rg_conn_ctx(c), ctx);
	rg_release(rg, c, false);

	assert_int_equal(rg_publish(rg, "nobody", "x", 1,
				    rk_now_us() + 100000),
			 0);
	assert_int_equal(rg_subscribe(rg, NULL, 0, NULL, NULL), RK_EINVAL);
	rg_free(rg);
	stop_servers(srv, 2);
}

static long info_stat(redisContext *c, const char *field)
{
	redisReply *r = redisCommand(c, "INFO stats");
	assert_non_null(r);
	const char *p = strstr(r->str, field);
	assert_non_null(p);
	long v = strtol(p + strlen(field) + 1, NULL, 10);
	freeReplyObject(r);
	return v;
}

static void test_pipeline(void **st)
{
	ru_redis srv[1] = {{0}};
	start_servers(srv, 1);
	rg_config cfg;
	cfg_regions(&cfg, srv, 1, 0);
	cfg.health_interval_ms = 10000; /* keep pings out of the count */
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	redisContext *plain = ru_connect(&srv[0]);

	enum { N = 100 };
	const char *args[N][3];
	const char **argv[N];
	int argc[N];
	char vals[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(vals[i], sizeof(vals[i]), "%d", i);
		args[i][0] = i == N - 1 ? "LPUSH" : "INCRBY";
		args[i][1] = "counter";
		args[i][2] = vals[i];
		argv[i] = args[i];
		argc[i] = 3;
	}
	redisReply *rep[N];
	rg_conn *c = rg_acquire(rg, rk_now_us() + 200000);
	assert_non_null(c);
	long reads0 = info_stat(plain, "total_reads_processed");
	int64_t t0 = rk_now_us();
	assert_int_equal(rg_pipeline(c, N, argv, NULL, argc, rep,
				     rk_now_us() + 500000),
			 0);
	int64_t el = rk_now_us() - t0;
	long reads = info_stat(plain, "total_reads_processed") - reads0;
	rg_release(rg, c, false);
	printf("  pipeline of %d commands: %lld us, %ld server reads\n", N,
	       (long long)el, reads);
	/* One round trip: the server read all 100 commands in a few reads
	 * (the INFO call itself is one); 100 round trips would be 100. */
	assert_true(reads <= 5);
	for (int i = 0; i < N - 1; i++) {
		assert_int_equal(rep[i]->type, REDIS_REPLY_INTEGER);
		assert_int_equal(rep[i]->integer, (long long)i * (i + 1) / 2);
	}
	/* An error reply is a reply, not a failure. */
	assert_int_equal(rep[N - 1]->type, REDIS_REPLY_ERROR);
	for (int i = 0; i < N; i++)
		freeReplyObject(rep[i]);

	/* Binary-safe lengths, and the connection stays usable. */
	const char *b[] = {"SET", "bin", "a\0b"};
	size_t blen[] = {3, 3, 3};
	const char **bargv[] = {b};
	const size_t *bargvlen[] = {blen};
	int bargc = 3;
	assert_int_equal(rg_exec(rg, 1, bargv, bargvlen, &bargc, rep,
				 rk_now_us() + 200000, NULL),
			 0);
	freeReplyObject(rep[0]);
	redisReply *r = redisCommand(plain, "STRLEN bin");
	assert_int_equal(r->integer, 3);
	freeReplyObject(r);
	c = rg_acquire(rg, rk_now_us() + 200000);
	assert_int_equal(rg_pipeline(c, 0, argv, NULL, argc, rep, 0),
			 RK_EINVAL);
	assert_int_equal(rg_pipeline(c, 1, argv, NULL, argc, rep,
				     rk_now_us() - 1),
			 RK_ETIMEOUT);
	rg_release(rg, c, true);
	assert_int_equal(failovers_of(rg), 0);
	redisFree(plain);
	rg_free(rg);
	stop_servers(srv, 1);
}

/* SIGKILL of the active region at the default intervals: the failover is
 * done by health pings alone within 1 s. */
static void test_failover_sigkill(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	ev_reset();
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	const char *region;
	assert_int_equal(set_get(rg, "k", "v", &region), 0);
	assert_string_equal(region, "a");
	ru_sleep_ms(100);

	int64_t t0 = rk_now_us();
	ru_kill(&srv[0]);
	int64_t took = wait_active(rg, 1, 3000000);
	printf("  failover after SIGKILL: %lld ms (interval 250, timeout "
	       "100, threshold 3)\n",
	       (long long)took / 1000);
	assert_true(took >= 0);
	assert_true(took < 1000000);
	assert_true(rk_now_us() - t0 < 1000000 + slack_us());
	assert_int_equal(failovers_of(rg), 1);
	assert_int_equal(ev_get(&ev.failovers), 1);
	assert_int_equal(ev_get(&ev.downs), 1);
	assert_int_equal(set_get(rg, "k", "v", &region), 0);
	assert_string_equal(region, "b");
	assert_true(rg_is_ready(rg));

	/* Home stays away: rg_free with a dead region is prompt. */
	t0 = rk_now_us();
	rg_free(rg);
	assert_true(rk_now_us() - t0 < 500000);
	stop_servers(srv, 2);
}

/* Failures reported by callers count like failed pings, and a success
 * ends a run of them. The health interval is long so only requests
 * move the region. */
static void test_request_failures(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	cfg.health_interval_ms = 20000;
	ev_reset();
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);

	/* fail, fail, success, fail, fail: still home. */
	bool pattern[] = {true, true, false, true, true};
	for (size_t i = 0; i < RK_ARRAY_LEN(pattern); i++) {
		rg_conn *c = rg_acquire(rg, rk_now_us() + 200000);
		assert_non_null(c);
		assert_string_equal(rg_conn_region(c), "a");
		rg_release(rg, c, pattern[i]);
	}
	assert_int_equal(active_of(rg), 0);
	rg_status s[RG_MAX_REGIONS];
	rg_snapshot(rg, s, NULL, NULL, NULL);
	assert_int_equal(s[0].fails, 2);
	/* The third in a row moves at once, between pings. */
	rg_conn *c = rg_acquire(rg, rk_now_us() + 200000);
	rg_release(rg, c, true);
	assert_int_equal(active_of(rg), 1);
	rg_snapshot(rg, s, NULL, NULL, NULL);
	assert_string_equal(s[0].state, "down");
	assert_int_equal(s[0].fails, 3);
	assert_int_equal(ev_get(&ev.failovers), 1);
	rg_free(rg);

	/* A real outage between pings: b's requests fail over by
	 * themselves (refused connects count) within a few calls. */
	ev_reset();
	rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	assert_int_equal(active_of(rg), 0);
	ru_kill(&srv[0]);
	int calls = 0, fails = 0;
	const char *region = NULL;
	int64_t t0 = rk_now_us();
	while (calls < 10) {
		calls++;
		if (set_get(rg, "k", "v", &region) == 0)
			break;
		fails++;
	}
	printf("  request-path failover: %d failed calls, %lld us\n", fails,
	       (long long)(rk_now_us() - t0));
	assert_int_equal(fails, 3);
	assert_string_equal(region, "b");
	assert_true(rk_now_us() - t0 < 1000000);
	rg_free(rg);
	stop_servers(srv, 2);
}

/* A hung Redis (SIGSTOP): no call waits past its budget, the failover
 * still happens, and rg_free does not hang. */
static void test_sigstop(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	ev_reset();
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	const char *region;
	assert_int_equal(set_get(rg, "k", "v", &region), 0);

	ru_freeze(&srv[0]);
	int64_t frozen = rk_now_us();
	/* A plain hiredis call under rg_conn_set_budget is bounded too. */
	rg_conn *c = rg_acquire(rg, rk_now_us() + 30000);
	assert_non_null(c);
	assert_string_equal(rg_conn_region(c), "a");
	int64_t dl = rk_now_us() + 30000;
	assert_int_equal(rg_conn_set_budget(c, dl), 0);
	redisReply *r = redisCommand(rg_conn_ctx(c), "GET k");
	assert_null(r);
	assert_true(rk_now_us() <= dl + slack_us());
	rg_release(rg, c, true);

	enum { N = 10 };
	const char *args[N][2];
	const char **argv[N];
	int argc[N];
	for (int i = 0; i < N; i++) {
		args[i][0] = "GET";
		args[i][1] = "k";
		argv[i] = args[i];
		argc[i] = 2;
	}
	int calls = 0, ok_b = 0, timeouts = 0;
	int64_t worst_over = INT64_MIN;
	while (ok_b < 20 && rk_now_us() - frozen < 3000000) {
		int64_t t0 = rk_now_us();
		int64_t deadline = t0 + 20000;
		redisReply *rep[N];
		c = rg_acquire(rg, deadline);
		assert_true(rk_now_us() <= deadline + slack_us());
		if (!c)
			continue;
		calls++;
		int rc = rg_conn_set_budget(c, deadline);
		if (!rc)
			rc = rg_pipeline(c, N, argv, NULL, argc, rep,
					 deadline);
		int64_t over = rk_now_us() - deadline;
		if (over > worst_over)
			worst_over = over;
		assert_true(over <= slack_us());
		if (rc == 0) {
			assert_string_equal(rg_conn_region(c), "b");
			ok_b++;
			for (int i = 0; i < N; i++)
				freeReplyObject(rep[i]);
		} else {
			assert_int_equal(rc, RK_ETIMEOUT);
			timeouts++;
		}
		rg_release(rg, c, rc != 0);
	}
	printf("  hung region: %d calls, %d timed out, worst %lld us past "
	       "the deadline (negative = before), failover after %lld ms\n",
	       calls, timeouts, (long long)worst_over,
	       (long long)(rk_now_us() - frozen) / 1000);
	assert_int_equal(ok_b, 20);
	assert_true(timeouts <= 3);
	assert_int_equal(active_of(rg), 1);
	assert_int_equal(ev_get(&ev.failovers), 1);

	ru_sleep_ms(300); /* let a prober block in a PING to the hung one */
	int64_t t0 = rk_now_us();
	rg_free(rg);
	int64_t took = rk_now_us() - t0;
	printf("  rg_free with a hung region: %lld ms\n",
	       (long long)took / 1000);
	assert_true(took < 250000 + slack_us());

	/* Hung home at start: its first PING times out, b is active from
	 * the start; with interval = timeout the prober of a is nearly
	 * always inside a PING when rg_free comes. */
	cfg.health_interval_ms = 100;
	t0 = rk_now_us();
	rg = rg_new(&cfg, err, sizeof(err));
	took = rk_now_us() - t0;
	assert_non_null(rg);
	printf("  rg_new with a hung home: %lld ms\n", (long long)took / 1000);
	assert_true(took < 2 * 100000 + 200000 + slack_us());
	assert_int_equal(active_of(rg), 1);
	assert_int_equal(failovers_of(rg), 0);
	assert_int_equal(set_get(rg, "k", "v", &region), 0);
	assert_string_equal(region, "b");
	ru_sleep_ms(150);
	t0 = rk_now_us();
	rg_free(rg);
	took = rk_now_us() - t0;
	printf("  rg_free, prober inside a PING to the hung region: %lld ms\n",
	       (long long)took / 1000);
	assert_true(took < 100000 + slack_us());
	stop_servers(srv, 2);
}

/* Home comes back: no return before RECOVER_THRESHOLD pings in a row and
 * FAILBACK_MIN_MS of being up; a home that dies again inside that window
 * is never returned to (no flapping). */
static void test_failback(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	cfg.health_interval_ms = 50;
	cfg.health_timeout_ms = 50;
	cfg.recover_threshold = 5;
	cfg.failback_min_ms = 700;
	ev_reset();
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);

	ru_kill(&srv[0]);
	assert_true(wait_active(rg, 1, 2000000) >= 0);

	/* Back, up after 5 pings, then gone again before 700 ms. */
	int64_t t_up = -1, t0 = rk_now_us();
	assert_int_equal(ru_restart(&srv[0]), 0);
	while (rk_now_us() - t0 < 2000000) {
		rg_status s[RG_MAX_REGIONS];
		rg_snapshot(rg, s, NULL, NULL, NULL);
		if (s[0].up) {
			t_up = rk_now_us() - t0;
			assert_true(s[0].successes >= 5);
			break;
		}
		ru_sleep_ms(2);
	}
	printf("  home up again %lld ms after restart\n",
	       (long long)t_up / 1000);
	assert_true(t_up >= 4 * 50000);
	assert_int_equal(active_of(rg), 1);
	ru_kill(&srv[0]);
	ru_sleep_ms(1000);
	assert_int_equal(active_of(rg), 1);
	assert_int_equal(failovers_of(rg), 1);

	/* Back for good: the return comes >= 700 ms after the restart. */
	int64_t restarted = rk_now_us();
	assert_int_equal(ru_restart(&srv[0]), 0);
	int64_t took = wait_active(rg, 0, 5000000);
	int64_t since = rk_now_us() - restarted;
	printf("  failback %lld ms after home's restart (min 700)\n",
	       (long long)since / 1000);
	assert_true(took >= 0);
	assert_true(since >= 700000);
	ru_sleep_ms(300);
	assert_int_equal(active_of(rg), 0);
	assert_int_equal(failovers_of(rg), 2);
	assert_int_equal(ev_get(&ev.failovers), 1);
	assert_int_equal(ev_get(&ev.failbacks), 1);
	const char *region;
	assert_int_equal(set_get(rg, "k", "v", &region), 0);
	assert_string_equal(region, "a");
	rg_free(rg);
	stop_servers(srv, 2);
}

/* ---- pub/sub ---- */

static struct {
	pthread_mutex_t mu;
	int n;
	char last[64];
	size_t last_len;
	char channel[32];
} got = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_msg(void *ud, const char *channel, const char *msg,
		   size_t len)
{
	(void)ud;
	pthread_mutex_lock(&got.mu);
	got.n++;
	got.last_len = len < sizeof(got.last) ? len : sizeof(got.last);
	memcpy(got.last, msg, got.last_len);
	snprintf(got.channel, sizeof(got.channel), "%s", channel);
	pthread_mutex_unlock(&got.mu);
}

/* PUBLISHes msg straight to srv until a subscriber has it (<= 5 s);
 * true when our callback saw it. */
static bool publish_until_heard(ru_redis *srv, const char *channel,
				const char *msg, size_t len)
{
	int64_t t0 = rk_now_us();
	while (rk_now_us() - t0 < 5000000) {
		redisContext *c = ru_connect(srv);
		long long receivers = 0;
		if (c) {
			redisReply *r = redisCommand(c, "PUBLISH %s %b",
						     channel, msg, len);
			if (r && r->type == REDIS_REPLY_INTEGER)
				receivers = r->integer;
			if (r)
				freeReplyObject(r);
			redisFree(c);
		}
		for (int i = 0; receivers > 0 && i < 500; i++) {
			pthread_mutex_lock(&got.mu);
			bool seen = got.last_len == len &&
				    !memcmp(got.last, msg, len);
			pthread_mutex_unlock(&got.mu);
			if (seen)
				return true;
			ru_sleep_ms(2);
		}
		if (receivers > 0)
			return false;
		ru_sleep_ms(20);
	}
	return false;
}

static void test_pubsub(void **st)
{
	ru_redis srv[2] = {{0}};
	start_servers(srv, 2);
	rg_config cfg;
	cfg_regions(&cfg, srv, 2, 0);
	ev_reset();
	char err[200];
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	const char *chans[] = {"riskd:inv", "riskd:rules"};
	assert_int_equal(rg_subscribe(rg, chans, 2, on_msg, NULL), 0);
	assert_int_equal(rg_subscribe(rg, chans, 2, on_msg, NULL),
			 RK_ESTATE);

	assert_true(publish_until_heard(&srv[0], "riskd:inv", "from-a", 6));
	assert_true(publish_until_heard(&srv[1], "riskd:rules", "b\0x", 3));
	pthread_mutex_lock(&got.mu);
	assert_string_equal(got.channel, "riskd:rules");
	pthread_mutex_unlock(&got.mu);
	/* rg_publish reaches our own subscriber on the active region. */
	assert_int_equal(rg_publish(rg, "riskd:inv", "own", 3,
				    rk_now_us() + 200000),
			 1);

	/* Restart of the standby, then of the active region: both heard
	 * again after reconnecting. */
	assert_int_equal(ru_restart(&srv[1]), 0);
	int64_t t0 = rk_now_us();
	assert_true(publish_until_heard(&srv[1], "riskd:inv", "b-back", 6));
	printf("  pub/sub back on restarted b after %lld ms\n",
	       (long long)(rk_now_us() - t0) / 1000);
	assert_int_equal(ru_restart(&srv[0]), 0);
	t0 = rk_now_us();
	assert_true(publish_until_heard(&srv[0], "riskd:inv", "a-back", 6));
	printf("  pub/sub back on restarted a after %lld ms\n",
	       (long long)(rk_now_us() - t0) / 1000);
	assert_true(ev_get(&ev.subscribed) >= 4);

	/* Region a dies for good: b still delivers, rg_free is prompt. */
	ru_kill(&srv[0]);
	assert_true(publish_until_heard(&srv[1], "riskd:inv", "only-b", 6));
	t0 = rk_now_us();
	rg_free(rg);
	assert_true(rk_now_us() - t0 < 500000);
	stop_servers(srv, 2);
}

/* Every allocation of rg_new and rg_subscribe failing in turn: NULL or
 * an error, never a leak or a crash. */
static void test_oom(void **st)
{
	ru_redis srv[1] = {{0}};
	start_servers(srv, 1);
	rg_config cfg;
	cfg_regions(&cfg, srv, 1, 0);
	cfg.on_event = NULL;
	char err[200];
	const char *chans[] = {"x", "y"};
	int ok = 0;
	for (long n = 0; n < 12; n++) {
		rk_alloc_fail_after(n);
		rg_t *rg = rg_new(&cfg, err, sizeof(err));
		int rc = rg ? rg_subscribe(rg, chans, 2, on_msg, NULL) : -1;
		rk_alloc_fail_after(-1);
		if (rg && rc == 0) {
			ok++;
			const char *region;
			assert_int_equal(set_get(rg, "k", "v", &region), 0);
		}
		rg_free(rg);
	}
	assert_true(ok >= 1);
	/* A connection whose wrapper cannot be allocated is closed. */
	rg_t *rg = rg_new(&cfg, err, sizeof(err));
	assert_non_null(rg);
	rk_alloc_fail_after(0);
	rg_conn *c = rg_acquire(rg, rk_now_us() + 200000);
	rk_alloc_fail_after(-1);
	assert_null(c);
	c = rg_acquire(rg, rk_now_us() + 200000);
	assert_non_null(c);
	rg_release(rg, c, false);
	rg_free(rg);
	stop_servers(srv, 1);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_all_down),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_failover_sigkill),
		cmocka_unit_test(test_request_failures),
		cmocka_unit_test(test_sigstop),
		cmocka_unit_test(test_failback),
		cmocka_unit_test(test_pubsub),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
