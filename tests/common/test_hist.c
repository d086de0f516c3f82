/*
 * test_hist.c - the latency histogram: exact below 256, every value
 * reported within 1 % above, quantiles on known distributions, merge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/hist.h"

static void test_error_bound(void **st)
{
	static hist h;
	/* One value at a time: the reported quantile is within 1 %. */
	for (uint64_t v = 1; v < 50000000; v = v * 3 / 2 + 1) {
		hist_init(&h);
		hist_record(&h, v);
		hist_record(&h, v + 1000000000);
		uint64_t got = hist_quantile(&h, 0.0);
		if (v < 256)
			assert_int_equal(got, v);
		assert_true(got >= v);
		assert_true((double)(got - v) <= 0.01 * (double)v);
	}
}

static void test_quantiles(void **st)
{
	static hist h;
	hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v);
	assert_int_equal(h.count, 100000);
	assert_int_equal(h.max, 100000);
	assert_int_equal(h.min, 1);
	uint64_t p50 = hist_quantile(&h, 0.5), p99 = hist_quantile(&h, 0.99);
	assert_true(p50 >= 50000 && p50 <= 50500);
	assert_true(p99 >= 99000 && p99 <= 99900);
	assert_int_equal(hist_quantile(&h, 1.0), 100000);
	assert_true(hist_mean(&h) > 50000 && hist_mean(&h) < 50001);
	static hist a, b;
	hist_init(&a);
	hist_init(&b);
	hist_record(&a, 10);
	hist_record(&b, 1000000);
	hist_merge(&a, &b);
	assert_int_equal(a.count, 2);
	assert_int_equal(hist_quantile(&a, 0.0), 10);
	assert_int_equal(hist_quantile(&a, 0.99), 1000000);
	hist_init(&a);
	assert_int_equal(hist_quantile(&a, 0.5), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_bound),
		cmocka_unit_test(test_quantiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
