/*
 * test_rpipe.c - pipelined non-blocking Redis connections for an event
 * loop (cache/rpipe.h) against real redis-server processes
 * (tests/cache/redis_util.h), driven by a small epoll loop shaped like
 * service/loop.c (turns()). Tested: ~50 rounds of 1, 3 and 20 commands
 * written by one rp_flush and answered in commit order (ring growth with
 * a wrapped head, heap reply arrays, rp_next_deadline, rp_inflight, one
 * server read); dropped rounds (cb NULL) mixed with real ones without
 * misalignment; rounds chained from callbacks; a write left partial by a
 * hung Redis finished on EPOLLOUT; against a SIGSTOPped Redis, a round
 * past its deadline answered alone at the deadline (the connection and
 * the rounds behind it live on, its late reply is dropped, the region
 * counts nothing) and a connection stalled past the stall time failing
 * every round (RK_ETIMEOUT, one failure counted, reset by the next
 * success); a SIGKILLed Redis failing its round at once (RK_EUNAVAIL);
 * failover to a standby region, and a retired connection finishing its
 * round, then closed; rp_commit out of memory; rp_free with rounds in
 * flight, on the current and on a retired connection (callbacks that
 * try to start new rounds meanwhile are refused); rp_begin with no
 * region up and with a deadline in the past. And four found by these tests and fixed: a
 * failed write of a retired connection whose callbacks retire another
 * must not lose it (rp_flush); rp_free fails connections retired by its
 * own callbacks; a connection made before the region's last failure does
 * not end the region's run of failures when it is released; an idle
 * connection closed by a healthy Redis is not a region failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <cmocka.h>

#include "cache/region.h"
#include "cache/rpipe.h"
#include "common/rk.h"
#include "tests/cache/redis_util.h"

/* Timing slack: generous under valgrind, where everything is slower. */
static int64_t slack_us(void)
{
	const char *v = getenv("VALGRIND");
	return v && *v == '1' ? 200000 : 50000;
}

static void on_event(void *ud, const char *msg)
{
	(void)ud;
	printf("  event: %s\n", msg);
}

/*
 * Regions a, b, ... on srv. Pings are rare (60 s) so only the request
 * path moves a region's failure count, unless a test shortens them
 * (cfg_fast) to fail over quickly.
 */
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
	cfg->health_interval_ms = 60000;
	cfg->health_timeout_ms = 100;
	cfg->fail_threshold = 3;
	cfg->recover_threshold = 2;
	cfg->failback_min_ms = 60000;
	cfg->on_event = on_event;
}

/* Fast failover: a dead or hung region is down after ~2 pings of 20 ms
 * (50 ms timeout); no failback during a test. */
static void cfg_fast(rg_config *cfg)
{
	cfg->health_interval_ms = 20;
	cfg->health_timeout_ms = 50;
	cfg->fail_threshold = 2;
	cfg->recover_threshold = 2;
	cfg->failback_min_ms = 60000;
}

/* ---- the test's event loop ---- */

struct env {
	ru_redis srv[2];
	int n;       /* servers */
	rg_t *rg;
	int epfd;
	rp_pipe *p;
};

static void env_start(struct env *e, int n)
{
	memset(e, 0, sizeof(*e));
	e->n = n;
	e->epfd = -1;
	for (int i = 0; i < n; i++)
		assert_int_equal(ru_start(&e->srv[i]), 0);
}

/* The stall time of most tests' pipes: longer than any test waits. */
#define STALL_US 5000000

static void env_open(struct env *e, const rg_config *cfg, int64_t stall_us)
{
	char err[200];
	e->rg = rg_new(cfg, err, sizeof(err));
	assert_non_null(e->rg);
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(e->epfd >= 0);
	e->p = rp_new(e->rg, e->epfd, stall_us);
	assert_non_null(e->p);
}

static void env_close(struct env *e)
{
	rp_free(e->p);
	e->p = NULL;
	if (e->epfd >= 0)
		close(e->epfd);
	e->epfd = -1;
	rg_free(e->rg);
	e->rg = NULL;
	for (int i = 0; i < e->n; i++) {
		ru_thaw(&e->srv[i]);
		ru_kill(&e->srv[i]);
	}
}

typedef bool (*pred_fn)(void *arg);

/* epoll_wait's timeout: up to the pipe's next deadline (rounded up), at
 * most 10 ms so predicates on other state are polled, never past until. */
static int wait_ms(const rp_pipe *p, int64_t until_us)
{
	int64_t now = rk_now_us();
	int64_t due = rp_next_deadline(p);
	if (due > until_us)
		due = until_us;
	int64_t ms = (due - now + 999) / 1000;
	return ms < 0 ? 0 : ms > 10 ? 10 : (int)ms;
}

/*
 * Loop turns (write what was committed, wait, dispatch, expire, write)
 * until pred(arg) holds or the clock passes until_us. pred NULL: run
 * until until_us. Whether pred holds at the end.
 */
static bool turns(rp_pipe *p, int epfd, int64_t until_us, pred_fn pred,
		  void *arg)
{
	rp_flush(p);
	for (;;) {
		if (pred && pred(arg))
			return true;
		if (rk_now_us() >= until_us)
			return pred ? pred(arg) : true;
		struct epoll_event evs[16];
		int n = epoll_wait(epfd, evs, 16, wait_ms(p, until_us));
		for (int i = 0; i < n; i++) {
			rp_ev *ev = evs[i].data.ptr;
			ev->fn(ev, evs[i].events);
		}
		rp_expire(p, rk_now_us());
		rp_flush(p);
	}
}

/* ---- what callbacks saw ---- */

#define MAXC 24

struct rec {
	int calls, err, n, order;
	bool rep_null;
	int64_t at_us;
	int type[MAXC];
	long long ival[MAXC];
	char str[MAXC][32];
};

static int g_order; /* callbacks so far, across recs */

static void rec_reset(struct rec *r, int n)
{
	memset(r, 0, (size_t)n * sizeof(*r));
	for (int i = 0; i < n; i++)
		r[i].order = -1;
	g_order = 0;
}

/* Copies what it is given; the test body checks it (no cmocka asserts
 * inside the pipe's call stack). */
static void on_done(void *ud, redisReply **rep, int n, int err)
{
	struct rec *r = ud;
	r->calls++;
	r->err = err;
	r->n = n;
	r->order = g_order++;
	r->at_us = rk_now_us();
	r->rep_null = rep == NULL;
	for (int i = 0; rep && i < n && i < MAXC; i++) {
		r->type[i] = rep[i]->type;
		r->ival[i] = rep[i]->integer;
		if (rep[i]->type == REDIS_REPLY_STRING ||
		    rep[i]->type == REDIS_REPLY_STATUS ||
		    rep[i]->type == REDIS_REPLY_ERROR)
			snprintf(r->str[i], sizeof(r->str[i]), "%.*s",
				 (int)rep[i]->len, rep[i]->str);
	}
}

static void assert_failed_with(const struct rec *r, int err)
{
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->err, err);
	assert_true(r->rep_null);
	assert_int_equal(r->n, 0);
}

static bool called(void *arg)
{
	return ((struct rec *)arg)->calls > 0;
}

struct recs {
	struct rec *r;
	int n;
};

static bool all_called(void *arg)
{
	struct recs *s = arg;
	for (int i = 0; i < s->n; i++) {
		if (!s->r[i].calls)
			return false;
	}
	return true;
}

static bool pipe_idle(void *arg)
{
	return rp_inflight(arg) == 0;
}

static bool active_is_b(void *arg)
{
	return !strcmp(rg_active_name(arg), "b");
}

/* ---- small helpers ---- */

static redisContext *begin(rp_pipe *p, const char *want_region)
{
	const char *region = NULL;
	int err = 0;
	redisContext *c = rp_begin(p, rk_now_us() + 1000000, &region, &err);
	assert_non_null(c);
	assert_int_equal(err, 0);
	assert_non_null(region);
	assert_string_equal(region, want_region);
	return c;
}

static rg_status region_status(rg_t *rg, int i)
{
	rg_status s[RG_MAX_REGIONS];
	rg_snapshot(rg, s, NULL, NULL, NULL);
	return s[i];
}

static long long plain_int(redisContext *c, const char *cmd)
{
	redisReply *r = redisCommand(c, cmd);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

/* GET key through a plain client into buf ("" for nil). */
static void plain_get(redisContext *c, const char *key, char *buf,
		      size_t len)
{
	redisReply *r = redisCommand(c, "GET %s", key);
	assert_non_null(r);
	buf[0] = 0;
	if (r->type == REDIS_REPLY_STRING)
		snprintf(buf, len, "%.*s", (int)r->len, r->str);
	freeReplyObject(r);
}

static long info_field(redisContext *c, const char *section,
		       const char *field)
{
	redisReply *r = redisCommand(c, "INFO %s", section);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	const char *at = strstr(r->str, field);
	assert_non_null(at);
	long v = strtol(at + strlen(field) + 1, NULL, 10);
	freeReplyObject(r);
	return v;
}

/* Runs the loop until srv has `want` clients blocked (BLPOP), <= 2 s. */
static void wait_blocked(struct env *e, redisContext *plain, long want)
{
	int64_t until = rk_now_us() + 2000000;
	while (info_field(plain, "clients", "blocked_clients") != want) {
		assert_true(rk_now_us() < until);
		turns(e->p, e->epfd, rk_now_us() + 2000, NULL, NULL);
	}
}

/* ---- 1. pipelining and order ---- */

static int round_size(int i)
{
	static const int sz[] = {1, 3, 20};
	return sz[i % 3];
}

/*
 * Round i: 1 command (INCRBY c<i> i+1), 3 (SET k<i> v<i>, GET, INCR
 * c<i>) or 20 (SET, 17 INCR c<i>, LPUSH on the string: an error reply,
 * GET). Returns the number appended.
 */
static int append_round(redisContext *c, int i)
{
	int n = round_size(i);
	if (n == 1) {
		assert_int_equal(redisAppendCommand(c, "INCRBY c%d %d", i,
						    i + 1),
				 REDIS_OK);
		return 1;
	}
	assert_int_equal(redisAppendCommand(c, "SET k%d v%d", i, i), REDIS_OK);
	if (n == 3) {
		assert_int_equal(redisAppendCommand(c, "GET k%d", i), REDIS_OK);
		assert_int_equal(redisAppendCommand(c, "INCR c%d", i),
				 REDIS_OK);
		return 3;
	}
	for (int j = 0; j < 17; j++)
		assert_int_equal(redisAppendCommand(c, "INCR c%d", i),
				 REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "LPUSH k%d x", i), REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "GET k%d", i), REDIS_OK);
	return 20;
}

static void check_round(const struct rec *r, int i)
{
	int n = round_size(i);
	char v[16];
	snprintf(v, sizeof(v), "v%d", i);
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->err, 0);
	assert_false(r->rep_null);
	assert_int_equal(r->n, n);
	if (n == 1) {
		assert_int_equal(r->type[0], REDIS_REPLY_INTEGER);
		assert_int_equal(r->ival[0], i + 1);
		return;
	}
	assert_int_equal(r->type[0], REDIS_REPLY_STATUS);
	assert_string_equal(r->str[0], "OK");
	if (n == 3) {
		assert_int_equal(r->type[1], REDIS_REPLY_STRING);
		assert_string_equal(r->str[1], v);
		assert_int_equal(r->type[2], REDIS_REPLY_INTEGER);
		assert_int_equal(r->ival[2], 1);
		return;
	}
	for (int j = 1; j <= 17; j++) {
		assert_int_equal(r->type[j], REDIS_REPLY_INTEGER);
		assert_int_equal(r->ival[j], j);
	}
	assert_int_equal(r->type[18], REDIS_REPLY_ERROR);
	assert_memory_equal(r->str[18], "WRONGTYPE", 9);
	assert_int_equal(r->type[19], REDIS_REPLY_STRING);
	assert_string_equal(r->str[19], v);
}

static void test_pipelining(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);

	enum { FIRST = 10, MANY = 50, TOTAL = FIRST + MANY };
	static struct rec recs[TOTAL];
	rec_reset(recs, TOTAL);
	assert_int_equal(rp_inflight(e.p), 0);
	assert_true(rp_next_deadline(e.p) == INT64_MAX);

	/* A first batch moves the ring's head, so the growth below copies
	 * a wrapped ring. */
	for (int i = 0; i < FIRST; i++) {
		redisContext *c = begin(e.p, "a");
		if (i == 0) /* n < 1 is refused, nothing is queued */
			assert_int_equal(rp_commit(e.p, 0, rk_now_us() + 1000000,
						   on_done, &recs[0]),
					 RK_EINVAL);
		int n = append_round(c, i);
		assert_int_equal(rp_commit(e.p, n, rk_now_us() + 2000000,
					   on_done, &recs[i]),
				 0);
	}
	struct recs first = {recs, FIRST};
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, all_called,
			  &first));
	for (int i = 0; i < FIRST; i++)
		check_round(&recs[i], i);
	assert_int_equal(rp_inflight(e.p), 0);

	/* 50 rounds, more than 16 in flight, then one rp_flush. */
	long long keys0 = plain_int(plain, "DBSIZE");
	int64_t base = rk_now_us() + 3000000;
	int ncmd = 0;
	for (int i = FIRST; i < TOTAL; i++) {
		redisContext *c = begin(e.p, "a");
		int n = append_round(c, i);
		ncmd += n;
		int64_t dl = i == 30 ? base - 5000 : base + i * 1000;
		assert_int_equal(rp_commit(e.p, n, dl, on_done, &recs[i]), 0);
		assert_int_equal(rp_inflight(e.p), i - FIRST + 1);
	}
	assert_true(rp_next_deadline(e.p) == base - 5000);
	/* Nothing is written before rp_flush. */
	assert_int_equal(plain_int(plain, "DBSIZE"), keys0);
	for (int i = FIRST; i < TOTAL; i++)
		assert_int_equal(recs[i].calls, 0);

	long reads0 = info_field(plain, "stats", "total_reads_processed");
	int64_t t0 = rk_now_us();
	rp_flush(e.p);
	struct recs all = {recs, TOTAL};
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, all_called,
			  &all));
	int64_t took = rk_now_us() - t0;
	long reads = info_field(plain, "stats", "total_reads_processed") -
		     reads0;
	printf("  %d rounds (%d commands): %lld us, %ld server reads\n", MANY,
	       ncmd, (long long)took, reads);
	/* One write: the server read it in a few reads (one is the INFO
	 * above); a round trip per round would be 50. */
	assert_true(reads <= 5);
	for (int i = 0; i < TOTAL; i++) {
		check_round(&recs[i], i);
		assert_int_equal(recs[i].order, i);
	}
	assert_int_equal(rp_inflight(e.p), 0);
	assert_true(rp_next_deadline(e.p) == INT64_MAX);
	/* The writes are in Redis: round 59 is a 20-command one. */
	char v[32];
	plain_get(plain, "k59", v, sizeof(v));
	assert_string_equal(v, "v59");
	plain_get(plain, "c59", v, sizeof(v));
	assert_string_equal(v, "17");
	assert_int_equal(region_status(e.rg, 0).fails, 0);
	redisFree(plain);
	env_close(&e);
}

/* ---- 2. dropped rounds ---- */

static void test_dropped(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);

	enum { R = 40 };
	static struct rec recs[R];
	rec_reset(recs, R);
	long long seq = 0, expect[R];
	int real = 0;
	for (int j = 0; j < R; j++) {
		redisContext *c = begin(e.p, "a");
		int64_t dl = rk_now_us() + 3000000;
		if (j % 2 == 0) {
			/* real: SET, INCR seq (counts every INCR before it,
			 * dropped or not), GET */
			assert_int_equal(redisAppendCommand(c, "SET d%d x%d", j,
							    j),
					 REDIS_OK);
			assert_int_equal(redisAppendCommand(c, "INCR seq"),
					 REDIS_OK);
			assert_int_equal(redisAppendCommand(c, "GET d%d", j),
					 REDIS_OK);
			expect[j] = ++seq;
			assert_int_equal(rp_commit(e.p, 3, dl, on_done,
						   &recs[j]),
					 0);
			real++;
		} else {
			/* dropped: 1 to 13 INCRs (some > 8: heap replies) */
			int k = 1 + (j % 5) * 3;
			for (int i = 0; i < k; i++)
				assert_int_equal(redisAppendCommand(c,
								    "INCR seq"),
						 REDIS_OK);
			seq += k;
			assert_int_equal(rp_commit(e.p, k, dl, NULL, NULL), 0);
		}
		if (j == R / 2 - 1) /* half written before the rest is queued */
			rp_flush(e.p);
	}
	assert_int_equal(rp_inflight(e.p), R);
	/* The last round is a dropped one: idle once its replies are read. */
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, pipe_idle, e.p));
	for (int j = 0; j < R; j++) {
		if (j % 2) {
			assert_int_equal(recs[j].calls, 0);
			continue;
		}
		char x[16];
		snprintf(x, sizeof(x), "x%d", j);
		assert_int_equal(recs[j].calls, 1);
		assert_int_equal(recs[j].err, 0);
		assert_int_equal(recs[j].n, 3);
		assert_int_equal(recs[j].order, j / 2);
		assert_int_equal(recs[j].type[0], REDIS_REPLY_STATUS);
		assert_int_equal(recs[j].type[1], REDIS_REPLY_INTEGER);
		assert_int_equal(recs[j].ival[1], expect[j]);
		assert_int_equal(recs[j].type[2], REDIS_REPLY_STRING);
		assert_string_equal(recs[j].str[2], x);
	}
	assert_int_equal(g_order, real);
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);
	char v[32], want[32];
	plain_get(plain, "seq", v, sizeof(v));
	snprintf(want, sizeof(want), "%lld", seq);
	assert_string_equal(v, want);
	redisFree(plain);
	env_close(&e);
}

/* ---- 3. chaining from callbacks ---- */

struct chain {
	rp_pipe *p;
	int max, depth;
	struct rec lv[4];
	int commit_rc[4];
	int begin_err;
	const char *region;
};

/* Level d > 0: 4*d INCR chain and a GET chain (level 2: 9 commands). */
static void on_chain(void *ud, redisReply **rep, int n, int err)
{
	struct chain *ch = ud;
	on_done(&ch->lv[ch->depth++], rep, n, err);
	if (err || ch->depth >= ch->max)
		return;
	const char *region = NULL;
	int e = 0;
	redisContext *c = rp_begin(ch->p, rk_now_us() + 1000000, &region, &e);
	if (!c) {
		ch->begin_err = e;
		return;
	}
	ch->region = region;
	int k = 4 * ch->depth;
	for (int i = 0; i < k; i++)
		redisAppendCommand(c, "INCR chain");
	redisAppendCommand(c, "GET chain");
	ch->commit_rc[ch->depth] = rp_commit(ch->p, k + 1,
					     rk_now_us() + 1000000, on_chain,
					     ch);
}

static bool chain_done(void *arg)
{
	const struct chain *ch = arg;
	return ch->depth >= ch->max;
}

static void test_chaining(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	static struct chain ch;
	memset(&ch, 0, sizeof(ch));
	ch.p = e.p;
	ch.max = 4;
	struct rec other;
	rec_reset(ch.lv, 4);
	rec_reset(&other, 1);

	/* Level 0, then an ordinary round queued behind it: the chained
	 * rounds come after that one. */
	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "INCR chain"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_chain,
				   &ch),
			 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "INCR other"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &other),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 2000000, chain_done, &ch));
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, pipe_idle, e.p));

	assert_int_equal(ch.depth, 4);
	assert_int_equal(ch.begin_err, 0);
	assert_string_equal(ch.region, "a");
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.err, 0);
	assert_int_equal(other.ival[0], 1);
	assert_int_equal(other.order, 1);
	assert_int_equal(ch.lv[0].order, 0);
	assert_int_equal(ch.lv[0].n, 1);
	assert_int_equal(ch.lv[0].ival[0], 1);
	long long cnt = 1;
	for (int d = 1; d < 4; d++) {
		const struct rec *r = &ch.lv[d];
		int k = 4 * d;
		char want[24];
		assert_int_equal(ch.commit_rc[d], 0);
		assert_int_equal(r->calls, 1);
		assert_int_equal(r->err, 0);
		assert_int_equal(r->order, d + 1);
		assert_int_equal(r->n, k + 1);
		for (int i = 0; i < k; i++) {
			assert_int_equal(r->type[i], REDIS_REPLY_INTEGER);
			assert_int_equal(r->ival[i], cnt + 1 + i);
		}
		cnt += k;
		snprintf(want, sizeof(want), "%lld", cnt);
		assert_int_equal(r->type[k], REDIS_REPLY_STRING);
		assert_string_equal(r->str[k], want);
	}
	assert_int_equal(g_order, 5);
	env_close(&e);
}

/* ---- a write the socket cannot take at once ---- */

/* A hung Redis takes part of a 4 MB SET; the rest, and a round appended
 * meanwhile, go out on EPOLLOUT once it runs again. */
static void test_partial_write(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	enum { BIG = 4 << 20 };
	char *big = malloc(BIG);
	assert_non_null(big);
	memset(big, 'x', BIG);
	struct rec r[2];
	rec_reset(r, 2);

	ru_freeze(&e.srv[0]);
	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "SET big %b", big, (size_t)BIG),
			 REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 10000000, on_done,
				   &r[0]),
			 0);
	rp_flush(e.p);
	size_t left = strlen(c->obuf);
	printf("  %d bytes appended, %zu left after the first write\n", BIG,
	       left);
	assert_true(left > 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "STRLEN big"), REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "GET big2"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 2, rk_now_us() + 10000000, on_done,
				   &r[1]),
			 0);
	turns(e.p, e.epfd, rk_now_us() + 20000, NULL, NULL);
	assert_int_equal(r[0].calls + r[1].calls, 0);
	assert_int_equal(rp_inflight(e.p), 2);

	ru_thaw(&e.srv[0]);
	struct recs both = {r, 2};
	assert_true(turns(e.p, e.epfd, rk_now_us() + 10000000, all_called,
			  &both));
	assert_int_equal(r[0].err, 0);
	assert_int_equal(r[0].type[0], REDIS_REPLY_STATUS);
	assert_string_equal(r[0].str[0], "OK");
	assert_int_equal(r[1].err, 0);
	assert_int_equal(r[1].n, 2);
	assert_int_equal(r[1].type[0], REDIS_REPLY_INTEGER);
	assert_int_equal(r[1].ival[0], BIG);
	assert_int_equal(r[1].type[1], REDIS_REPLY_NIL);
	assert_int_equal(r[1].order, 1);
	assert_int_equal(strlen(c->obuf), 0);
	free(big);
	env_close(&e);
}

/* ---- 4. deadlines and stalls against a hung Redis ---- */

struct late {
	rp_pipe *p;
	struct rec first, chained;
	int commit_rc, begin_err;
};

/* Timed out: commits a new round from the callback (inside rp_expire),
 * which here grows the connection's ring of 16 rounds. */
static void on_late(void *ud, redisReply **rep, int n, int err)
{
	struct late *l = ud;
	on_done(&l->first, rep, n, err);
	const char *region = NULL;
	redisContext *c = rp_begin(l->p, rk_now_us() + 1000000, &region,
				   &l->begin_err);
	if (!c)
		return;
	redisAppendCommand(c, "ECHO chained");
	l->commit_rc = rp_commit(l->p, 1, rk_now_us() + 3000000, on_done,
				 &l->chained);
}

/*
 * A round past its deadline is answered alone (RK_ETIMEOUT, at the
 * deadline): the connection stays, the rounds behind it get their own
 * replies once Redis answers, its late replies are dropped, and the
 * region counts nothing.
 */
static void test_deadline_alone(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	enum { L = 15 };
	static struct rec r[L + 1];
	rec_reset(r, L + 1);
	static struct late late;
	memset(&late, 0, sizeof(late));
	late.p = e.p;

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "SET k va"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[L]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[L]));
	assert_int_equal(r[L].err, 0);
	rec_reset(r, L + 1);

	ru_freeze(&e.srv[0]);
	int64_t deadline = rk_now_us() + 50000;
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, deadline, on_late, &late), 0);
	for (int i = 0; i < L; i++) {
		c = begin(e.p, "a");
		assert_int_equal(redisAppendCommand(c, "ECHO e%d", i),
				 REDIS_OK);
		assert_int_equal(rp_commit(e.p, 1, deadline + 3000000 + i,
					   on_done, &r[i]),
				 0);
	}
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "INCR dropped"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, deadline, NULL, NULL), 0);
	assert_true(rp_next_deadline(e.p) == deadline);
	assert_true(turns(e.p, e.epfd, deadline + 2000000, called,
			  &late.first));
	printf("  round past its deadline answered %lld us after it\n",
	       (long long)(late.first.at_us - deadline));
	assert_failed_with(&late.first, RK_ETIMEOUT);
	assert_true(late.first.at_us >= deadline);
	assert_true(late.first.at_us <= deadline + slack_us());
	assert_int_equal(late.begin_err, 0);
	assert_int_equal(late.commit_rc, 0);
	for (int i = 0; i < L; i++)
		assert_int_equal(r[i].calls, 0);
	assert_int_equal(late.chained.calls, 0);
	/* the late round stays on the connection until its reply comes */
	assert_int_equal(rp_inflight(e.p), L + 3);
	int64_t next = rp_next_deadline(e.p);
	assert_true(next > rk_now_us() && next != INT64_MAX);
	rg_status s = region_status(e.rg, 0);
	assert_int_equal(s.fails, 0);
	assert_true(s.up);

	ru_thaw(&e.srv[0]);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, pipe_idle, e.p));
	assert_int_equal(late.first.calls, 1); /* its reply was dropped */
	for (int i = 0; i < L; i++) {
		char want[16];
		snprintf(want, sizeof(want), "e%d", i);
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].err, 0);
		assert_int_equal(r[i].type[0], REDIS_REPLY_STRING);
		assert_string_equal(r[i].str[0], want);
		assert_int_equal(r[i].order, 1 + i);
	}
	assert_int_equal(late.chained.calls, 1);
	assert_int_equal(late.chained.err, 0);
	assert_string_equal(late.chained.str[0], "chained");
	assert_int_equal(late.chained.order, 1 + L);
	assert_true(rp_next_deadline(e.p) == INT64_MAX);
	assert_int_equal(region_status(e.rg, 0).fails, 0);
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);
	char v[16];
	plain_get(plain, "dropped", v, sizeof(v));
	assert_string_equal(v, "1");
	redisFree(plain);
	env_close(&e);
}

/*
 * A connection whose oldest round has had no reply for the stall time
 * fails: every round on it gets RK_ETIMEOUT, the region counts one
 * failure; once Redis runs again a new connection serves, and its
 * first success ends the region's run of failures.
 */
static void test_stall(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	const int64_t stall = 200000;
	env_open(&e, &cfg, stall);
	struct rec r[4];
	rec_reset(r, 4);

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "CLIENT ID"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[0]));
	assert_int_equal(r[0].err, 0);
	assert_int_equal(r[0].type[0], REDIS_REPLY_INTEGER);
	long long id0 = r[0].ival[0];

	ru_freeze(&e.srv[0]);
	int64_t t0 = rk_now_us();
	int64_t deadline = t0 + 50000;
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, deadline, on_done, &r[1]), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k2"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, t0 + 5000000, on_done, &r[2]), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "INCR dropped"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, t0, NULL, NULL), 0);
	int64_t t1 = rk_now_us();

	assert_true(turns(e.p, e.epfd, t0 + 2000000, called, &r[1]));
	assert_failed_with(&r[1], RK_ETIMEOUT);
	assert_true(r[1].at_us >= deadline);
	assert_true(r[1].at_us <= deadline + slack_us());
	assert_int_equal(r[2].calls, 0);
	assert_int_equal(rp_inflight(e.p), 3);
	assert_int_equal(region_status(e.rg, 0).fails, 0);

	assert_true(turns(e.p, e.epfd, t0 + 3000000, called, &r[2]));
	printf("  stalled connection failed %lld us after its oldest round "
	       "(stall %lld us)\n",
	       (long long)(r[2].at_us - t0), (long long)stall);
	assert_failed_with(&r[2], RK_ETIMEOUT);
	assert_true(r[2].at_us >= t0 + stall);
	assert_true(r[2].at_us <= t1 + stall + slack_us());
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(rp_inflight(e.p), 0);
	assert_true(rp_next_deadline(e.p) == INT64_MAX);
	rg_status s = region_status(e.rg, 0);
	printf("  region a after the stall: %s, fails %d\n", s.state,
	       s.fails);
	assert_int_equal(s.fails, 1);
	assert_true(s.up);

	/* Running again: a new connection, and a success ends the run. */
	ru_thaw(&e.srv[0]);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "CLIENT ID"), REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 2, rk_now_us() + 1000000, on_done,
				   &r[3]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[3]));
	assert_int_equal(r[3].err, 0);
	assert_int_equal(r[3].type[0], REDIS_REPLY_INTEGER);
	assert_true(r[3].ival[0] != id0);
	assert_string_equal(r[3].str[1], "PONG");
	assert_int_equal(region_status(e.rg, 0).fails, 0);
	env_close(&e);
}

/* ---- 5. a killed Redis ---- */

static void test_killed(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	struct rec r[2];
	rec_reset(r, 2);
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);

	int64_t deadline = rk_now_us() + 3000000;
	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "BLPOP q 10"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, deadline, on_done, &r[0]), 0);
	wait_blocked(&e, plain, 1); /* in flight at the server */
	redisFree(plain);
	assert_int_equal(r[0].calls, 0);

	int64_t t0 = rk_now_us();
	ru_kill(&e.srv[0]);
	assert_true(turns(e.p, e.epfd, deadline, called, &r[0]));
	int64_t took = r[0].at_us - t0;
	printf("  SIGKILL: round failed %lld us later (deadline in %lld)\n",
	       (long long)took, (long long)(deadline - t0));
	assert_failed_with(&r[0], RK_EUNAVAIL);
	assert_true(took < 200000 + slack_us());
	assert_int_equal(rp_inflight(e.p), 0);
	assert_int_equal(region_status(e.rg, 0).fails, 1);

	/* Back on the same port: the next round gets a new connection. */
	assert_int_equal(ru_restart(&e.srv[0]), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[1]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[1]));
	assert_int_equal(r[1].err, 0);
	assert_string_equal(r[1].str[0], "PONG");
	assert_int_equal(region_status(e.rg, 0).fails, 0);
	env_close(&e);
}

/* ---- 6. failover ---- */

static void test_failover(void **st)
{
	struct env e;
	env_start(&e, 2);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 2, 0);
	cfg_fast(&cfg);
	env_open(&e, &cfg, STALL_US);
	struct rec r[2];
	rec_reset(r, 2);

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "SET fk va"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[0]));
	assert_int_equal(r[0].err, 0);

	int64_t t0 = rk_now_us();
	ru_kill(&e.srv[0]);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, active_is_b,
			  e.rg));
	printf("  failover to b %lld ms after SIGKILL\n",
	       (long long)(rk_now_us() - t0) / 1000);
	assert_false(region_status(e.rg, 0).up);

	c = begin(e.p, "b");
	assert_int_equal(redisAppendCommand(c, "SET fk vb"), REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "GET fk"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 2, rk_now_us() + 1000000, on_done,
				   &r[1]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[1]));
	assert_int_equal(r[1].err, 0);
	assert_int_equal(r[1].n, 2);
	assert_string_equal(r[1].str[0], "OK");
	assert_string_equal(r[1].str[1], "vb");
	assert_int_equal(rp_inflight(e.p), 0);
	redisContext *pb = ru_connect(&e.srv[1]);
	assert_non_null(pb);
	char v[16];
	plain_get(pb, "fk", v, sizeof(v));
	assert_string_equal(v, "vb");
	redisFree(pb);
	env_close(&e);
}

/* A round in flight on a region that hangs: after the failover new
 * rounds go to b, and the retired connection to a still delivers the
 * old round's reply once a answers. */
static void test_retired_finishes(void **st)
{
	struct env e;
	env_start(&e, 2);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 2, 0);
	cfg_fast(&cfg);
	env_open(&e, &cfg, STALL_US);
	struct rec r[3];
	rec_reset(r, 3);
	redisContext *pa = ru_connect(&e.srv[0]);
	assert_non_null(pa);
	freeReplyObject(redisCommand(pa, "SET k va"));
	redisFree(pa);

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "CLIENT ID"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[0]));
	assert_int_equal(r[0].type[0], REDIS_REPLY_INTEGER);
	long long id_a = r[0].ival[0];

	ru_freeze(&e.srv[0]);
	int64_t dl1 = rk_now_us() + 4000000;
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, dl1, on_done, &r[1]), 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 3000000, active_is_b,
			  e.rg));
	assert_int_equal(r[1].calls, 0);

	c = begin(e.p, "b");
	assert_int_equal(redisAppendCommand(c, "SET k vb"), REDIS_OK);
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 2, rk_now_us() + 1000000, on_done,
				   &r[2]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[2]));
	assert_int_equal(r[2].err, 0);
	assert_string_equal(r[2].str[1], "vb");
	assert_int_equal(r[1].calls, 0);
	/* the retired connection's round still counts and still has its
	 * deadline */
	assert_int_equal(rp_inflight(e.p), 1);
	assert_true(rp_next_deadline(e.p) == dl1);

	ru_thaw(&e.srv[0]);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 2000000, called, &r[1]));
	assert_int_equal(r[1].err, 0);
	assert_int_equal(r[1].type[0], REDIS_REPLY_STRING);
	assert_string_equal(r[1].str[0], "va");
	assert_int_equal(rp_inflight(e.p), 0);
	assert_true(rp_next_deadline(e.p) == INT64_MAX);
	assert_string_equal(rg_active_name(e.rg), "b");
	/* Done, the retired connection is closed (a, whose generation
	 * changed, does not get it back in its pool). */
	pa = ru_connect(&e.srv[0]);
	assert_non_null(pa);
	int64_t until = rk_now_us() + 2000000;
	for (;;) {
		redisReply *l = redisCommand(pa, "CLIENT LIST ID %lld", id_a);
		assert_non_null(l);
		assert_int_equal(l->type, REDIS_REPLY_STRING);
		bool gone = l->len == 0;
		freeReplyObject(l);
		if (gone)
			break;
		assert_true(rk_now_us() < until);
		turns(e.p, e.epfd, rk_now_us() + 5000, NULL, NULL);
	}
	redisFree(pa);
	env_close(&e);
}

/* ---- rp_commit out of memory ---- */

static void test_commit_oom(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	cfg.on_event = NULL;
	env_open(&e, &cfg, STALL_US);
	enum { N = 16 };
	static struct rec r[N + 3];
	rec_reset(r, N + 3);

	/* The heap reply array of a 12-command round cannot be had. */
	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	c = begin(e.p, "a");
	for (int i = 0; i < 12; i++)
		assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	rk_alloc_fail_after(0);
	int rc = rp_commit(e.p, 12, rk_now_us() + 1000000, on_done, &r[1]);
	rk_alloc_fail_after(-1);
	assert_int_equal(rc, RK_ENOMEM);
	assert_failed_with(&r[0], RK_EUNAVAIL);
	assert_int_equal(r[1].calls, 0);
	assert_int_equal(rp_inflight(e.p), 0);
	rp_flush(e.p);

	/* The ring cannot grow past 16 rounds. */
	for (int i = 0; i < N; i++) {
		c = begin(e.p, "a");
		assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
		assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000,
					   on_done, &r[2 + i]),
				 0);
	}
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	rk_alloc_fail_after(0);
	rc = rp_commit(e.p, 1, rk_now_us() + 1000000, on_done, &r[N + 2]);
	rk_alloc_fail_after(-1);
	assert_int_equal(rc, RK_ENOMEM);
	for (int i = 0; i < N; i++)
		assert_failed_with(&r[2 + i], RK_EUNAVAIL);
	assert_int_equal(r[N + 2].calls, 0);
	rp_flush(e.p);
	/* Out of memory is no verdict on the region. */
	assert_int_equal(region_status(e.rg, 0).fails, 0);

	struct rec ok;
	rec_reset(&ok, 1);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &ok),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &ok));
	assert_int_equal(ok.err, 0);
	assert_string_equal(ok.str[0], "PONG");
	env_close(&e);
}

/* ---- 7. rp_free with rounds in flight ---- */

struct retry {
	rp_pipe *p;
	int tries, begin_err, commit_rc;
	struct rec first, second;
};

/* Fails once, then tries to start a new round from the callback. */
static void on_retry(void *ud, redisReply **rep, int n, int err)
{
	struct retry *rt = ud;
	if (rt->tries++) {
		on_done(&rt->second, rep, n, err);
		return;
	}
	on_done(&rt->first, rep, n, err);
	const char *region = NULL;
	int e = 0;
	redisContext *c = rp_begin(rt->p, rk_now_us() + 500000, &region, &e);
	if (!c) {
		rt->begin_err = e;
		return;
	}
	redisAppendCommand(c, "GET retry");
	rt->commit_rc = rp_commit(rt->p, 1, rk_now_us() + 500000, on_retry,
				  rt);
}

static void test_free_inflight(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	struct rec r[6];
	rec_reset(r, 6);
	struct retry rt;
	memset(&rt, 0, sizeof(rt));
	rt.p = e.p;

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[0]));

	/* Hung: two rounds (and a dropped one) written, then two more
	 * queued, one of them with a heap reply array. */
	ru_freeze(&e.srv[0]);
	int64_t dl = rk_now_us() + 5000000;
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, dl, on_done, &r[1]), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "INCR n"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, dl, NULL, NULL), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, dl, on_retry, &rt), 0);
	rp_flush(e.p);
	c = begin(e.p, "a");
	for (int i = 0; i < 12; i++)
		assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 12, dl, on_done, &r[2]), 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "GET k"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, dl, on_done, &r[3]), 0);
	assert_int_equal(rp_inflight(e.p), 5);

	int64_t t0 = rk_now_us();
	rp_free(e.p);
	e.p = NULL;
	int64_t took = rk_now_us() - t0;
	printf("  rp_free with 5 rounds in flight on a hung Redis: %lld us\n",
	       (long long)took);
	assert_true(took < 200000 + slack_us());
	assert_failed_with(&r[1], RK_EUNAVAIL);
	assert_failed_with(&r[2], RK_EUNAVAIL);
	assert_failed_with(&r[3], RK_EUNAVAIL);
	/* a callback's retry during rp_free finds no connection */
	assert_int_equal(rt.tries, 1);
	assert_int_equal(rt.begin_err, RK_EUNAVAIL);
	assert_failed_with(&rt.first, RK_EUNAVAIL);
	assert_int_equal(rt.second.calls, 0);
	assert_true(r[1].order < rt.first.order);
	assert_true(rt.first.order < r[2].order);
	assert_true(r[2].order < r[3].order);
	/* Shutting down is no verdict on the region. */
	assert_int_equal(region_status(e.rg, 0).fails, 0);
	ru_thaw(&e.srv[0]);

	/* Running Redis: one round written but not read, one not written. */
	e.p = rp_new(e.rg, e.epfd, STALL_US);
	assert_non_null(e.p);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[4]),
			 0);
	rp_flush(e.p);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[5]),
			 0);
	rp_free(e.p);
	e.p = NULL;
	assert_failed_with(&r[4], RK_EUNAVAIL);
	assert_failed_with(&r[5], RK_EUNAVAIL);
	assert_true(r[4].order < r[5].order);

	/* A retired connection (one failure changed a's generation) whose
	 * round's callback tries to start a new round during rp_free: it
	 * is refused. */
	struct retry rt2;
	memset(&rt2, 0, sizeof(rt2));
	e.p = rp_new(e.rg, e.epfd, STALL_US);
	assert_non_null(e.p);
	rt2.p = e.p;
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_retry,
				   &rt2),
			 0);
	rp_flush(e.p);
	rg_conn *x = rg_acquire(e.rg, rk_now_us() + 200000);
	assert_non_null(x);
	rg_release(e.rg, x, true);
	redisContext *c2 = begin(e.p, "a");
	assert_ptr_not_equal(c2, c);
	assert_int_equal(rp_inflight(e.p), 1);
	rp_free(e.p);
	e.p = NULL;
	assert_int_equal(rt2.tries, 1);
	assert_int_equal(rt2.begin_err, RK_EUNAVAIL);
	assert_failed_with(&rt2.first, RK_EUNAVAIL);
	assert_int_equal(rt2.second.calls, 0);
	assert_int_equal(region_status(e.rg, 0).fails, 1);
	rp_free(NULL);
	env_close(&e);
}

/* ---- 8. no region up ---- */

static void test_no_region(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	cfg.fail_threshold = 2;
	env_open(&e, &cfg, STALL_US);
	struct rec r;
	rec_reset(&r, 1);
	/* No rp_begin yet: nothing to commit to. */
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done, &r),
			 RK_EINVAL);

	/* Dead but still up: refused connects count against it, the
	 * second takes it down. */
	ru_kill(&e.srv[0]);
	for (int i = 1; i <= 2; i++) {
		const char *region = NULL;
		int err = 0;
		assert_null(rp_begin(e.p, rk_now_us() + 500000, &region,
				     &err));
		assert_int_equal(err, RK_EUNAVAIL);
		assert_int_equal(region_status(e.rg, 0).fails, i);
	}
	rg_status s = region_status(e.rg, 0);
	assert_false(s.up);
	assert_false(rg_is_ready(e.rg));

	/* Down: refused at once, before the deadline. */
	const char *region = NULL;
	int err = 0;
	int64_t t0 = rk_now_us();
	assert_null(rp_begin(e.p, t0 + 500000, &region, &err));
	assert_int_equal(err, RK_EUNAVAIL);
	assert_true(rk_now_us() - t0 < 20000 + slack_us());
	err = 0;
	assert_null(rp_begin(e.p, rk_now_us() - 1, &region, &err));
	assert_int_equal(err, RK_ETIMEOUT);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done, &r),
			 RK_EINVAL);
	assert_int_equal(rp_inflight(e.p), 0);
	rp_flush(e.p);
	assert_int_equal(r.calls, 0);
	env_close(&e);
}

/* ---- defects these tests found (fixed) ---- */

struct evil {
	rp_pipe *p;
	struct rec first, chained;
	int begin_err, commit_rc;
};

/* A failed round's callback starts a new round, as a request resumed
 * after a Redis failure does (it records its outcome). */
static void on_evil(void *ud, redisReply **rep, int n, int err)
{
	struct evil *ev = ud;
	on_done(&ev->first, rep, n, err);
	const char *region = NULL;
	int e = 0;
	redisContext *c = rp_begin(ev->p, rk_now_us() + 500000, &region, &e);
	if (!c) {
		ev->begin_err = e;
		return;
	}
	redisAppendCommand(c, "PING");
	ev->commit_rc = rp_commit(ev->p, 1, rk_now_us() + 500000, on_done,
				  &ev->chained);
}

/* Waits (<= 1 s) until fd reports an error (the peer's RST arrived). */
static bool wait_fd_error(int fd)
{
	int64_t until = rk_now_us() + 1000000;
	while (rk_now_us() < until) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 10) > 0 && (pfd.revents & POLLERR))
			return true;
	}
	return false;
}

/*
 * Found by this test (fixed): rp_flush walked p->old with pp = &p->old.
 * When the write of a retired connection at the head of p->old fails,
 * conn_fail runs its callbacks; one that calls rp_begin while p->cur is
 * no longer current retires p->cur to the head of p->old, and
 * `*pp = pc->next` unlinked that connection instead of the failed one:
 * round R2 on it was lost (never failed, never timed out) and the
 * connection leaked. rp_flush now writes in one pass and unlinks in
 * another, where no callback runs.
 */
static void test_flush_keeps_retired(void **st)
{
	struct env e;
	env_start(&e, 2);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 2, 0);
	cfg.fail_threshold = 2;
	env_open(&e, &cfg, STALL_US);
	static struct evil ev;
	memset(&ev, 0, sizeof(ev));
	ev.p = e.p;
	struct rec r[3];
	rec_reset(r, 3);

	redisContext *ca = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(ca, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_done,
				   &r[0]),
			 0);
	assert_true(turns(e.p, e.epfd, rk_now_us() + 1000000, called, &r[0]));

	/* a dies; its connection is still current (no failure recorded
	 * yet); a round written on it brings back an RST. */
	ru_kill(&e.srv[0]);
	assert_ptr_equal(begin(e.p, "a"), ca);
	assert_int_equal(redisAppendCommand(ca, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 2000000, on_evil,
				   &ev),
			 0);
	rp_flush(e.p);
	assert_true(wait_fd_error(ca->fd));
	assert_ptr_equal(begin(e.p, "a"), ca);
	assert_int_equal(redisAppendCommand(ca, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 2000000, on_done,
				   &r[1]),
			 0);
	/* Two refused connects take a down: failover to b. */
	for (int i = 0; i < 2; i++)
		assert_null(rg_acquire(e.rg, rk_now_us() + 200000));
	assert_string_equal(rg_active_name(e.rg), "b");
	/* The connection to a retires (dirty), R2 goes to b. */
	redisContext *cb = begin(e.p, "b");
	assert_int_equal(redisAppendCommand(cb, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 2000000, on_done,
				   &r[2]),
			 0);
	/* One failure on b (a failed ping would do the same): the
	 * connection to b is no longer current, b stays up. */
	rg_conn *x = rg_acquire(e.rg, rk_now_us() + 200000);
	assert_non_null(x);
	rg_release(e.rg, x, true);
	assert_true(region_status(e.rg, 1).up);
	assert_int_equal(rp_inflight(e.p), 3);

	/* The write to a fails inside rp_flush; on_evil retires the
	 * connection to b (R2 in flight) and commits on a new one. */
	rp_flush(e.p);
	int inflight = rp_inflight(e.p);
	bool evil_ok = ev.first.calls == 1 && ev.first.err == RK_EUNAVAIL &&
		       ev.commit_rc == 0 && r[1].calls == 1;
	rp_free(e.p);
	e.p = NULL;
	printf("  after the flush: %d rounds in flight (R2 and the chained "
	       "one: want 2); R2 called back %d times by rp_free\n",
	       inflight, r[2].calls);
	int r2_calls = r[2].calls;
	env_close(&e);
	assert_true(evil_ok);
	assert_int_equal(inflight, 2);
	assert_int_equal(r2_calls, 1);
}

struct evil2 {
	rp_pipe *p;
	rg_t *rg;
	struct rec r1, r2, x, y;
	int rc_x, rc_y, err;
};

/* R1's callback starts round X (a new connection, the pipe's current
 * one); R2's callback sees a region failure meanwhile (as a prober could
 * record) and starts round Y: rp_begin retires X's connection. */
static void on_r1(void *ud, redisReply **rep, int n, int err)
{
	struct evil2 *ev = ud;
	on_done(&ev->r1, rep, n, err);
	const char *region;
	redisContext *c = rp_begin(ev->p, rk_now_us() + 500000, &region,
				   &ev->err);
	if (!c)
		return;
	for (int i = 0; i < 10; i++)
		redisAppendCommand(c, "PING");
	ev->rc_x = rp_commit(ev->p, 10, rk_now_us() + 500000, on_done, &ev->x);
}

static void on_r2(void *ud, redisReply **rep, int n, int err)
{
	struct evil2 *ev = ud;
	on_done(&ev->r2, rep, n, err);
	rg_conn *c0 = rg_acquire(ev->rg, rk_now_us() + 200000);
	rg_release(ev->rg, c0, true);
	const char *region;
	redisContext *c = rp_begin(ev->p, rk_now_us() + 500000, &region,
				   &ev->err);
	if (!c)
		return;
	redisAppendCommand(c, "PING");
	ev->rc_y = rp_commit(ev->p, 1, rk_now_us() + 500000, on_done, &ev->y);
}

/*
 * Found by this test (fixed): rp_free failed p->old in one pass, so a
 * connection that a callback retired to the head of p->old during that
 * pass (rp_begin when p->cur is no longer current) was never failed:
 * round X's callback never ran and its heap reply array leaked. Now no
 * round can start while the pipe closes (rp_begin: RK_EUNAVAIL), and
 * rp_free repeats until no connection with rounds is left.
 */
static void test_free_fails_retired(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	cfg.fail_threshold = 10;
	env_open(&e, &cfg, STALL_US);
	static struct evil2 ev;
	memset(&ev, 0, sizeof(ev));
	ev.p = e.p;
	ev.rg = e.rg;
	rec_reset(&ev.r1, 1);
	rec_reset(&ev.r2, 1);
	rec_reset(&ev.x, 1);
	rec_reset(&ev.y, 1);

	/* R1, R2 on a connection that retires (one failure recorded). */
	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_r1, &ev),
			 0);
	c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 1000000, on_r2, &ev),
			 0);
	rg_conn *x = rg_acquire(e.rg, rk_now_us() + 200000);
	rg_release(e.rg, x, true);
	begin(e.p, "a");
	assert_int_equal(rp_inflight(e.p), 2);

	rp_free(e.p);
	e.p = NULL;
	printf("  rp_free: R1 %d, R2 %d, X %d, Y %d callbacks (want 1, 1, "
	       "0, 0: no round starts while the pipe closes)\n",
	       ev.r1.calls, ev.r2.calls, ev.x.calls, ev.y.calls);
	int calls[4] = {ev.r1.calls, ev.r2.calls, ev.x.calls, ev.y.calls};
	int err = ev.err;
	env_close(&e);
	assert_int_equal(err, RK_EUNAVAIL);
	assert_int_equal(calls[0], 1);
	assert_int_equal(calls[1], 1);
	assert_int_equal(calls[2], 0);
	assert_int_equal(calls[3], 0);
}

/*
 * Found by this test (fixed in rg_release): a connection that retired
 * because its region failed (generation changed) was closed with
 * rg_release(false), which ended the region's run of failures, while
 * rg_conn_ok ignores successes on such stale connections. Here one
 * request failure is recorded, a round on the stale connection
 * completes, and the region's fails must stay 1.
 */
static void test_stale_release(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	struct rec r;
	rec_reset(&r, 1);
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);

	redisContext *c = begin(e.p, "a");
	assert_int_equal(redisAppendCommand(c, "BLPOP q 5"), REDIS_OK);
	assert_int_equal(rp_commit(e.p, 1, rk_now_us() + 3000000, on_done, &r),
			 0);
	wait_blocked(&e, plain, 1);
	rg_conn *x = rg_acquire(e.rg, rk_now_us() + 200000);
	assert_non_null(x);
	rg_release(e.rg, x, true);
	assert_int_equal(region_status(e.rg, 0).fails, 1);
	begin(e.p, "a"); /* retires the stale connection, BLPOP on it */
	freeReplyObject(redisCommand(plain, "RPUSH q v"));
	assert_true(turns(e.p, e.epfd, rk_now_us() + 2000000, pipe_idle, e.p));
	assert_int_equal(r.err, 0);
	int fails = region_status(e.rg, 0).fails;
	printf("  fails after a stale connection's round: %d (want 1)\n",
	       fails);
	redisFree(plain);
	env_close(&e);
	assert_int_equal(fails, 1);
}

/*
 * Found by this test (fixed): an idle connection closed by a healthy
 * server (CLIENT KILL, a `timeout` setting, a proxy) counted as a
 * request-path failure: with one pipe per loop, fail_threshold such
 * closes in a row took the region down although it answers every
 * request. A close with no round in flight now counts nothing.
 */
static void test_idle_close(void **st)
{
	struct env e;
	env_start(&e, 1);
	rg_config cfg;
	cfg_regions(&cfg, e.srv, 1, 0);
	env_open(&e, &cfg, STALL_US);
	enum { LOOPS = 3 };
	rp_pipe *p[LOOPS];
	struct rec r[LOOPS];
	rec_reset(r, LOOPS);
	for (int i = 0; i < LOOPS; i++) {
		p[i] = i ? rp_new(e.rg, e.epfd, STALL_US) : e.p;
		assert_non_null(p[i]);
		redisContext *c = begin(p[i], "a");
		assert_int_equal(redisAppendCommand(c, "PING"), REDIS_OK);
		assert_int_equal(rp_commit(p[i], 1, rk_now_us() + 1000000,
					   on_done, &r[i]),
				 0);
		assert_true(turns(p[i], e.epfd, rk_now_us() + 1000000, called,
				  &r[i]));
	}
	redisContext *plain = ru_connect(&e.srv[0]);
	assert_non_null(plain);
	freeReplyObject(redisCommand(plain, "CLIENT KILL TYPE normal SKIPME yes"));
	redisFree(plain);
	/* One loop over the shared epoll set for every pipe, until every
	 * close has been counted (or 500 ms). */
	int64_t until = rk_now_us() + 500000;
	while (rk_now_us() < until &&
	       region_status(e.rg, 0).fails < LOOPS) {
		struct epoll_event evs[16];
		int n = epoll_wait(e.epfd, evs, 16, 10);
		for (int i = 0; i < n; i++) {
			rp_ev *ev = evs[i].data.ptr;
			ev->fn(ev, evs[i].events);
		}
		for (int i = 0; i < LOOPS; i++) {
			rp_expire(p[i], rk_now_us());
			rp_flush(p[i]);
		}
	}
	rg_status s = region_status(e.rg, 0);
	printf("  idle connections closed by a healthy Redis: region %s, "
	       "fails %d\n",
	       s.state, s.fails);
	for (int i = 1; i < LOOPS; i++)
		rp_free(p[i]);
	env_close(&e);
	assert_int_equal(s.fails, 0);
	assert_true(s.up);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_dropped),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_partial_write),
		cmocka_unit_test(test_deadline_alone),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_retired_finishes),
		cmocka_unit_test(test_commit_oom),
		cmocka_unit_test(test_free_inflight),
		cmocka_unit_test(test_no_region),
		cmocka_unit_test(test_flush_keeps_retired),
		cmocka_unit_test(test_free_fails_retired),
		cmocka_unit_test(test_stale_release),
		cmocka_unit_test(test_idle_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
