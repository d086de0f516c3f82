/*
 * test_jw.c - the streaming JSON writer: output identical to cJSON's
 * unformatted printing for the same values (escapes, numbers, nesting),
 * sticky errors on misuse, and allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "common/jw.h"
#include "common/rk.h"

static void assert_same_as_cjson(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	assert_non_null(v);
	char *want = cJSON_PrintUnformatted(v);
	jw w;
	jw_init(&w, 0);
	jw_cjson(&w, v);
	size_t len;
	char *got = jw_finish(&w, &len);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	rk_free(got);
	cJSON_free(want);
	cJSON_Delete(v);
}

static void test_matches_cjson(void **st)
{
	assert_same_as_cjson("{}");
	assert_same_as_cjson("[]");
	assert_same_as_cjson("null");
	assert_same_as_cjson("{\"a\":[1,2,{\"b\":null,\"c\":[true,false]}],"
			     "\"d\":\"x\"}");
	assert_same_as_cjson("[0,-1,1e3,123456789012,0.5,-0.25,3.14159,"
			     "1e-7,0.1,123456.789,-1e300]");
	assert_same_as_cjson("[\"q\\\"b\\\\s\\/n\\n\\r\\t\\b\\f\\u0001\\u001f\","
			     "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac\",\"\"]");
	assert_same_as_cjson("{\"k\\\"ey\":{\"\":{}}}");
}

/* Where cJSON rounds to 15 digits, the writer keeps every digit. */
static void test_exact_numbers(void **st)
{
	jw w;
	jw_init(&w, 0);
	jw_arr_begin(&w);
	jw_num(&w, 1.7976931348623157e308);
	jw_num(&w, 9007199254740991.0);
	jw_num(&w, -9007199254740992.0);
	jw_num(&w, 0.30000000000000004);
	jw_num(&w, 1e300);
	jw_arr_end(&w);
	char *s = jw_finish(&w, NULL);
	assert_string_equal(s, "[1.7976931348623157e+308,9007199254740991,"
			       "-9007199254740992,0.30000000000000004,"
			       "1e+300]");
	rk_free(s);
}

static void test_builders(void **st)
{
	jw w;
	jw_init(&w, 8);
	jw_obj_begin(&w);
	jw_kstr(&w, "decision", "review");
	jw_kint(&w, "score", -55);
	jw_kbool(&w, "degraded", false);
	jw_kstr(&w, "region", NULL);
	jw_key(&w, "reasons");
	jw_arr_begin(&w);
	for (int i = 0; i < 3; i++) {
		jw_obj_begin(&w);
		jw_kint(&w, "i", i);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_key(&w, "n");
	jw_num(&w, 0.1);
	jw_key(&w, "nan");
	jw_num(&w, 0.0 / 0.0);
	jw_key(&w, "big");
	jw_int(&w, INT64_MIN);
	jw_obj_end(&w);
	size_t len;
	char *s = jw_finish(&w, &len);
	assert_string_equal(s, "{\"decision\":\"review\",\"score\":-55,"
			       "\"degraded\":false,\"region\":null,"
			       "\"reasons\":[{\"i\":0},{\"i\":1},{\"i\":2}],"
			       "\"n\":0.1,\"nan\":null,"
			       "\"big\":-9223372036854775808}");
	assert_int_equal(len, strlen(s));
	rk_free(s);
}

static void test_misuse(void **st)
{
	jw w;
	/* a value inside an object without a key */
	jw_init(&w, 0);
	jw_obj_begin(&w);
	jw_int(&w, 1);
	jw_obj_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* a key in an array */
	jw_init(&w, 0);
	jw_arr_begin(&w);
	jw_key(&w, "k");
	jw_arr_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* unbalanced */
	jw_init(&w, 0);
	jw_arr_begin(&w);
	assert_null(jw_finish(&w, NULL));
	jw_init(&w, 0);
	jw_obj_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* mismatched close */
	jw_init(&w, 0);
	jw_arr_begin(&w);
	jw_obj_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* a key without its value */
	jw_init(&w, 0);
	jw_obj_begin(&w);
	jw_key(&w, "k");
	jw_obj_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* too deep */
	jw_init(&w, 0);
	for (int i = 0; i < JW_MAX_DEPTH + 2; i++)
		jw_arr_begin(&w);
	for (int i = 0; i < JW_MAX_DEPTH + 2; i++)
		jw_arr_end(&w);
	assert_null(jw_finish(&w, NULL));
	/* nothing written */
	jw_init(&w, 0);
	assert_null(jw_finish(&w, NULL));
	jw_cleanup(&w);
}

static void test_long_strings(void **st)
{
	size_t n = 100000;
	char *s = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)(i % 7 == 0 ? '\n' : 'a' + i % 26);
	s[n] = '\0';
	cJSON *v = cJSON_CreateString(s);
	char *want = cJSON_PrintUnformatted(v);
	jw w;
	jw_init(&w, 0);
	jw_str(&w, s);
	char *got = jw_finish(&w, NULL);
	assert_string_equal(got, want);
	rk_free(got);
	cJSON_free(want);
	cJSON_Delete(v);
	free(s);
}

static void test_oom(void **st)
{
	int ok = 0;
	for (long n = 0; n < 40 && !ok; n++) {
		rk_alloc_fail_after(n);
		jw w;
		jw_init(&w, 0);
		jw_arr_begin(&w);
		for (int i = 0; i < 200; i++)
			jw_str(&w, "a reasonably long string of text");
		jw_arr_end(&w);
		char *s = jw_finish(&w, NULL);
		rk_alloc_fail_after(-1);
		if (s) {
			ok = 1;
			assert_int_equal(s[0], '[');
		}
		rk_free(s);
	}
	assert_true(ok);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_cjson),
		cmocka_unit_test(test_exact_numbers),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
