/*
 * test_strset.c - the string hash set behind @lists: membership, growth
 * past many rehashes, embedded NUL bytes, iteration, allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/rk.h"
#include "common/strset.h"

static void test_basic(void **st)
{
	strset *s = strset_new();
	assert_int_equal(strset_add(s, "a", 1), 0);
	assert_int_equal(strset_add(s, "a", 1), 0);
	assert_int_equal(strset_add(s, "", 0), 0);
	assert_int_equal(strset_add(s, "x\0y", 3), 0);
	assert_int_equal(strset_count(s), 3);
	assert_true(strset_has(s, "a", 1));
	assert_true(strset_has(s, "", 0));
	assert_true(strset_has(s, "x\0y", 3));
	assert_false(strset_has(s, "x", 1));
	assert_false(strset_has(s, "ab", 2));
	strset_free(s);
	strset_free(NULL);
}

static void test_many(void **st)
{
	strset *s = strset_new();
	char buf[32];
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(buf, sizeof(buf), "203.0.%d.%d", i / 256, i % 256);
		assert_int_equal(strset_add(s, buf, (size_t)n), 0);
	}
	assert_int_equal(strset_count(s), 100000);
	for (int i = 0; i < 100000; i += 7) {
		int n = snprintf(buf, sizeof(buf), "203.0.%d.%d", i / 256, i % 256);
		assert_true(strset_has(s, buf, (size_t)n));
	}
	assert_false(strset_has(s, "203.0.0.256", 11));
	size_t pos = 0, len, seen = 0;
	const char *item;
	while (strset_next(s, &pos, &item, &len))
		seen++;
	assert_int_equal(seen, 100000);
	assert_true(strset_footprint(s) > 100000 * 10);
	strset_free(s);
}

static void test_oom(void **st)
{
	for (long n = 0; n < 50; n++) {
		rk_alloc_fail_after(n);
		strset *s = strset_new();
		int rc = 0;
		char buf[16];
		for (int i = 0; s && i < 100 && !rc; i++) {
			int k = snprintf(buf, sizeof(buf), "k%d", i);
			rc = strset_add(s, buf, (size_t)k);
		}
		rk_alloc_fail_after(-1);
		if (s && !rc)
			assert_true(strset_has(s, "k99", 3));
		strset_free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
