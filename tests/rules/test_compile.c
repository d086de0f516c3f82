/*
 * test_compile.c - what the compiler makes of rules: identical
 * sub-expressions across rules become one memoised node, constants fold,
 * `slot op constant` fuses, slots are shared, the disassembler names
 * them; reference counting; and every allocation failure during compile
 * and evaluation is survived without a leak (run under ASan/valgrind).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "rt.h"

static rules_set *compile(const char *const *w, int n)
{
	rules_def *d = rt_def(w, n);
	rk_diags dg;
	rk_diags_init(&dg);
	rules_lists *l = rt_lists();
	rules_set *s = rules_compile(d, l, &dg);
	rules_lists_free(l);
	rk_diags_cleanup(&dg);
	rt_def_free(d);
	return s;
}

static int count_op(const rules_set *s, int op)
{
	int c = 0;
	for (uint32_t i = 0; i < s->nnodes; i++)
		c += s->nodes[i].op == op && s->nodes[i].refs > 0;
	return c;
}

static void test_sharing(void **st)
{
	const char *w[] = {"ip_country in @blocked and amount > 100",
			   "ip_country in @blocked and card.bin == \"4571\"",
			   "ip_country in @blocked or amount > 100"};
	rules_set *s = compile(w, 3);
	assert_non_null(s);
	/* One IN_SET node, shared by three rules, memoised. */
	assert_int_equal(count_op(s, OP_IN_SET), 1);
	assert_int_equal(count_op(s, OP_GT_SK), 1);
	assert_int_equal(count_op(s, OP_EQ_SK), 1);
	assert_int_equal(s->nslots, 3);
	for (uint32_t i = 0; i < s->nnodes; i++)
		if (s->nodes[i].op == OP_IN_SET && s->nodes[i].refs)
			assert_true(s->nodes[i].memo);
	rules_set_free(s);
}

static void test_folding(void **st)
{
	const char *w[] = {"amount > 2 * 500 + 1", "lower(\"ABC\") == x",
			   "1 / 0 == null", "len(\"h\\u00e9\") == 2",
			   "\"a\" > 1 or true"};
	rules_set *s = compile(w, 5);
	assert_non_null(s);
	/* 2 * 500 + 1 folded into the fused compare's constant. */
	const node *r0 = &s->nodes[s->rules[0].root];
	assert_int_equal(r0->op, OP_GT_SK);
	assert_true(r0->k.n == 1001);
	const node *r1 = &s->nodes[s->rules[1].root];
	assert_int_equal(r1->op, OP_EQ_SK);
	assert_int_equal(r1->k.t, RV_STR);
	assert_memory_equal(r1->k.s, "abc", 3);
	assert_int_equal(s->nodes[s->rules[2].root].op, OP_CONST);
	assert_int_equal(s->nodes[s->rules[3].root].op, OP_CONST);
	/* A type error is never folded away: it must count at run time. */
	assert_int_equal(s->nodes[s->rules[4].root].op, OP_OR);
	rules_set_free(s);
}

static void test_disasm(void **st)
{
	const char *w[] = {"amount > 10 and card.bin in [\"1\", \"2\", \"3\", \"4\"]",
			   "matches(email, \"^a\") and amount > 10"};
	rules_set *s = compile(w, 2);
	assert_non_null(s);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	rules_disasm(s, f);
	fclose(f);
	assert_non_null(strstr(buf, "event.amount"));
	assert_non_null(strstr(buf, "event.card.bin"));
	assert_non_null(strstr(buf, "GT_SK"));
	assert_non_null(strstr(buf, "IN_SET"));
	assert_non_null(strstr(buf, "/^a/"));
	assert_non_null(strstr(buf, "shared by 2"));
	assert_non_null(strstr(buf, "rule r1"));
	free(buf);
	rules_set_free(s);
}

static void test_refcount(void **st)
{
	const char *w[] = {"true"};
	rules_set *s = compile(w, 1);
	assert_non_null(s);
	rules_set_ref(s);
	rules_set_free(s);
	assert_int_equal(rules_set_nrules(s), 1);
	assert_true(rules_set_footprint(s) > 0);
	rules_set_set_version(s, 7);
	assert_int_equal(rules_set_version(s), 7);
	rules_set_free(s);
	rules_set_free(NULL);
	rules_frame_free(NULL);
}

static void test_needs(void **st)
{
	const char *w[] = {"features.card.cb > 0 and velocity.v1h > 2",
			   "features.user.age < 3", "features.card.cb > 5"};
	rules_set *s = compile(w, 3);
	assert_non_null(s);
	assert_int_equal(rules_set_nfeature_slots(s), 2);
	assert_string_equal(rules_set_feature_slot(s, 0)->group, "card");
	assert_string_equal(rules_set_feature_slot(s, 0)->field, "cb");
	assert_string_equal(rules_set_feature_slot(s, 1)->group, "user");
	assert_int_equal(rules_set_nvelocity_slots(s), 1);
	assert_int_equal(rules_set_velocity_slot_def(s, 0), 0);
	const int *sl;
	assert_int_equal(rules_rule_features(s, 0, &sl), 1);
	assert_int_equal(sl[0], 0);
	assert_int_equal(rules_rule_velocity(s, 0, &sl), 1);
	assert_int_equal(rules_rule_features(s, 1, &sl), 1);
	assert_int_equal(sl[0], 1);
	assert_int_equal(rules_rule_velocity(s, 2, &sl), 0);
	rules_set_free(s);
}

/* Fails allocation n, for every n, through compile and one evaluation. */
static void test_alloc_failures(void **st)
{
	const char *w[] = {"amount > 10 and lower(email) in [\"a\", \"b\", \"c\", \"d\"]",
			   "matches(email, \"^b\") or in_cidr(ip, @ranges)",
			   "card.country in [card.bin, \"US\"] and len(items) > 1",
			   "features.card.cb > 1 and velocity.v1h > 1",
			   "min(amount, 3) < 5 and ip in @blocked"};
	const char *ev = "{\"amount\": 20, \"email\": \"B@x\", \"ip\": \"10.0.0.1\"}";
	rules_def *d = rt_def(w, 5);
	rules_lists *l = rt_lists();
	cJSON *evj = cJSON_Parse(ev);
	int ok_at = -1;
	for (long n = 0; n < 2000; n++) {
		rk_diags dg;
		rk_diags_init(&dg);
		rk_alloc_fail_after(n);
		rules_set *s = rules_compile(d, l, &dg);
		rules_frame *f = s ? rules_frame_new(s) : NULL;
		rk_alloc_fail_after(-1);
		if (f) {
			rules_input in = {evj, NULL, NULL, true};
			rules_result r;
			assert_int_equal(rules_eval(s, f, &in, &r), 0);
			assert_int_equal(r.nhits, 1);
			assert_int_equal(r.hits[0], 1);
		}
		rules_frame_free(f);
		rules_set_free(s);
		rk_diags_cleanup(&dg);
		if (f) {
			ok_at = (int)n;
			break;
		}
	}
	assert_true(ok_at > 10);
	cJSON_Delete(evj);
	rules_lists_free(l);
	rt_def_free(d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sharing),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_disasm),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
