/*
 * test_index.c - the guard index must be invisible: for random rule sets
 * of indexable shapes (thresholds and equality on slots and on computed
 * values, mixed with plain guards) and random events (numbers, strings,
 * booleans, nulls, missing fields), rules_eval gives exactly the matches
 * and errors of evaluating every rule's expression on its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "rt.h"

static const char *const shapes[] = {
	"a > %d", "a >= %d", "a < %d", "a <= %d", "%d < a", "%d >= a",
	"a == %d", "b == \"v%d\"", "b == %d", "a + 1 > %d",
	"a + 1 == %d", "len(b) > %d and a > 2", "a > %d and b == \"v1\"",
	"a >= %d or b == \"v2\"", "b > %d", "not (a > %d)",
	"a == %d and a > 1 and a < 8", "c == %d", "c > %d",
	"b and a > %d", "a", "b", "not b and a < %d", "b or a > %d",
	"a > %d or b == \"v1\"", "(a < %d or c == 3) and b == \"v2\"",
	"a == %d or (b > 2 and c == 3) or s > 1", "(a or b) and a > %d",
};

static const char *const values[] = {
	"1", "2", "3", "5", "7", "9", "2.5", "-1", "\"v1\"", "\"v2\"", "\"x\"",
	"true", "null", "[1]", "{}", "0",
};

static void test_differential(void **st)
{
	srand(42);
	for (int round = 0; round < 80; round++) {
		int n = 20 + rand() % 60;
		char **w = calloc((size_t)n, sizeof(char *));
		for (int i = 0; i < n; i++) {
			w[i] = malloc(128);
			snprintf(w[i], 128, shapes[rand() % RK_ARRAY_LEN(shapes)],
				 rand() % 10);
		}
		rules_def *d = rt_def((const char *const *)w, n);
		rk_diags dg;
		rk_diags_init(&dg);
		rules_set *s = rules_compile(d, NULL, &dg);
		assert_non_null(s);
		rules_frame *f = rules_frame_new(s);
		for (int e = 0; e < 50; e++) {
			char ev[256];
			snprintf(ev, sizeof(ev), "{\"a\": %s, \"b\": %s%s}",
				 values[rand() % RK_ARRAY_LEN(values)],
				 values[rand() % RK_ARRAY_LEN(values)],
				 rand() % 2 ? ", \"c\": 3" : "");
			cJSON *evj = cJSON_Parse(ev);
			rules_input in = {evj, NULL, NULL, false};
			rules_result r;
			assert_int_equal(rules_eval(s, f, &in, &r), 0);
			/* The reference: every rule alone, memo cleared. */
			int h = 0, er = 0;
			for (int i = 0; i < n; i++) {
				f->gen++;
				f->err = false;
				eval_bind(f, &in);
				rv v = eval_node(f, s->rules[i].root);
				bool m = v.t == RV_BOOL && v.b && !f->err;
				if (f->err) {
					if (er >= r.nerrors || r.errors[er] != i)
						fail_msg("%s on %s: error expected", w[i], ev);
					er++;
				}
				if (m) {
					if (h >= r.nhits || r.hits[h] != i)
						fail_msg("%s on %s: match expected", w[i], ev);
					h++;
				}
			}
			assert_int_equal(h, r.nhits);
			assert_int_equal(er, r.nerrors);
			cJSON_Delete(evj);
		}
		rules_frame_free(f);
		rules_set_free(s);
		rk_diags_cleanup(&dg);
		rt_def_free(d);
		for (int i = 0; i < n; i++)
			free(w[i]);
		free(w);
	}
}

/* Families exist for the shapes that have them. */
static void test_families(void **st)
{
	const char *w[] = {"a > 1", "a > 5 and b", "a <= 3", "c == \"x\"",
			   "c == \"y\" and a > 2", "c == \"x\" and b",
			   "matches(c, \"^z\")"};
	rules_def *d = rt_def(w, 7);
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, NULL, &dg);
	assert_non_null(s);
	assert_int_equal(s->nfams, 2);
	assert_int_equal(s->ngroups, 6);
	assert_int_equal(s->nplain, 1);
	rules_set_free(s);
	rk_diags_cleanup(&dg);
	rt_def_free(d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
