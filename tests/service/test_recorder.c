/*
 * test_recorder.c - the velocity recorder against a real redis-server:
 * events pushed by several threads are all recorded (exact counts, sums
 * and distinct members read back through the velocity encoding), the
 * small copy keeps nested and bracket paths right, a full queue drops
 * and counts, a dead Redis counts failures, free sends what is queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <cjson/cJSON.h>

#include "cache/region.h"
#include "cache/velocity.h"
#include "common/rk.h"
#include "rules/rules.h"
#include "service/recorder.h"
#include "tests/cache/redis_util.h"

static const char *rules_txt =
	"{\"scenario\":\"t\",\"velocity\":["
	"{\"name\":\"n\",\"entity\":\"card.id\",\"window\":\"1h\",\"agg\":\"count\"},"
	"{\"name\":\"s\",\"entity\":\"card.id\",\"window\":\"1h\",\"agg\":\"sum\","
	"\"field\":\"amount\"},"
	"{\"name\":\"d\",\"entity\":\"ip\",\"window\":\"1h\",\"agg\":\"distinct\","
	"\"field\":\"card.id\"},"
	"{\"name\":\"b\",\"entity\":\"items[0].sku\",\"window\":\"1h\","
	"\"agg\":\"count\"}],"
	"\"rules\":[{\"id\":\"r\",\"when\":\"velocity.n > 1000000\"}]}";

struct fx {
	ru_redis redis;
	rg_t *rg;
	rules_def *def;
	rules_set *set;
};

static int setup(void **st)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_int_equal(ru_start(&f->redis), 0);
	rg_config c;
	rg_config_defaults(&c);
	c.nregions = 1;
	snprintf(c.regions[0].name, sizeof(c.regions[0].name), "a");
	snprintf(c.regions[0].host, sizeof(c.regions[0].host), "127.0.0.1");
	c.regions[0].port = f->redis.port;
	char err[256];
	f->rg = rg_new(&c, err, sizeof(err));
	assert_non_null(f->rg);
	rk_diags d;
	rk_diags_init(&d);
	f->def = rules_def_parse(rules_txt, strlen(rules_txt), &d);
	assert_non_null(f->def);
	f->set = rules_compile(f->def, NULL, &d);
	assert_non_null(f->set);
	rk_diags_cleanup(&d);
	*st = f;
	return 0;
}

static int teardown(void **st)
{
	struct fx *f = *st;
	rules_set_free(f->set);
	rules_def_free(f->def);
	rg_free(f->rg);
	ru_kill(&f->redis);
	free(f);
	return 0;
}

static cJSON *event(int card, int amount, const char *ip)
{
	char buf[256];
	snprintf(buf, sizeof(buf),
		 "{\"amount\":%d,\"card\":{\"id\":\"c%d\",\"bin\":\"4111\"},"
		 "\"ip\":\"%s\",\"items\":[{\"sku\":\"k1\",\"qty\":1}],"
		 "\"pad\":{\"a\":[1,2,3]}}", amount, card, ip);
	return cJSON_Parse(buf);
}

/* The aggregates of defs for ev at now, read through the encoding. */
static void read_back(struct fx *f, const cJSON *ev, double *out, bool *has)
{
	redisContext *c = ru_connect(&f->redis);
	assert_non_null(c);
	const rules_def *def = rules_set_def(f->set);
	int64_t now = vel_now_ms();
	int n = 0;
	assert_int_equal(vel_redis_append_reads(c, def->velocity,
						def->nvelocity, ev, now, &n), 0);
	redisReply *rep[16];
	for (int i = 0; i < n; i++)
		assert_int_equal(redisGetReply(c, (void **)&rep[i]), REDIS_OK);
	assert_int_equal(vel_redis_parse_reads(rep, n, def->velocity,
					       def->nvelocity, ev, now, out,
					       has), 0);
	for (int i = 0; i < n; i++)
		freeReplyObject(rep[i]);
	redisFree(c);
}

struct pusher {
	svc_recorder *r;
	rules_set *set;
	int first;
};

static void *push_many(void *arg)
{
	struct pusher *p = arg;
	for (int i = 0; i < 500; i++) {
		cJSON *ev = event(1, 2, "203.0.113.1");
		if (i % 50 == 0) {     /* a few other cards on the same IP */
			cJSON_Delete(ev);
			ev = event(100 + p->first + i, 2, "203.0.113.1");
		}
		assert_int_equal(svc_recorder_push(p->r, p->set, ev,
						   vel_now_ms()), 0);
		cJSON_Delete(ev);
	}
	return NULL;
}

static void test_exact_from_threads(void **st)
{
	struct fx *f = *st;
	svc_recorder *r = svc_recorder_new(f->rg, 4096);
	assert_non_null(r);
	pthread_t t[4];
	struct pusher p[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct pusher){ r, f->set, i * 1000 };
		assert_int_equal(pthread_create(&t[i], NULL, push_many, &p[i]),
				 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	svc_recorder_flush(r);
	svc_recorder_stats s;
	svc_recorder_get_stats(r, &s);
	assert_int_equal(s.recorded, 2000);
	assert_int_equal(s.failed + s.dropped, 0);
	assert_true(s.batches >= 1 && s.batches <= 2000);
	svc_recorder_free(r);

	cJSON *ev = event(1, 2, "203.0.113.1");
	double out[4];
	bool has[4];
	read_back(f, ev, out, has);
	/* card c1 got 4 x 490 events of amount 2 */
	assert_true(has[0] && has[1] && has[2] && has[3]);
	assert_int_equal((int)out[0], 1960);
	assert_int_equal((int)out[1], 3920);
	/* distinct cards on the IP: c1 and 40 others */
	assert_int_equal((int)out[2], 41);
	/* the bracket path (whole-event copy) counted every event */
	assert_int_equal((int)out[3], 2000);
	cJSON_Delete(ev);
}

static void test_full_queue_and_dead_redis(void **st)
{
	struct fx *f = *st;
	svc_recorder *r = svc_recorder_new(f->rg, 1);
	assert_non_null(r);
	ru_freeze(&f->redis);    /* the writer blocks on its first batch */
	cJSON *ev = event(7, 1, "198.51.100.1");
	int dropped = 0;
	for (int i = 0; i < 200; i++)
		dropped += svc_recorder_push(r, f->set, ev, vel_now_ms()) ==
			   RK_ELIMIT;
	assert_true(dropped > 0);
	ru_thaw(&f->redis);
	svc_recorder_flush(r);
	svc_recorder_stats s;
	svc_recorder_get_stats(r, &s);
	assert_int_equal(s.dropped, (uint64_t)dropped);
	assert_int_equal(s.recorded + s.failed + s.dropped, 200);
	/* Redis gone: batches fail and are counted, nothing hangs */
	ru_kill(&f->redis);
	for (int i = 0; i < 5; i++)
		(void)svc_recorder_push(r, f->set, ev, vel_now_ms());
	svc_recorder_flush(r);
	svc_recorder_get_stats(r, &s);
	assert_true(s.failed >= 1);
	svc_recorder_free(r);   /* with a dead Redis: returns */
	cJSON_Delete(ev);
	assert_int_equal(ru_start(&f->redis), 0);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exact_from_threads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_queue_and_dead_redis,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
