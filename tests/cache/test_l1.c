/*
 * test_l1.c - the L1 feature cache (cache/l1.h): hits, misses, negative
 * entries, TTL with explicit clocks, the entry and byte bounds (1,000,000
 * keys through a small cache), S3-FIFO keeping hot keys under a scan,
 * invalidation, claims (fill, abandon, timeout, wait), coalescing and a
 * stress across threads, allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache/l1.h"
#include "common/rk.h"

#define T0 1000000000LL   /* an arbitrary "now" in microseconds */

static l1_cache *mk(size_t entries, size_t bytes, int shards)
{
	l1_config cfg = {.max_entries = entries, .max_bytes = bytes,
			 .shards = shards};
	l1_cache *c = l1_new(&cfg);
	assert_non_null(c);
	return c;
}

static int get(l1_cache *c, const char *k, int64_t now, char *buf,
	       size_t cap, size_t *len)
{
	int64_t age;
	return l1_get(c, k, strlen(k), now, false, buf, cap, len, &age);
}

static int put(l1_cache *c, const char *k, const char *v, int64_t now,
	       int64_t ttl_ms)
{
	return l1_put(c, k, strlen(k), v, v ? strlen(v) : 0, now, ttl_ms);
}

static void test_config(void **st)
{
	l1_config bad[] = {
		{.max_entries = 0, .max_bytes = 1 << 20},
		{.max_entries = 100, .max_bytes = 0},
		{.max_entries = 100, .max_bytes = 1 << 20, .shards = 3},
		{.max_entries = 100, .max_bytes = 1 << 20, .shards = 8192},
		{.max_entries = 100, .max_bytes = 1 << 20, .shards = -1},
		{.max_entries = 4, .max_bytes = 1 << 20, .shards = 8},
		{.max_entries = 100, .max_bytes = 90, .shards = 1},
		{.max_entries = 100, .max_bytes = 1 << 20,
		 .claim_timeout_ms = -5},
	};
	for (size_t i = 0; i < RK_ARRAY_LEN(bad); i++)
		assert_null(l1_new(&bad[i]));
	/* A huge entry bound with a small byte bound: small tables. */
	l1_config huge = {.max_entries = SIZE_MAX / 2, .max_bytes = 1 << 20};
	l1_cache *h = l1_new(&huge);
	assert_non_null(h);
	l1_free(h);
	/* Default shards shrink for a tiny cache. */
	l1_cache *c = mk(1, 1000, 0);
	assert_int_equal(put(c, "k", "v", T0, 1000), 0);
	l1_free(c);
	l1_free(NULL);
	assert_true(l1_entry_overhead() <= 100);
}

static void test_hit_miss_negative(void **st)
{
	l1_cache *c = mk(1000, 1 << 20, 4);
	char buf[64];
	size_t len = 99;
	int64_t age = -1;
	l1_stats s;

	assert_int_equal(get(c, "f:card:c_1", T0, buf, sizeof(buf), &len),
			 L1_MISS);
	assert_int_equal(len, 0);
	assert_int_equal(put(c, "f:card:c_1", "{\"a\":1}", T0, 5000), 0);
	assert_int_equal(l1_get(c, "f:card:c_1", 10, T0 + 7, false, buf,
				sizeof(buf), &len, &age), L1_HIT);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "{\"a\":1}", 7);
	assert_int_equal(age, 7);
	/* Too small a buffer: the size needed, nothing copied. */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(get(c, "f:card:c_1", T0, buf, 3, &len), RK_ELIMIT);
	assert_int_equal(len, 7);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(get(c, "f:card:c_1", T0, NULL, 0, &len), RK_ELIMIT);
	/* Negative entry. */
	assert_int_equal(put(c, "f:card:c_2", NULL, T0, 1000), 0);
	assert_int_equal(get(c, "f:card:c_2", T0 + 1, buf, sizeof(buf), &len),
			 L1_NEGATIVE);
	assert_int_equal(len, 0);
	/* Replace a negative entry with a value and back; empty values. */
	assert_int_equal(put(c, "f:card:c_2", "", T0, 1000), 0);
	assert_int_equal(get(c, "f:card:c_2", T0, buf, 0, &len), L1_HIT);
	assert_int_equal(len, 0);
	/* Binary keys: embedded NUL, prefix keys differ. */
	assert_int_equal(l1_put(c, "a\0b", 3, "1", 1, T0, 1000), 0);
	assert_int_equal(l1_get(c, "a\0b", 3, T0, false, buf, 8, &len, NULL),
			 L1_HIT);
	assert_int_equal(l1_get(c, "a", 1, T0, false, buf, 8, NULL, NULL),
			 L1_MISS);
	/* Bad arguments; a failed put drops the older value. */
	assert_int_equal(put(c, "k", "v", T0, 1000), 0);
	assert_int_equal(put(c, "k", "v", T0, 0), RK_EINVAL);
	assert_int_equal(get(c, "k", T0, buf, sizeof(buf), &len), L1_MISS);
	assert_int_equal(put(c, "k", "v", T0, -1), RK_EINVAL);
	assert_int_equal(put(c, "k", "v", T0, 1LL << 40), RK_EINVAL);
	static char big[70000];
	assert_int_equal(l1_put(c, big, sizeof(big), "v", 1, T0, 10),
			 RK_EINVAL);
	assert_int_equal(l1_get(c, big, sizeof(big), T0, false, buf, 8, &len,
				NULL), RK_EINVAL);
	/* A value larger than a shard's byte share. */
	assert_int_equal(l1_put(c, "big", 3, big, sizeof(big) / 2, T0, 10),
			 0);
	l1_cache *small = mk(100, 4096, 1);
	assert_int_equal(l1_put(small, "big", 3, big, 5000, T0, 10),
			 RK_ELIMIT);
	l1_free(small);

	l1_stats_get(c, &s);
	assert_int_equal(s.entries, 4);
	assert_int_equal(s.hits, 5);
	assert_int_equal(s.negative_hits, 1);
	assert_int_equal(s.misses, 3);
	assert_int_equal(s.inserts, 6);
	assert_int_equal(s.bytes, 4 * l1_entry_overhead() + 10 + 7 + 10 + 3 +
					  1 + 3 + sizeof(big) / 2);
	l1_free(c);
}

static void test_ttl(void **st)
{
	l1_cache *c = mk(1000, 1 << 20, 2);
	char buf[16];
	size_t len;
	l1_stats s;

	assert_int_equal(put(c, "k", "v", T0, 100), 0);
	assert_int_equal(put(c, "neg", NULL, T0, 50), 0);
	assert_int_equal(get(c, "k", T0 + 99999, buf, 16, &len), L1_HIT);
	assert_int_equal(get(c, "neg", T0 + 49999, buf, 16, &len),
			 L1_NEGATIVE);
	assert_int_equal(get(c, "neg", T0 + 50000, buf, 16, &len), L1_MISS);
	assert_int_equal(get(c, "k", T0 + 100000, buf, 16, &len), L1_MISS);
	l1_stats_get(c, &s);
	assert_int_equal(s.expirations, 2);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	/* A re-insert restarts the clock and the age. */
	assert_int_equal(put(c, "k", "w", T0 + 200000, 100), 0);
	int64_t age;
	assert_int_equal(l1_get(c, "k", 1, T0 + 250000, false, buf, 16, &len,
				&age), L1_HIT);
	assert_int_equal(age, 50000);
	l1_free(c);
}

/* 1,000,000 distinct keys through a small cache: never over the bounds. */
static void test_bounds(void **st)
{
	const size_t max_b = 64 * 1024, max_e = 2000;
	l1_cache *c = mk(max_e, max_b, 16);
	char key[32], val[200];
	l1_stats s;

	memset(val, 'v', sizeof(val));
	for (int i = 0; i < 1000000; i++) {
		int n = snprintf(key, sizeof(key), "f:card:c_%07d", i);
		assert_int_equal(l1_put(c, key, (size_t)n, val,
					(size_t)(i % 200), T0, 60000), 0);
		if (i % 997 == 0) {
			l1_stats_get(c, &s);
			assert_true(s.bytes <= max_b);
			assert_true(s.entries <= max_e);
		}
	}
	l1_stats_get(c, &s);
	assert_true(s.bytes <= max_b);
	assert_true(s.bytes > max_b / 2);
	assert_int_equal(s.inserts, 1000000);
	assert_int_equal(s.evictions, 1000000 - s.entries);
	l1_free(c);

	/* Entry bound with tiny values. */
	c = mk(100, 1 << 20, 4);
	for (int i = 0; i < 10000; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(l1_put(c, key, (size_t)n, "", 0, T0, 1000), 0);
	}
	l1_stats_get(c, &s);
	assert_true(s.entries <= 100 && s.entries >= 90);
	l1_free(c);
}

/* Hot keys, once hit, survive a scan of one-time keys 50 times the
 * cache size (LRU would lose them all). */
static void test_scan_resistance(void **st)
{
	l1_cache *c = mk(1000, 1 << 24, 1);
	char key[32];
	size_t len;

	for (int i = 0; i < 100; i++) {
		int n = snprintf(key, sizeof(key), "hot%d", i);
		assert_int_equal(l1_put(c, key, (size_t)n, "h", 1, T0, 60000),
				 0);
	}
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 100; i++) {
			int n = snprintf(key, sizeof(key), "hot%d", i);
			assert_int_equal(l1_get(c, key, (size_t)n, T0, false,
						key, sizeof(key), &len, NULL),
					 L1_HIT);
		}
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(key, sizeof(key), "scan%d", i);
		assert_int_equal(l1_put(c, key, (size_t)n, "s", 1, T0, 60000),
				 0);
	}
	for (int i = 0; i < 100; i++) {
		int n = snprintf(key, sizeof(key), "hot%d", i);
		assert_int_equal(l1_get(c, key, (size_t)n, T0, false, key,
					sizeof(key), &len, NULL), L1_HIT);
	}
	/* A key evicted from the small queue and asked again goes to main
	 * (ghost): it then outlives a second scan. */
	assert_int_equal(put(c, "scan10", "again", T0, 60000), 0);
	assert_int_equal(get(c, "scan10", T0, key, sizeof(key), &len), L1_HIT);
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "scan2_%d", i);
		assert_int_equal(l1_put(c, key, (size_t)n, "s", 1, T0, 60000),
				 0);
	}
	assert_int_equal(get(c, "scan10", T0, key, sizeof(key), &len), L1_HIT);
	l1_free(c);
}

static void test_invalidation(void **st)
{
	l1_cache *c = mk(1000, 1 << 20, 4);
	char buf[16];
	size_t len;
	l1_stats s;

	assert_int_equal(put(c, "a", "1", T0, 1000), 0);
	assert_int_equal(put(c, "b", NULL, T0, 1000), 0);
	assert_true(l1_del(c, "a", 1));
	assert_false(l1_del(c, "a", 1));
	assert_true(l1_del(c, "b", 1));
	assert_int_equal(get(c, "a", T0, buf, 16, &len), L1_MISS);
	assert_int_equal(get(c, "b", T0, buf, 16, &len), L1_MISS);
	/* A fill that was in flight across an invalidation is not cached. */
	assert_int_equal(l1_get(c, "c", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	assert_true(l1_del(c, "c", 1));
	assert_int_equal(put(c, "c", "old", T0, 1000), 0);
	assert_int_equal(get(c, "c", T0, buf, 16, &len), L1_MISS);
	/* Clear. */
	for (int i = 0; i < 50; i++) {
		char k[8];
		int n = snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(l1_put(c, k, (size_t)n, "x", 1, T0, 1000), 0);
	}
	assert_int_equal(l1_get(c, "d", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	l1_clear(c);
	assert_int_equal(put(c, "d", "old", T0, 1000), 0);
	assert_int_equal(get(c, "d", T0, buf, 16, &len), L1_MISS);
	l1_stats_get(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.bytes, 0);
	assert_int_equal(s.invalidations, 52);
	l1_free(c);
}

static void test_claims(void **st)
{
	l1_config cfg = {.max_entries = 100, .max_bytes = 1 << 20,
			 .shards = 2, .claim_timeout_ms = 500};
	l1_cache *c = l1_new(&cfg);
	char buf[16];
	size_t len;
	l1_stats s;

	assert_non_null(c);
	assert_int_equal(l1_get(c, "k", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	assert_int_equal(l1_get(c, "k", 1, T0, true, buf, 16, &len, NULL),
			 L1_PENDING);
	assert_int_equal(l1_get(c, "k", 1, T0, false, buf, 16, &len, NULL),
			 L1_MISS);
	/* Past the claim timeout another caller takes it over. */
	assert_int_equal(l1_get(c, "k", 1, T0 + 499999, true, buf, 16, &len,
				NULL), L1_PENDING);
	assert_int_equal(l1_get(c, "k", 1, T0 + 500000, true, buf, 16, &len,
				NULL), L1_CLAIMED);
	assert_int_equal(l1_get(c, "k", 1, T0 + 500000, true, buf, 16, &len,
				NULL), L1_PENDING);
	/* Claims are outside the bounds. */
	l1_stats_get(c, &s);
	assert_int_equal(s.entries, 0);
	/* Fill completes the claim. */
	assert_int_equal(put(c, "k", "v", T0, 1000), 0);
	assert_int_equal(l1_get(c, "k", 1, T0, true, buf, 16, &len, NULL),
			 L1_HIT);
	/* Abandon releases it; a negative fill too. */
	assert_int_equal(l1_get(c, "m", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	l1_abandon(c, "m", 1);
	l1_abandon(c, "m", 1);
	l1_abandon(c, "k", 1);   /* not a claim: no effect */
	assert_int_equal(get(c, "k", T0, buf, 16, &len), L1_HIT);
	assert_int_equal(l1_get(c, "m", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	assert_int_equal(put(c, "m", NULL, T0, 1000), 0);
	assert_int_equal(l1_get(c, "m", 1, T0, true, buf, 16, &len, NULL),
			 L1_NEGATIVE);
	/* A failed fill (too big) still completes the claim. */
	assert_int_equal(l1_get(c, "n", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	assert_int_equal(l1_put(c, "n", 1, "v", 1, T0, 0), RK_EINVAL);
	assert_int_equal(l1_get(c, "n", 1, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	/* l1_wait: no claim in flight answers at once; a claim still in
	 * flight at the deadline gives PENDING. */
	int64_t now = rk_now_us();
	assert_int_equal(l1_wait(c, "zz", 2, now + 1000000, buf, 16, &len,
				 NULL), L1_MISS);
	assert_int_equal(l1_wait(c, "n", 1, now + 20000, buf, 16, &len,
				 NULL), L1_PENDING);
	assert_true(rk_now_us() >= now + 20000);
	assert_int_equal(put(c, "n", "w", now, 1000), 0);
	assert_int_equal(l1_wait(c, "n", 1, now, buf, 16, &len, NULL),
			 L1_HIT);
	l1_stats_get(c, &s);
	assert_int_equal(s.coalesced, 3);
	/* A claim left behind is freed by l1_free. */
	assert_int_equal(l1_get(c, "left", 4, T0, true, buf, 16, &len, NULL),
			 L1_CLAIMED);
	l1_free(c);
}

/* ---- threads ---- */

struct coal {
	l1_cache *c;
	pthread_barrier_t *bar;
	atomic_int *claimed, *hit, *waiting;
	int fill;   /* 1: the owner fills, 0: it abandons */
};

static void *coal_thread(void *arg)
{
	struct coal *a = arg;
	char buf[32];
	size_t len;

	pthread_barrier_wait(a->bar);
	int rc = l1_get(a->c, "hot", 3, rk_now_us(), true, buf, sizeof(buf),
			&len, NULL);
	if (rc == L1_CLAIMED) {
		atomic_fetch_add(a->claimed, 1);
		/* Let the others reach l1_wait (bounded). */
		for (int i = 0; i < 5000 && atomic_load(a->waiting) < 7; i++) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		if (a->fill)
			l1_put(a->c, "hot", 3, "value", 5, rk_now_us(), 60000);
		else
			l1_abandon(a->c, "hot", 3);
	} else if (rc == L1_PENDING) {
		atomic_fetch_add(a->waiting, 1);
		rc = l1_wait(a->c, "hot", 3, rk_now_us() + 10000000, buf,
			     sizeof(buf), &len, NULL);
		if (rc == L1_HIT && len == 5 && !memcmp(buf, "value", 5))
			atomic_fetch_add(a->hit, 1);
		else if (rc == L1_MISS && !a->fill)
			atomic_fetch_add(a->hit, 1);
	} else if (rc == L1_HIT) {
		atomic_fetch_add(a->hit, 1);
	}
	return NULL;
}

static void test_coalescing(void **st)
{
	for (int fill = 1; fill >= 0; fill--) {
		enum { N = 8 };
		l1_cache *c = mk(1000, 1 << 20, 4);
		pthread_t t[N];
		pthread_barrier_t bar;
		atomic_int claimed = 0, hit = 0, waiting = 0;
		struct coal a = {c, &bar, &claimed, &hit, &waiting, fill};
		l1_stats s;

		pthread_barrier_init(&bar, NULL, N);
		for (int i = 0; i < N; i++)
			assert_int_equal(pthread_create(&t[i], NULL,
							coal_thread, &a), 0);
		for (int i = 0; i < N; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
		assert_int_equal(atomic_load(&claimed), 1);
		assert_int_equal(atomic_load(&hit), N - 1);
		l1_stats_get(c, &s);
		assert_true(s.inserts == (uint64_t)fill);
		l1_free(c);
	}
}

struct stress {
	l1_cache *c;
	int id;
	long ops;
	atomic_int *bad;   /* cmocka asserts only on the main thread */
};

/* Every operation on 500 keys, values that name their key: a hit must
 * return its own key's bytes. */
static void *stress_thread(void *arg)
{
	struct stress *a = arg;
	char key[32], val[64], buf[64];
	uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(a->id + 1);

	for (long i = 0; i < a->ops; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % 500), op = (int)((x >> 32) % 100);
		int kn = snprintf(key, sizeof(key), "f:card:c_%d", k);
		int vn = snprintf(val, sizeof(val),
				  "{\"card\":%d,\"pad\":\"%.*s\"}", k,
				  (int)(x >> 40) % 20, "xxxxxxxxxxxxxxxxxxxx");
		int64_t now = rk_now_us();
		size_t len;

		if (op < 60) {
			int rc = l1_get(a->c, key, (size_t)kn, now, op < 10,
					buf, sizeof(buf), &len, NULL);
			if (rc == L1_HIT) {
				char want[32];
				int wn = snprintf(want, sizeof(want),
						  "{\"card\":%d,", k);
				if (len < (size_t)wn ||
				    memcmp(buf, want, (size_t)wn))
					atomic_fetch_add(a->bad, 1);
			} else if (rc == L1_CLAIMED) {
				if (op & 1)
					l1_abandon(a->c, key, (size_t)kn);
				else
					l1_put(a->c, key, (size_t)kn, val,
					       (size_t)vn, now, 50);
			}
		} else if (op < 85) {
			l1_put(a->c, key, (size_t)kn, op & 1 ? val : NULL,
			       (size_t)vn, now, 1 + op % 5);
		} else if (op < 95) {
			l1_del(a->c, key, (size_t)kn);
		} else if (op < 99) {
			l1_wait(a->c, key, (size_t)kn, now + 200, buf,
				sizeof(buf), &len, NULL);
		} else if (i % 1000 == 99) {
			l1_clear(a->c);
		} else {
			l1_stats s;
			l1_stats_get(a->c, &s);
			if (s.bytes > 20000 || s.entries > 200)
				atomic_fetch_add(a->bad, 1);
		}
	}
	return NULL;
}

static void test_stress(void **st)
{
	enum { N = 4 };
	l1_cache *c = mk(200, 20000, 4);
	pthread_t t[N];
	struct stress a[N];
	atomic_int bad = 0;
	l1_stats s;

	for (int i = 0; i < N; i++) {
		a[i] = (struct stress){c, i, 100000, &bad};
		assert_int_equal(pthread_create(&t[i], NULL, stress_thread,
						&a[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&bad), 0);
	l1_stats_get(c, &s);
	assert_true(s.bytes <= 20000);
	assert_true(s.inserts > 0 && s.hits > 0 && s.evictions > 0);
	l1_free(c);
}

/* Every allocation of new, put and claim failing in turn. */
static void test_oom(void **st)
{
	for (long n = 0; n < 100; n++) {
		rk_alloc_fail_after(n);
		l1_config cfg = {.max_entries = 64, .max_bytes = 1 << 20,
				 .shards = 8};
		l1_cache *c = l1_new(&cfg);
		int rc = 0;
		char key[16], buf[16];
		size_t len;

		for (int i = 0; c && i < 40 && rc >= 0; i++) {
			int k = snprintf(key, sizeof(key), "k%d", i);
			if (i % 3 == 0) {
				rc = l1_get(c, key, (size_t)k, T0, true, buf,
					    16, &len, NULL);
				if (rc == L1_CLAIMED)
					rc = l1_put(c, key, (size_t)k, "v", 1,
						    T0, 1000);
			} else {
				rc = l1_put(c, key, (size_t)k, "v", 1, T0,
					    1000);
			}
		}
		rk_alloc_fail_after(-1);
		if (c && rc >= 0)
			assert_int_equal(get(c, "k39", T0, buf, 16, &len),
					 L1_HIT);
		if (c && rc < 0) {
			assert_int_equal(rc, RK_ENOMEM);
			/* A failed fill completed its claim. */
			assert_int_equal(get(c, key, T0, buf, 16, &len),
					 L1_MISS);
			assert_int_equal(l1_get(c, key, strlen(key), T0, true,
						buf, 16, &len, NULL),
					 L1_CLAIMED);
		}
		l1_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_hit_miss_negative),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_scan_resistance),
		cmocka_unit_test(test_invalidation),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
