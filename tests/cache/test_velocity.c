/*
 * test_velocity.c - velocity aggregates (cache/velocity.c in process,
 * cache/velocity_redis.c against a real redis-server started here on a
 * free loopback port): count, sum and distinct read before the current
 * event, windows sliding and bucket boundaries (checked against a brute
 * force of the documented rule), missing entities, numbers and strings
 * as entities, key escaping, bounded memory, threads, two Redis writers,
 * pruning, allocation failure. Time is always explicit (no sleeping).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/velocity.h"
#include "common/rk.h"

/* A day boundary, so every window's buckets start on it. */
#define T0 (20000LL * 86400000)
#define H 3600000LL
#define MIN 60000LL

static rules_velocity_def v_count = {"card_txn_1h", "card.id", "1h", H,
				     RULES_AGG_COUNT, NULL};
static rules_velocity_def v_sum = {"card_amount_1h", "card.id", "1h", H,
				   RULES_AGG_SUM, "amount"};
static rules_velocity_def v_dist = {"ip_cards_1h", "ip", "1h", H,
				    RULES_AGG_DISTINCT, "card.id"};

/* ---- a redis-server of our own ---- */

static pid_t vt_pid;
static int vt_port;

static int vt_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0)
		return 0;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static redisContext *vt_connect(void)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", vt_port, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	if (c)
		redisSetTimeout(c, tv);
	return c;
}

static bool vt_ping(void)
{
	redisContext *c = vt_connect();
	redisReply *r = c ? redisCommand(c, "PING") : NULL;
	bool ok = r && r->type == REDIS_REPLY_STATUS;
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return ok;
}

static void vt_nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

/* redis-server on a free port, up to 5 tries; answers within 10 s. */
static int redis_setup(void **st)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		char port[16];
		vt_port = vt_free_port();
		snprintf(port, sizeof(port), "%d", vt_port);
		pid_t parent = getpid();
		vt_pid = fork();
		if (vt_pid < 0)
			return -1;
		if (vt_pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(127);
			int nul = open("/dev/null", O_RDWR);
			dup2(nul, 1);
			dup2(nul, 2);
			execlp("redis-server", "redis-server", "--port", port,
			       "--bind", "127.0.0.1", "--save", "",
			       "--appendonly", "no", "--daemonize", "no",
			       (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 1000; i++) {
			if (waitpid(vt_pid, NULL, WNOHANG) == vt_pid)
				break; /* port taken, or no redis-server */
			if (vt_ping())
				return 0;
			vt_nap(10);
		}
		kill(vt_pid, SIGKILL);
		waitpid(vt_pid, NULL, 0);
	}
	vt_pid = 0;
	fprintf(stderr, "cannot start redis-server\n");
	return -1;
}

static int redis_teardown(void **st)
{
	if (vt_pid > 0) {
		kill(vt_pid, SIGTERM);
		waitpid(vt_pid, NULL, 0);
	}
	return 0;
}

static redisReply *vt_cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}

/* ---- one interface over both back ends ---- */

typedef struct be {
	vel_store *st;    /* in process, or */
	redisContext *c;  /* Redis */
	bool prune;       /* Redis: prune with every record */
} be;

static int be_in_process(void **state)
{
	be *b = calloc(1, sizeof(*b));
	b->st = vel_store_new(10000);
	assert_non_null(b->st);
	*state = b;
	return 0;
}

static int be_redis(void **state)
{
	be *b = calloc(1, sizeof(*b));
	b->c = vt_connect();
	assert_non_null(b->c);
	freeReplyObject(vt_cmd(b->c, "FLUSHALL"));
	b->prune = true;
	*state = b;
	return 0;
}

static int be_done(void **state)
{
	be *b = *state;
	vel_store_free(b->st);
	if (b->c)
		redisFree(b->c);
	free(b);
	return 0;
}

/* Reads nrep replies into reps. */
static void get_replies(redisContext *c, redisReply **reps, int nrep)
{
	for (int i = 0; i < nrep; i++) {
		void *r = NULL;
		assert_int_equal(redisGetReply(c, &r), REDIS_OK);
		reps[i] = r;
	}
}

static void free_replies(redisReply **reps, int nrep)
{
	for (int i = 0; i < nrep; i++)
		freeReplyObject(reps[i]);
}

static int be_read_ev(be *b, const rules_velocity_def *d, int n,
		      const cJSON *ev, int64_t now, double *out, bool *has)
{
	if (b->st)
		return vel_store_read(b->st, d, n, ev, now, out, has);
	int nrep, rc;
	redisReply *reps[16];
	int arc = vel_redis_append_reads(b->c, d, n, ev, now, &nrep);
	assert_true(arc == 0 || arc == RK_EINVAL);
	assert_true(nrep <= n);
	get_replies(b->c, reps, nrep);
	rc = vel_redis_parse_reads(reps, nrep, d, n, ev, now, out, has);
	free_replies(reps, nrep);
	assert_int_equal(rc == RK_EINVAL, arc == RK_EINVAL);
	return rc;
}

/* As the service does: reads, then prunes and records in one pipeline. */
static void be_record_ev(be *b, const rules_velocity_def *d, int n,
			 const cJSON *ev, int64_t now)
{
	if (b->st) {
		assert_int_equal(vel_store_record(b->st, d, n, ev, now), 0);
		return;
	}
	int nread = 0, nprune = 0, nrec;
	redisReply *rd[16], *wr[256];
	if (b->prune) {
		assert_int_equal(vel_redis_append_reads(b->c, d, n, ev, now,
							&nread),
				 0);
		get_replies(b->c, rd, nread);
		assert_int_equal(vel_redis_append_prunes(b->c, rd, nread, d, n,
							 ev, now, &nprune),
				 0);
		free_replies(rd, nread);
	}
	assert_int_equal(vel_redis_append_records(b->c, d, n, ev, now, &nrec),
			 0);
	assert_true(nprune + nrec <= 256);
	get_replies(b->c, wr, nprune + nrec);
	for (int i = 0; i < nprune + nrec; i++)
		assert_int_not_equal(wr[i]->type, REDIS_REPLY_ERROR);
	free_replies(wr, nprune + nrec);
}

static cJSON *ev_parse(const char *json)
{
	cJSON *ev = cJSON_Parse(json);
	assert_non_null(ev);
	return ev;
}

/* The value of one definition for event text at now; NAN if no value. */
static double rd1(be *b, const rules_velocity_def *d, const char *json,
		  int64_t now)
{
	cJSON *ev = ev_parse(json);
	double v;
	bool has;
	assert_int_equal(be_read_ev(b, d, 1, ev, now, &v, &has), 0);
	cJSON_Delete(ev);
	return has ? v : NAN;
}

static void rec(be *b, const rules_velocity_def *d, int n, const char *json,
		int64_t now)
{
	cJSON *ev = ev_parse(json);
	be_record_ev(b, d, n, ev, now);
	cJSON_Delete(ev);
}

/* ---- scenarios, run on both back ends ---- */

/* The value read is the aggregate before the current event. */
static void t_before_current(void **state)
{
	be *b = *state;
	rules_velocity_def defs[] = {v_count, v_sum, v_dist};
	const char *evs[] = {
		"{\"card\":{\"id\":\"c1\"},\"amount\":10.5,\"ip\":\"1.2.3.4\"}",
		"{\"card\":{\"id\":\"c1\"},\"amount\":20.25,"
		"\"ip\":\"1.2.3.4\"}",
		"{\"card\":{\"id\":\"c2\"},\"amount\":1,\"ip\":\"1.2.3.4\"}",
		"{\"card\":{\"id\":\"c1\"},\"ip\":\"1.2.3.4\"}",
	};
	double want[][3] = {{0, 0, 0}, {1, 10.5, 1}, {0, 0, 1}, {2, 30.75, 2}};
	for (int i = 0; i < 4; i++) {
		cJSON *ev = ev_parse(evs[i]);
		double out[3];
		bool has[3];
		int64_t now = T0 + 1000 * i;
		assert_int_equal(be_read_ev(b, defs, 3, ev, now, out, has), 0);
		for (int k = 0; k < 3; k++) {
			assert_true(has[k]);
			assert_true(out[k] == want[i][k]);
		}
		be_record_ev(b, defs, 3, ev, now);
		cJSON_Delete(ev);
	}
	/* an amount that is not a finite number is not added */
	cJSON *inf = ev_parse("{\"card\":{\"id\":\"c1\"},\"amount\":\"5\"}");
	be_record_ev(b, &v_sum, 1, inf, T0 + 4000);
	cJSON_ReplaceItemInObject(inf, "amount", cJSON_CreateNumber(INFINITY));
	be_record_ev(b, &v_sum, 1, inf, T0 + 4000);
	cJSON_Delete(inf);
	/* the last event counted for c1; the sum had no amount to add */
	const char *c1 = "{\"card\":{\"id\":\"c1\"},\"ip\":\"1.2.3.4\"}";
	assert_true(rd1(b, &v_count, c1, T0 + 5000) == 3);
	assert_true(rd1(b, &v_sum, c1, T0 + 5000) == 30.75);
	assert_true(rd1(b, &v_dist, c1, T0 + 5000) == 2);
}

/*
 * An event at e is counted at t when e >= start of the bucket holding
 * t - W (the documented rule: buckets overlapping (t - W, t]).
 */
static bool counted(int64_t e, int64_t t, int64_t w)
{
	int64_t b = w / 60;
	int64_t x = t - w;
	int64_t lo = (x >= 0 ? x / b : -((-x + b - 1) / b)) * b;
	return e >= lo;
}

/* Bucket edges: one event at the start and one at the end of bucket 0. */
static void t_boundaries(void **state)
{
	be *b = *state;
	const char *a = "{\"card\":{\"id\":\"a\"}}";
	const char *z = "{\"card\":{\"id\":\"z\"}}";
	int64_t B = H / 60;
	rec(b, &v_count, 1, a, T0);
	rec(b, &v_count, 1, z, T0 + B - 1);
	assert_true(rd1(b, &v_count, a, T0) == 1);
	assert_true(rd1(b, &v_count, a, T0 + H - 1) == 1);
	/* at most one bucket beyond the window, never less than it */
	assert_true(rd1(b, &v_count, a, T0 + H) == 1);
	assert_true(rd1(b, &v_count, a, T0 + H + B - 1) == 1);
	assert_true(rd1(b, &v_count, a, T0 + H + B) == 0);
	assert_true(rd1(b, &v_count, z, T0 + B - 1 + H - 1) == 1);
	assert_true(rd1(b, &v_count, z, T0 + H + B - 1) == 1);
	assert_true(rd1(b, &v_count, z, T0 + H + B) == 0);
	assert_true(rd1(b, &v_count, z, T0 + 30LL * 86400000) == 0);
}

/* Events every 7 min 13 s for 5 hours, read before each: brute force. */
static void t_sliding(void **state)
{
	be *b = *state;
	rules_velocity_def defs[] = {v_count, v_sum};
	int64_t times[64];
	double amounts[64];
	int n = 0;
	for (int64_t t = T0 + 1234; t < T0 + 5 * H; t += 433000, n++) {
		char json[128];
		snprintf(json, sizeof(json),
			 "{\"card\":{\"id\":\"s\"},\"amount\":%d}", n + 1);
		double wc = 0, ws = 0;
		for (int k = 0; k < n; k++)
			if (counted(times[k], t, H)) {
				wc++;
				ws += amounts[k];
			}
		assert_true(rd1(b, &v_count, json, t) == wc);
		assert_true(rd1(b, &v_sum, json, t) == ws);
		rec(b, defs, 2, json, t);
		times[n] = t;
		amounts[n] = n + 1;
	}
	assert_true(n > 40);
}

/* Distinct is exact: members last seen in (t - W, t]. */
static void t_distinct(void **state)
{
	be *b = *state;
	const char *ip = "{\"ip\":\"9.9.9.9\"}";
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":\"a\"}}", T0);
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":\"b\"}}",
	    T0 + 10 * MIN);
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":123}}",
	    T0 + 20 * MIN);
	/* the same member as a string, and a repeat of a */
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":\"123\"}}",
	    T0 + 20 * MIN);
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":\"a\"}}",
	    T0 + 30 * MIN);
	/* no member: nothing recorded */
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\"}", T0 + 30 * MIN);
	rec(b, &v_dist, 1, "{\"ip\":\"9.9.9.9\",\"card\":{\"id\":null}}",
	    T0 + 30 * MIN);
	assert_true(rd1(b, &v_dist, ip, T0 + 30 * MIN) == 3);
	assert_true(rd1(b, &v_dist, ip, T0 + 10 * MIN + H - 1) == 3);
	assert_true(rd1(b, &v_dist, ip, T0 + 10 * MIN + H) == 2);
	assert_true(rd1(b, &v_dist, ip, T0 + 20 * MIN + H) == 1);
	assert_true(rd1(b, &v_dist, ip, T0 + 30 * MIN + H - 1) == 1);
	assert_true(rd1(b, &v_dist, ip, T0 + 30 * MIN + H) == 0);
	assert_true(rd1(b, &v_dist, "{\"ip\":\"8.8.8.8\"}", T0) == 0);
}

/* No entity: the velocity reads null and nothing is recorded. */
static void t_missing_entity(void **state)
{
	be *b = *state;
	rules_velocity_def defs[] = {v_count, v_sum, v_dist};
	const char *none[] = {
		"{}", "{\"card\":null}", "{\"card\":{\"id\":null}}",
		"{\"card\":{\"id\":\"\"}}", "{\"card\":{\"id\":true}}",
		"{\"card\":{\"id\":{}}}", "{\"card\":{\"id\":[1]}}",
		"{\"card\":\"x\"}", "{\"card\":[{\"id\":\"c\"}]}",
	};
	for (size_t i = 0; i < RK_ARRAY_LEN(none); i++) {
		rec(b, defs, 3, none[i], T0);
		assert_true(isnan(rd1(b, &v_count, none[i], T0 + 1)));
		assert_true(isnan(rd1(b, &v_sum, none[i], T0 + 1)));
		assert_true(isnan(rd1(b, &v_dist, none[i], T0 + 1)));
	}
	/* one definition missing, the others present */
	cJSON *ev = ev_parse("{\"ip\":\"1.1.1.1\",\"card\":{\"id\":\"q\"}}");
	rules_velocity_def odd = {"by_user", "user.id", "1h", H,
				  RULES_AGG_COUNT, NULL};
	rules_velocity_def mix[] = {v_count, odd, v_dist};
	double out[3];
	bool has[3];
	be_record_ev(b, mix, 3, ev, T0);
	assert_int_equal(be_read_ev(b, mix, 3, ev, T0 + 1, out, has), 0);
	assert_true(has[0] && !has[1] && has[2]);
	assert_true(out[0] == 1 && out[1] == 0 && out[2] == 1);
	cJSON *j = vel_to_json(mix, 3, out, has);
	assert_non_null(j);
	char *txt = cJSON_PrintUnformatted(j);
	assert_string_equal(txt, "{\"card_txn_1h\":1,\"by_user\":null,"
				 "\"ip_cards_1h\":1}");
	cJSON_free(txt);
	cJSON_Delete(j);
	cJSON_Delete(ev);
}

/* Numbers and strings: 4111111111111111 and "4111111111111111" are one
 * entity; keys with separators or long values stay distinct. */
static void t_entities(void **state)
{
	be *b = *state;
	rec(b, &v_count, 1, "{\"card\":{\"id\":4111111111111111}}", T0);
	rec(b, &v_count, 1, "{\"card\":{\"id\":\"4111111111111111\"}}", T0);
	rec(b, &v_count, 1, "{\"card\":{\"id\":12.5}}", T0);
	rec(b, &v_count, 1, "{\"card\":{\"id\":-0.0}}", T0);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":4111111111111111}}",
			T0 + 1) == 2);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":4.111111111111111e15}}",
			T0 + 1) == 2);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":\"12.5\"}}", T0 + 1) ==
		    1);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":0}}", T0 + 1) == 1);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":4111111111111112}}",
			T0 + 1) == 0);
	/* separators and escapes */
	rec(b, &v_count, 1, "{\"card\":{\"id\":\"a:b\"}}", T0);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":\"a:b\"}}", T0 + 1) ==
		    1);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":\"a%3Ab\"}}", T0 + 1) ==
		    0);
	assert_true(rd1(b, &v_count, "{\"card\":{\"id\":\"a\"}}", T0 + 1) == 0);
	/* long values are hashed, still one per value */
	char l1[1100], l2[1100];
	memset(l1, 'x', 1000);
	l1[1000] = '\0';
	memcpy(l2, l1, sizeof(l1));
	l2[999] = 'y';
	char j1[1200], j2[1200];
	snprintf(j1, sizeof(j1), "{\"card\":{\"id\":\"%s\"}}", l1);
	snprintf(j2, sizeof(j2), "{\"card\":{\"id\":\"%s\"}}", l2);
	rec(b, &v_count, 1, j1, T0);
	rec(b, &v_count, 1, j1, T0);
	rec(b, &v_count, 1, j2, T0);
	assert_true(rd1(b, &v_count, j1, T0 + 1) == 2);
	assert_true(rd1(b, &v_count, j2, T0 + 1) == 1);
	/* a path with brackets and the event. prefix */
	rules_velocity_def br = {"first_sku", "event.items[0][\"sku\"]", "1m",
				 MIN, RULES_AGG_COUNT, NULL};
	const char *it = "{\"items\":[{\"sku\":\"S1\"},{\"sku\":\"S2\"}]}";
	rec(b, &br, 1, it, T0);
	assert_true(rd1(b, &br, it, T0 + 1) == 1);
	assert_true(rd1(b, &br, "{\"items\":[{\"sku\":\"S2\"}]}", T0 + 1) == 0);
}

/* Same name, different window or agg: separate aggregates. Short and
 * long windows both work (1m: 1 s buckets; 30d: 12 h buckets). */
static void t_windows(void **state)
{
	be *b = *state;
	rules_velocity_def m1 = {"w", "card.id", "1m", MIN, RULES_AGG_COUNT,
				 NULL};
	rules_velocity_def s61 = {"w61", "card.id", "61s", 61000,
				  RULES_AGG_COUNT, NULL};
	rules_velocity_def d30 = {"w30", "card.id", "30d", 30 * 86400000LL,
				  RULES_AGG_SUM, "amount"};
	const char *e = "{\"card\":{\"id\":\"w\"},\"amount\":2}";
	for (int i = 0; i < 200; i++) {
		rules_velocity_def all[] = {m1, s61, d30};
		rec(b, all, 3, e, T0 + 500LL * i);
	}
	/* 120 events in the last 60 s, and up to a bucket before */
	int64_t t = T0 + 500LL * 199;
	double w1 = 0, w61 = 0;
	for (int i = 0; i < 200; i++) {
		w1 += counted(T0 + 500LL * i, t, MIN);
		w61 += counted(T0 + 500LL * i, t, 61000);
	}
	assert_true(w1 == 122 && w61 >= 122 && w61 <= 125);
	assert_true(rd1(b, &m1, e, t) == w1);
	assert_true(rd1(b, &s61, e, t) == w61);
	assert_true(rd1(b, &d30, e, t) == 400);
	assert_true(rd1(b, &d30, e, T0 + 30 * 86400000LL - 1) == 400);
	assert_true(rd1(b, &d30, e, T0 + 31 * 86400000LL) == 0);
	/* a malformed definition reads nothing and says so */
	rules_velocity_def bad = {"bad", "card.id", "1s", 1000,
				  RULES_AGG_COUNT, NULL};
	cJSON *ev = ev_parse(e);
	double out;
	bool has;
	assert_int_equal(be_read_ev(b, &bad, 1, ev, t, &out, &has), RK_EINVAL);
	assert_false(has);
	cJSON_Delete(ev);
}

/* A hot distinct entity keeps at most VEL_DISTINCT_MAX members. */
static void t_distinct_bound(void **state)
{
	be *b = *state;
	cJSON *ev = ev_parse("{\"ip\":\"7.7.7.7\",\"card\":{\"id\":0}}");
	cJSON *id = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "card"), "id");
	for (int i = 0; i < VEL_DISTINCT_MAX + 200; i++) {
		cJSON_SetNumberValue(id, i);
		be_record_ev(b, &v_dist, 1, ev, T0 + i);
	}
	double out;
	bool has;
	assert_int_equal(be_read_ev(b, &v_dist, 1, ev, T0 + 5000, &out, &has),
			 0);
	assert_true(out == VEL_DISTINCT_MAX);
	/* the newest stayed: re-seeing one does not add */
	cJSON_SetNumberValue(id, VEL_DISTINCT_MAX + 199);
	be_record_ev(b, &v_dist, 1, ev, T0 + 5001);
	assert_int_equal(be_read_ev(b, &v_dist, 1, ev, T0 + 5002, &out, &has),
			 0);
	assert_true(out == VEL_DISTINCT_MAX);
	cJSON_Delete(ev);
}

/* ---- in process only ---- */

static void t_store_bounded(void **st)
{
	vel_store *s = vel_store_new(100);
	char json[64];
	size_t fp0 = vel_store_footprint(s);
	for (int i = 0; i < 10000; i++) {
		snprintf(json, sizeof(json), "{\"card\":{\"id\":%d}}", i);
		cJSON *ev = ev_parse(json);
		assert_int_equal(vel_store_record(s, &v_count, 1, ev, T0 + i),
				 0);
		cJSON_Delete(ev);
		if (i % 10 == 0) { /* a hot entity updated all along */
			ev = ev_parse("{\"card\":{\"id\":\"hot\"}}");
			assert_int_equal(vel_store_record(s, &v_count, 1, ev,
							  T0 + i),
					 0);
			cJSON_Delete(ev);
		}
		assert_true(vel_store_count(s) <= 100);
	}
	assert_int_equal(vel_store_count(s), 100);
	size_t fp = vel_store_footprint(s);
	assert_true(fp - fp0 < 100 * 1024);
	be b = {.st = s};
	assert_true(rd1(&b, &v_count, "{\"card\":{\"id\":9999}}", T0 + 10000) ==
		    1);
	assert_true(rd1(&b, &v_count, "{\"card\":{\"id\":0}}", T0 + 10000) ==
		    0);
	assert_true(rd1(&b, &v_count, "{\"card\":{\"id\":\"hot\"}}",
			T0 + 10000) == 1000);
	/* a clock stepped back by more than a window restarts the count;
	 * a small step back still counts */
	const char *c = "{\"card\":{\"id\":\"clock\"}}";
	rec(&b, &v_count, 1, c, T0 + 10 * H);
	rec(&b, &v_count, 1, c, T0 + 10 * H - 5 * MIN);
	assert_true(rd1(&b, &v_count, c, T0 + 10 * H) == 2);
	rec(&b, &v_count, 1, c, T0);
	assert_true(rd1(&b, &v_count, c, T0) == 1);
	assert_true(rd1(&b, &v_count, c, T0 + 10 * H) == 0);
	vel_store_free(s);
	vel_store_free(NULL);
	/* the smallest store still holds one */
	s = vel_store_new(0);
	b.st = s;
	rec(&b, &v_count, 1, "{\"card\":{\"id\":1}}", T0);
	rec(&b, &v_count, 1, "{\"card\":{\"id\":1}}", T0);
	assert_true(rd1(&b, &v_count, "{\"card\":{\"id\":1}}", T0) == 2);
	rec(&b, &v_count, 1, "{\"card\":{\"id\":2}}", T0);
	assert_true(rd1(&b, &v_count, "{\"card\":{\"id\":1}}", T0) == 0);
	assert_int_equal(vel_store_count(s), 1);
	vel_store_free(s);
}

#define NTHREADS 6
#define PER_THREAD 4000

typedef struct worker {
	vel_store *s;
	int id;
} worker;

static void *store_worker(void *arg)
{
	worker *w = arg;
	rules_velocity_def defs[] = {v_count, v_sum, v_dist};
	char json[128];
	for (int i = 0; i < PER_THREAD; i++) {
		/* 4 shared cards, one own card, members shared by all */
		snprintf(json, sizeof(json),
			 "{\"card\":{\"id\":\"%s%d\"},\"amount\":0.5,"
			 "\"ip\":\"ip%d\"}",
			 i % 2 ? "shared" : "own", i % 2 ? i % 8 : w->id,
			 i % 3);
		cJSON *ev = cJSON_Parse(json);
		double out[3];
		bool has[3];
		int64_t now = T0 + i;
		if (vel_store_read(w->s, defs, 3, ev, now, out, has) ||
		    vel_store_record(w->s, defs, 3, ev, now))
			w->id = -1;
		cJSON_Delete(ev);
	}
	return NULL;
}

static void t_store_threads(void **st)
{
	vel_store *s = vel_store_new(1000);
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (worker){s, i};
		assert_int_equal(pthread_create(&th[i], NULL, store_worker,
						&w[i]),
				 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].id, i);
	}
	be b = {.st = s};
	int64_t t = T0 + PER_THREAD;
	for (int k = 1; k < 8; k += 2) {
		char json[64];
		snprintf(json, sizeof(json), "{\"card\":{\"id\":\"shared%d\"}}",
			 k);
		double c = rd1(&b, &v_count, json, t);
		assert_true(c == NTHREADS * PER_THREAD / 8);
		assert_true(rd1(&b, &v_sum, json, t) == c * 0.5);
	}
	for (int i = 0; i < NTHREADS; i++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"card\":{\"id\":\"own%d\"}}",
			 i);
		assert_true(rd1(&b, &v_count, json, t) == PER_THREAD / 2);
	}
	/* every ip saw the 4 shared cards and the NTHREADS own ones */
	assert_true(rd1(&b, &v_dist, "{\"ip\":\"ip0\"}", t) == 4 + NTHREADS);
	vel_store_free(s);
}

/* Every allocation of the store can fail: no crash, no leak, and the
 * values never exceed what was recorded. */
static void t_store_oom(void **st)
{
	rules_velocity_def defs[] = {v_count, v_sum, v_dist};
	const char *evs[] = {
		"{\"card\":{\"id\":\"a\"},\"amount\":1,\"ip\":\"i\"}",
		"{\"card\":{\"id\":\"b\"},\"amount\":2,\"ip\":\"i\"}",
		"{\"card\":{\"id\":\"c\"},\"amount\":3,\"ip\":\"j\"}",
	};
	cJSON *ev[3];
	for (int i = 0; i < 3; i++)
		ev[i] = ev_parse(evs[i]);
	bool done = false;
	for (long n = 0; n < 400 && !done; n++) {
		rk_alloc_fail_after(n);
		vel_store *s = vel_store_new(2);
		int fails = 0;
		for (int r = 0; s && r < 30; r++)
			fails += vel_store_record(s, defs, 3, ev[r % 3],
						  T0 + r * 1000) != 0;
		cJSON *j = NULL;
		double out[3] = {1, 2, 3};
		bool has[3] = {true, false, true};
		if (s)
			j = vel_to_json(defs, 3, out, has);
		rk_alloc_fail_after(-1);
		if (s) {
			assert_int_equal(vel_store_read(s, defs, 3, ev[2],
							T0 + 30000, out, has),
					 0);
			assert_true(out[0] <= 10 && out[1] <= 30 &&
				    out[2] <= 1);
			assert_true(vel_store_count(s) <= 2);
			done = !fails && j;
		}
		cJSON_Delete(j);
		vel_store_free(s);
	}
	assert_true(done);
	for (int i = 0; i < 3; i++)
		cJSON_Delete(ev[i]);
}

static void t_text_and_paths(void **st)
{
	char buf[VEL_TEXT_MAX + 1];
	cJSON *v = cJSON_CreateString("a b:%~\xc3\xa9");
	assert_int_equal(vel_text(v, buf, sizeof(buf)), 20);
	assert_string_equal(buf, "a%20b%3A%25%7E%C3%A9");
	cJSON_Delete(v);
	double nums[] = {0, -0.0, 7, -12, 0.1, 1e300, 4111111111111111.0,
			 1.5e-7};
	const char *want[] = {"0", "0", "7", "-12", "0.1", "1e+300",
			      "4111111111111111", "1.5e-07"};
	for (size_t i = 0; i < RK_ARRAY_LEN(nums); i++) {
		v = cJSON_CreateNumber(nums[i]);
		assert_true(vel_text(v, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, want[i]);
		cJSON_Delete(v);
	}
	assert_int_equal(vel_text(NULL, buf, sizeof(buf)), RK_ENOENT);
	v = cJSON_CreateString("x");
	assert_int_equal(vel_text(v, buf, 8), RK_EINVAL);
	cJSON_Delete(v);
	/* a value whose escaped form is too long is hashed */
	char big[200];
	memset(big, ':', 60);
	big[60] = '\0';
	v = cJSON_CreateString(big);
	assert_int_equal(vel_text(v, buf, sizeof(buf)), 33);
	assert_int_equal(buf[0], '~');
	cJSON_Delete(v);

	cJSON *ev = ev_parse("{\"a\":{\"b\":[1,{\"c d\":\"x\"}]},\"event\":5,"
			     "\"e\":{\"x\":1}}");
	assert_int_equal(vel_path_get(ev, "a.b[0]")->valueint, 1);
	assert_string_equal(vel_path_get(ev, "a.b[1][\"c d\"]")->valuestring,
			    "x");
	assert_string_equal(vel_path_get(ev, "a.b[1]['c d']")->valuestring,
			    "x");
	assert_int_equal(vel_path_get(ev, "event.event")->valueint, 5);
	assert_int_equal(vel_path_get(ev, "event")->valueint, 5);
	assert_int_equal(vel_path_get(ev, "event.e.x")->valueint, 1);
	assert_null(vel_path_get(ev, "a.b[2]"));
	assert_null(vel_path_get(ev, "a.b.c"));
	assert_null(vel_path_get(ev, "a.x"));
	assert_null(vel_path_get(ev, "a[0]"));
	assert_null(vel_path_get(ev, "a.b[1][\"c d\""));
	assert_null(vel_path_get(ev, "a..b"));
	assert_null(vel_path_get(ev, ""));
	cJSON_Delete(ev);
	assert_int_equal(vel_bucket_ms(H), 60000);
	assert_int_equal(vel_bucket_ms(61000), 1016);
	assert_true(vel_now_ms() > T0);
}

static void t_defs_used(void **st)
{
	const char *txt =
		"{\"scenario\":\"p\",\"velocity\":["
		"{\"name\":\"a\",\"entity\":\"card.id\",\"window\":\"1h\","
		"\"agg\":\"count\"},"
		"{\"name\":\"b\",\"entity\":\"ip\",\"window\":\"1d\","
		"\"agg\":\"distinct\",\"field\":\"card.id\"},"
		"{\"name\":\"c\",\"entity\":\"ip\",\"window\":\"10m\","
		"\"agg\":\"sum\",\"field\":\"amount\"}],"
		"\"rules\":[{\"id\":\"r1\",\"when\":\"velocity.c > 5\"},"
		"{\"id\":\"r2\",\"when\":"
		"\"velocity.b > 2 or velocity.c > 9\"}]}";
	rk_diags diags, *d = &diags;
	rk_diags_init(d);
	rules_def *def = rules_def_parse(txt, strlen(txt), d);
	assert_non_null(def);
	rules_set *s = rules_compile(def, NULL, d);
	assert_non_null(s);
	rules_velocity_def used[3];
	assert_int_equal(vel_defs_used(s, used, 3), 2);
	assert_string_equal(used[0].name, "b");
	assert_int_equal(used[0].agg, RULES_AGG_DISTINCT);
	assert_int_equal(used[0].window_ms, 86400000);
	assert_string_equal(used[1].name, "c");
	assert_int_equal(vel_defs_used(s, used, 1), 1);
	rules_set_free(s);
	rules_def_free(def);
	rk_diags_cleanup(d);
}

/* ---- Redis only ---- */

/* The documented layout: key names, bucket fields, expiry. */
static void t_redis_layout(void **state)
{
	be *b = *state;
	rules_velocity_def defs[] = {v_count, v_sum, v_dist};
	rec(b, defs, 3,
	    "{\"card\":{\"id\":\"k 1\"},\"amount\":2.5,\"ip\":\"1.2.3.4\"}",
	    T0 + 61000);
	redisReply *r = vt_cmd(b->c, "HGETALL riskd:v:card_txn_1h:k%%201:c");
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	char field[32];
	snprintf(field, sizeof(field), "%lld", T0 + 60000);
	assert_string_equal(r->element[0]->str, field);
	assert_string_equal(r->element[1]->str, "1");
	freeReplyObject(r);
	r = vt_cmd(b->c, "HGET riskd:v:card_amount_1h:k%%201:s %s", field);
	assert_string_equal(r->str, "2.5");
	freeReplyObject(r);
	r = vt_cmd(b->c, "ZSCORE riskd:v:ip_cards_1h:1.2.3.4:d k%%201");
	assert_int_equal(strtoll(r->str, NULL, 10), T0 + 61000);
	freeReplyObject(r);
	r = vt_cmd(b->c, "PTTL riskd:v:card_txn_1h:k%%201:c");
	assert_true(r->integer > H && r->integer <= H + 60000);
	freeReplyObject(r);
	r = vt_cmd(b->c, "PTTL riskd:v:ip_cards_1h:1.2.3.4:d");
	assert_true(r->integer > H - 60000 && r->integer <= H);
	freeReplyObject(r);
}

/* Without pruning a hash keeps every bucket; with it, about a window. */
static void t_redis_prune(void **state)
{
	be *b = *state;
	rules_velocity_def m1 = {"p1m", "card.id", "1m", MIN, RULES_AGG_COUNT,
				 NULL};
	for (int pass = 0; pass < 2; pass++) {
		b->prune = pass == 1;
		const char *e = pass ? "{\"card\":{\"id\":\"y\"}}"
				     : "{\"card\":{\"id\":\"n\"}}";
		for (int i = 0; i < 180; i++)
			rec(b, &m1, 1, e, T0 + 1000LL * i);
		redisReply *r = vt_cmd(b->c, "HLEN riskd:v:p1m:%s:c",
				       pass ? "y" : "n");
		if (pass)
			assert_int_equal(r->integer, VEL_BUCKETS + 1);
		else
			assert_int_equal(r->integer, 180);
		freeReplyObject(r);
		double v = rd1(b, &m1, e, T0 + 179000);
		assert_true(v >= 60 && v <= 61);
	}
	b->prune = true;
}

/* Errors of Redis reach the caller; the other values still parse. */
static void t_redis_errors(void **state)
{
	be *b = *state;
	freeReplyObject(vt_cmd(b->c, "SET riskd:v:card_txn_1h:w:c oops"));
	rules_velocity_def defs[] = {v_count, v_sum};
	cJSON *ev = ev_parse("{\"card\":{\"id\":\"w\"},\"amount\":1}");
	double out[2];
	bool has[2];
	int nrep;
	redisReply *reps[2];
	rec(b, &v_sum, 1, "{\"card\":{\"id\":\"w\"},\"amount\":4}", T0);
	assert_int_equal(be_read_ev(b, defs, 2, ev, T0, out, has), RK_EIO);
	assert_false(has[0]);
	assert_true(has[1] && out[1] == 4);
	/* reply count that does not match */
	assert_int_equal(vel_redis_append_reads(b->c, defs, 2, ev, T0, &nrep),
			 0);
	assert_int_equal(nrep, 2);
	get_replies(b->c, reps, 2);
	assert_int_equal(vel_redis_parse_reads(reps, 1, defs, 2, ev, T0, out,
					       has),
			 RK_EINVAL);
	redisReply *second = reps[1];
	reps[1] = NULL; /* as if the connection broke */
	assert_int_equal(vel_redis_parse_reads(reps, 2, defs, 2, ev, T0, out,
					       has),
			 RK_EIO);
	assert_false(has[1]);
	free_replies(reps, 1);
	freeReplyObject(second);
	/* a prune that cannot allocate appends nothing */
	cJSON *ps = ev_parse("{\"card\":{\"id\":\"old\"},\"amount\":1}");
	rec(b, &v_sum, 1, "{\"card\":{\"id\":\"old\"},\"amount\":1}", T0);
	assert_int_equal(vel_redis_append_reads(b->c, &v_sum, 1, ps, T0 + 2 * H,
						&nrep),
			 0);
	get_replies(b->c, reps, 1);
	int np = -1;
	rk_alloc_fail_after(0);
	assert_int_equal(vel_redis_append_prunes(b->c, reps, 1, &v_sum, 1, ps,
						 T0 + 2 * H, &np),
			 RK_ENOMEM);
	rk_alloc_fail_after(-1);
	assert_int_equal(np, 0);
	assert_int_equal(vel_redis_append_prunes(b->c, reps, 1, &v_sum, 1, ps,
						 T0 + 2 * H, &np),
			 0);
	assert_int_equal(np, 1);
	free_replies(reps, 1);
	get_replies(b->c, reps, 1);
	assert_int_equal(reps[0]->type, REDIS_REPLY_INTEGER);
	assert_int_equal(reps[0]->integer, 1);
	free_replies(reps, 1);
	cJSON_Delete(ps);
	/* a record into the wrong type gives an error reply */
	assert_int_equal(vel_redis_append_records(b->c, defs, 1, ev, T0, &nrep),
			 0);
	assert_int_equal(nrep, 2);
	get_replies(b->c, reps, 2);
	assert_int_equal(reps[0]->type, REDIS_REPLY_ERROR);
	free_replies(reps, 2);
	cJSON_Delete(ev);
}

typedef struct writer {
	int n;
	int ok;  /* replies that were not errors */
} writer;

static rules_velocity_def v_users = {"ip_users_1h", "ip", "1h", H,
				     RULES_AGG_DISTINCT, "user.id"};

static void *redis_writer(void *arg)
{
	writer *w = arg;
	redisContext *c = vt_connect();
	rules_velocity_def defs[] = {v_count, v_sum, v_users};
	char json[128];
	for (int i = 0; c && i < w->n; i++) {
		snprintf(json, sizeof(json),
			 "{\"card\":{\"id\":\"two\"},\"amount\":0.25,"
			 "\"ip\":\"6.6.6.6\",\"user\":{\"id\":%d}}",
			 i % 50);
		cJSON *ev = cJSON_Parse(json);
		int nrep = 0;
		if (vel_redis_append_records(c, defs, 3, ev, T0 + i, &nrep))
			nrep = -1;
		cJSON_Delete(ev);
		for (int k = 0; k < nrep; k++) {
			void *r = NULL;
			if (redisGetReply(c, &r) != REDIS_OK)
				goto out;
			w->ok += ((redisReply *)r)->type != REDIS_REPLY_ERROR;
			freeReplyObject(r);
		}
	}
out:
	if (c)
		redisFree(c);
	return NULL;
}

/* Two writers on two connections: the totals are exact. */
static void t_redis_two_writers(void **state)
{
	be *b = *state;
	writer w[2] = {{3000, 0}, {3000, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, redis_writer,
						&w[i]),
				 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].ok, 3000 * 8);
	assert_int_equal(w[1].ok, 3000 * 8);
	const char *e = "{\"card\":{\"id\":\"two\"},\"ip\":\"6.6.6.6\"}";
	assert_true(rd1(b, &v_count, e, T0 + 3000) == 6000);
	assert_true(rd1(b, &v_sum, e, T0 + 3000) == 1500);
	assert_true(rd1(b, &v_users, e, T0 + 3000) == 50);
}

#define BOTH(f)                                                                \
	cmocka_unit_test_setup_teardown(f, be_in_process, be_done)
#define ON_REDIS(f) cmocka_unit_test_setup_teardown(f, be_redis, be_done)

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest local[] = {
		BOTH(t_before_current),
		BOTH(t_boundaries),
		BOTH(t_sliding),
		BOTH(t_distinct),
		BOTH(t_missing_entity),
		BOTH(t_entities),
		BOTH(t_windows),
		BOTH(t_distinct_bound),
		cmocka_unit_test(t_store_bounded),
		cmocka_unit_test(t_store_threads),
		cmocka_unit_test(t_store_oom),
		cmocka_unit_test(t_text_and_paths),
		cmocka_unit_test(t_defs_used),
	};
	const struct CMUnitTest redis[] = {
		ON_REDIS(t_before_current),
		ON_REDIS(t_boundaries),
		ON_REDIS(t_sliding),
		ON_REDIS(t_distinct),
		ON_REDIS(t_missing_entity),
		ON_REDIS(t_entities),
		ON_REDIS(t_windows),
		ON_REDIS(t_distinct_bound),
		ON_REDIS(t_redis_layout),
		ON_REDIS(t_redis_prune),
		ON_REDIS(t_redis_errors),
		ON_REDIS(t_redis_two_writers),
	};
	int fails = cmocka_run_group_tests_name("in process", local, NULL,
						NULL);
	fails += cmocka_run_group_tests_name("redis", redis, redis_setup,
					     redis_teardown);
	return fails;
}
