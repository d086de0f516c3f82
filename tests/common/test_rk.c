/*
 * test_rk.c - the error strings and the allocation wrapper's failure
 * injection that every other test relies on, the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/arena.h"
#include "common/rk.h"

static void test_strerror(void **st)
{
	assert_string_equal(rk_strerror(RK_OK), "ok");
	assert_string_equal(rk_strerror(RK_ENOMEM), "out of memory");
	assert_string_equal(rk_strerror(RK_ESTATE), "invalid state");
	assert_string_equal(rk_strerror(-999), "unknown error");
	assert_string_equal(rk_strerror(5), "unknown error");
}

static void test_fail_after(void **st)
{
	rk_alloc_fail_after(2);
	void *a = rk_malloc(8), *b = rk_calloc(2, 4), *c = rk_malloc(8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_null(rk_strdup("x"));
	assert_null(rk_realloc(a, 16));
	assert_int_equal(rk_alloc_fail_after(-1), 5);
	char *d = rk_strndup("hello", 3);
	assert_string_equal(d, "hel");
	assert_null(rk_strdup(NULL));
	rk_free(a);
	rk_free(b);
	rk_free(d);
	rk_free(NULL);
}

static void test_clock(void **st)
{
	int64_t a = rk_now_ns(), b = rk_now_ns();
	assert_true(b >= a);
	assert_true(rk_now_us() > 0);
}

/* A tree parsed into an arena lives in the arena: no heap allocation,
 * failed parses free nothing, and the heap is used again afterwards. */
static void test_cjson_arena(void **st)
{
	rk_cjson_hooks();
	arena a;
	arena_init(&a, 1024);
	rk_alloc_fail_after(0);          /* the heap fails; the arena's first
					  * block is the only heap use */
	rk_cjson_arena(&a);
	cJSON *v = cJSON_Parse("{\"a\":[1,2,{\"b\":\"x\"}]}");
	rk_cjson_arena(NULL);
	rk_alloc_fail_after(-1);
	assert_null(v);                  /* the first block failed */
	rk_cjson_arena(&a);
	v = cJSON_Parse("{\"a\":[1,2,{\"b\":\"x\"}],\"c\":\"long enough "
			"to need a second block? no\"}");
	cJSON *bad = cJSON_Parse("{\"a\":[1,2,{\"b\":");
	rk_cjson_arena(NULL);
	assert_non_null(v);
	assert_null(bad);
	long before = rk_alloc_fail_after(-1);
	(void)before;
	assert_string_equal(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(v, "a"), 2), "b")
		->valuestring, "x");
	assert_true(a.used > 0);
	cJSON *h = cJSON_CreateObject();  /* back on the heap */
	assert_non_null(h);
	cJSON_Delete(h);
	arena_cleanup(&a);               /* frees v; ASan/valgrind check */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_fail_after),
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_cjson_arena),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
