/*
 * test_arena.c - the bump allocator: alignment, large requests, reset
 * keeping one block, and allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/arena.h"
#include "common/rk.h"

static void test_alloc(void **st)
{
	arena a;
	arena_init(&a, 128);
	for (int i = 1; i < 200; i++) {
		char *p = arena_alloc(&a, (size_t)i);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, 0xAB, (size_t)i);
	}
	char *big = arena_alloc(&a, 10000);
	assert_non_null(big);
	memset(big, 1, 10000);
	char *s = arena_strndup(&a, "hello world", 5);
	assert_string_equal(s, "hello");
	int *z = arena_calloc(&a, 64 * sizeof(int));
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	assert_true(arena_footprint(&a) >= 10000);
	arena_reset(&a);
	assert_int_equal(a.used, 0);
	/* The largest block stays for reuse. */
	assert_true(arena_footprint(&a) >= 10000);
	assert_non_null(arena_alloc(&a, 5000));
	arena_cleanup(&a);
	assert_int_equal(arena_footprint(&a), 0);
}

static void test_oom(void **st)
{
	arena a;
	arena_init(&a, 0);
	rk_alloc_fail_after(0);
	assert_null(arena_alloc(&a, 10));
	assert_null(arena_strndup(&a, "x", 1));
	rk_alloc_fail_after(-1);
	assert_non_null(arena_alloc(&a, 10));
	arena_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
