/*
 * test_lists.c - named lists (rules/lists.c): put and replace, lookup,
 * iteration in name order, lists from a definition, reference counting
 * (also across threads), immutability once shared, allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "common/rk.h"
#include "rules/rules.h"

static strset *set_of(const char *a, const char *b)
{
	strset *s = strset_new();
	assert_non_null(s);
	assert_int_equal(strset_add(s, a, strlen(a)), 0);
	if (b)
		assert_int_equal(strset_add(s, b, strlen(b)), 0);
	return s;
}

static void test_put_get(void **st)
{
	rules_lists *l = rules_lists_new();
	assert_non_null(l);
	assert_int_equal(rules_lists_count(l), 0);
	assert_null(rules_lists_name(l, 0));
	assert_null(rules_lists_get(l, "zeta"));
	assert_int_equal(rules_lists_put(l, "zeta", set_of("1", NULL)), 0);
	assert_int_equal(rules_lists_put(l, "alpha", set_of("a", "b")), 0);
	assert_int_equal(rules_lists_put(l, "mid", set_of("m", NULL)), 0);
	assert_int_equal(rules_lists_put(l, "Mid", set_of("M", NULL)), 0);
	/* Iteration is in byte order of the names. */
	assert_int_equal(rules_lists_count(l), 4);
	assert_string_equal(rules_lists_name(l, 0), "Mid");
	assert_string_equal(rules_lists_name(l, 1), "alpha");
	assert_string_equal(rules_lists_name(l, 2), "mid");
	assert_string_equal(rules_lists_name(l, 3), "zeta");
	assert_null(rules_lists_name(l, 4));
	assert_null(rules_lists_name(l, -1));
	const strset *a = rules_lists_get(l, "alpha");
	assert_non_null(a);
	assert_int_equal(strset_count(a), 2);
	assert_true(strset_has(a, "b", 1));
	assert_false(strset_has(a, "m", 1));
	assert_true(strset_has(rules_lists_get(l, "mid"), "m", 1));
	assert_true(strset_has(rules_lists_get(l, "Mid"), "M", 1));
	assert_null(rules_lists_get(l, "nope"));
	assert_null(rules_lists_get(l, "alph"));
	/* Replace frees the old set (ASan/valgrind would see a leak). */
	assert_int_equal(rules_lists_put(l, "alpha", set_of("c", NULL)), 0);
	assert_int_equal(rules_lists_count(l), 4);
	a = rules_lists_get(l, "alpha");
	assert_int_equal(strset_count(a), 1);
	assert_false(strset_has(a, "b", 1));
	assert_true(strset_has(a, "c", 1));
	rules_lists_free(l);
}

/* Many lists: the sorted array grows and stays sorted. */
static void test_many(void **st)
{
	rules_lists *l = rules_lists_new();
	char name[16];
	for (int i = 0; i < 300; i++) {
		int k = (i * 37) % 300;   /* a permutation of 0..299 */
		snprintf(name, sizeof(name), "l%03d", k);
		assert_int_equal(rules_lists_put(l, name, set_of(name, NULL)),
				 0);
	}
	assert_int_equal(rules_lists_count(l), 300);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "l%03d", i);
		assert_string_equal(rules_lists_name(l, i), name);
		assert_true(strset_has(rules_lists_get(l, name), name, 4));
	}
	rules_lists_free(l);
}

static void test_bad_arguments(void **st)
{
	rules_lists *l = rules_lists_new();
	/* The set is taken (and freed) even when refused. */
	assert_int_equal(rules_lists_put(l, NULL, set_of("x", NULL)),
			 RK_EINVAL);
	assert_int_equal(rules_lists_put(l, "x", NULL), RK_EINVAL);
	assert_int_equal(rules_lists_put(NULL, "x", set_of("x", NULL)),
			 RK_EINVAL);
	assert_int_equal(rules_lists_put_def(l, NULL), RK_EINVAL);
	assert_int_equal(rules_lists_count(l), 0);
	assert_null(rules_lists_get(l, NULL));
	assert_null(rules_lists_get(NULL, "x"));
	assert_int_equal(rules_lists_count(NULL), 0);
	assert_null(rules_lists_name(NULL, 0));
	assert_null(rules_lists_ref(NULL));
	rules_lists_free(NULL);
	rules_lists_free(l);
}

/* Once shared, a rules_lists refuses changes; the last free frees it. */
static void test_refcount_and_sharing(void **st)
{
	rules_lists *l = rules_lists_new();
	assert_int_equal(rules_lists_put(l, "a", set_of("1", NULL)), 0);
	rules_lists *r = rules_lists_ref(l);
	assert_ptr_equal(r, l);
	assert_int_equal(rules_lists_put(l, "a", set_of("2", NULL)),
			 RK_ESTATE);
	assert_int_equal(rules_lists_put(l, "b", set_of("2", NULL)),
			 RK_ESTATE);
	assert_int_equal(rules_lists_count(l), 1);
	assert_true(strset_has(rules_lists_get(l, "a"), "1", 1));
	rules_lists_free(l);
	/* r still holds it, and it is writable again with one owner. */
	assert_int_equal(rules_lists_count(r), 1);
	assert_true(strset_has(rules_lists_get(r, "a"), "1", 1));
	assert_int_equal(rules_lists_put(r, "b", set_of("2", NULL)), 0);
	assert_int_equal(rules_lists_count(r), 2);
	rules_lists_free(r);
}

static void *ref_churn(void *arg)
{
	rules_lists *l = arg;
	for (int i = 0; i < 20000; i++) {
		rules_lists *r = rules_lists_ref(l);
		if (!rules_lists_get(r, "a"))
			return (void *)1;
		rules_lists_free(r);
	}
	rules_lists_free(l);   /* the reference main took for us */
	return NULL;
}

static void test_refcount_threads(void **st)
{
	rules_lists *l = rules_lists_new();
	assert_int_equal(rules_lists_put(l, "a", set_of("1", NULL)), 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ref_churn,
						rules_lists_ref(l)), 0);
	rules_lists_free(l);   /* the threads may now drop the last one */
	for (int i = 0; i < 4; i++) {
		void *rc;
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
}

static const char *def_txt =
	"{\"scenario\": \"p\", \"lists\": {\"ips\": [\"1.2.3.4\", "
	"\"5.6.7.8\", \"1.2.3.4\"], \"c\": []}, \"rules\": [{\"id\": \"a\", "
	"\"when\": \"ip in @ips\"}]}";

static void test_from_def(void **st)
{
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(def_txt, strlen(def_txt), &d);
	assert_non_null(def);
	rules_lists *l = rules_lists_new();
	assert_int_equal(rules_lists_put(l, "ips", set_of("9.9.9.9", NULL)), 0);
	assert_int_equal(rules_lists_put(l, "other", set_of("o", NULL)), 0);
	assert_int_equal(rules_lists_put_def(l, def), 0);
	/* The file's lists replace those of the same name, others stay. */
	assert_int_equal(rules_lists_count(l), 3);
	assert_string_equal(rules_lists_name(l, 0), "c");
	assert_string_equal(rules_lists_name(l, 1), "ips");
	assert_string_equal(rules_lists_name(l, 2), "other");
	const strset *ips = rules_lists_get(l, "ips");
	assert_int_equal(strset_count(ips), 2);   /* duplicates collapse */
	assert_true(strset_has(ips, "5.6.7.8", 7));
	assert_true(strset_has(ips, "1.2.3.4", 7));
	assert_false(strset_has(ips, "9.9.9.9", 7));
	assert_int_equal(strset_count(rules_lists_get(l, "c")), 0);
	assert_true(strset_has(rules_lists_get(l, "other"), "o", 1));
	rules_lists_free(l);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

/* Every allocation of new + put + put_def failing in turn: an error
 * code, never a crash or a leak. */
static void test_alloc_failures(void **st)
{
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(def_txt, strlen(def_txt), &d);
	assert_non_null(def);
	bool done = false;
	for (long n = 0; n < 1000 && !done; n++) {
		rk_alloc_fail_after(n);
		rules_lists *l = rules_lists_new();
		strset *s = l ? strset_new() : NULL;
		int rc = !s ? RK_ENOMEM : strset_add(s, "x", 1);
		if (rc)
			strset_free(s);
		else
			rc = rules_lists_put(l, "pre", s);
		if (!rc)
			rc = rules_lists_put_def(l, def);
		rk_alloc_fail_after(-1);
		if (l && !rc) {
			assert_int_equal(rules_lists_count(l), 3);
			done = true;
		} else if (l) {
			assert_int_equal(rc, RK_ENOMEM);
		}
		rules_lists_free(l);
	}
	assert_true(done);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_refcount_and_sharing),
		cmocka_unit_test(test_refcount_threads),
		cmocka_unit_test(test_from_def),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
