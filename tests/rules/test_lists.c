/*
 * test_lists.c - named lists: put and replace, lookup, sorted iteration,
 * lists from a definition, reference counting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/rk.h"
#include "rules/rules.h"

static strset *set_of(const char *a, const char *b)
{
	strset *s = strset_new();
	strset_add(s, a, strlen(a));
	if (b)
		strset_add(s, b, strlen(b));
	return s;
}

static void test_put_get(void **st)
{
	rules_lists *l = rules_lists_new();
	assert_int_equal(rules_lists_put(l, "zeta", set_of("1", NULL)), 0);
	assert_int_equal(rules_lists_put(l, "alpha", set_of("a", "b")), 0);
	assert_int_equal(rules_lists_put(l, "mid", set_of("m", NULL)), 0);
	assert_int_equal(rules_lists_count(l), 3);
	assert_string_equal(rules_lists_name(l, 0), "alpha");
	assert_string_equal(rules_lists_name(l, 2), "zeta");
	assert_null(rules_lists_name(l, 3));
	assert_true(strset_has(rules_lists_get(l, "alpha"), "b", 1));
	assert_null(rules_lists_get(l, "nope"));
	/* Replace frees the old set. */
	assert_int_equal(rules_lists_put(l, "alpha", set_of("c", NULL)), 0);
	assert_int_equal(rules_lists_count(l), 3);
	assert_false(strset_has(rules_lists_get(l, "alpha"), "b", 1));
	rules_lists *r = rules_lists_ref(l);
	rules_lists_free(l);
	assert_int_equal(rules_lists_count(r), 3);
	rules_lists_free(r);
	rules_lists_free(NULL);
}

static void test_from_def(void **st)
{
	const char *txt = "{\"scenario\": \"p\", \"lists\": {\"ips\": [\"1.2.3.4\", "
			  "\"5.6.7.8\"], \"c\": []}, \"rules\": [{\"id\": \"a\", "
			  "\"when\": \"ip in @ips\"}]}";
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	assert_non_null(def);
	rules_lists *l = rules_lists_new();
	assert_int_equal(rules_lists_put(l, "ips", set_of("9.9.9.9", NULL)), 0);
	assert_int_equal(rules_lists_put_def(l, def), 0);
	assert_int_equal(rules_lists_count(l), 2);
	assert_true(strset_has(rules_lists_get(l, "ips"), "5.6.7.8", 7));
	assert_false(strset_has(rules_lists_get(l, "ips"), "9.9.9.9", 7));
	assert_int_equal(strset_count(rules_lists_get(l, "c")), 0);
	rules_lists_free(l);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_from_def),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
