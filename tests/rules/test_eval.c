/*
 * test_eval.c - the evaluator's value semantics (SPEC §3): every operator
 * and function, null and type rules, paths and slots, memoised sharing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rt.h"

#define EV "{\"amount\": 1500, \"s\": \"abc\", \"b\": true, \"n\": null, " \
	   "\"card\": {\"id\": \"c1\", \"bin\": \"457173\", \"country\": \"US\"}, " \
	   "\"items\": [{\"sku\": \"A1\", \"price\": 10}, {\"sku\": \"B2\"}], " \
	   "\"tags\": [\"x\", \"y\", 3], \"headers\": {\"user-agent\": \"curl\"}, " \
	   "\"features\": {\"z\": 7}, \"email\": \"Bob@Example.COM\", " \
	   "\"ip\": \"10.1.2.3\", \"ip6\": \"2001:db8::1\", \"name\": \"h\\u00e9llo\"}"

static void is_bool(const char *expr, bool want)
{
	rt_val v = rt_eval(expr, EV);
	if (!v.compiled)
		fail_msg("%s: did not compile: %s", expr, v.diag);
	if (v.t != RV_BOOL || v.b != want || v.err)
		fail_msg("%s: got type %d b=%d err=%d, want %s", expr, v.t, v.b,
			 v.err, want ? "true" : "false");
}

static void is_num(const char *expr, double want)
{
	rt_val v = rt_eval(expr, EV);
	if (!v.compiled)
		fail_msg("%s: did not compile: %s", expr, v.diag);
	if (v.t != RV_NUM || v.n != want || v.err)
		fail_msg("%s: got type %d n=%g err=%d, want %g", expr, v.t, v.n,
			 v.err, want);
}

static void is_str(const char *expr, const char *want)
{
	rt_val v = rt_eval(expr, EV);
	if (!v.compiled)
		fail_msg("%s: did not compile: %s", expr, v.diag);
	if (v.t != RV_STR || strcmp(v.s, want) || v.err)
		fail_msg("%s: got type %d s=%s, want %s", expr, v.t, v.s, want);
}

/* null; with err when a type problem must be flagged. */
static void is_null(const char *expr, bool err)
{
	rt_val v = rt_eval(expr, EV);
	if (!v.compiled)
		fail_msg("%s: did not compile: %s", expr, v.diag);
	if (v.t != RV_NULL || v.err != err)
		fail_msg("%s: got type %d err=%d, want null err=%d", expr, v.t,
			 v.err, err);
}

static void test_paths(void **st)
{
	is_num("amount", 1500);
	is_str("card.bin", "457173");
	is_str("items[0].sku", "A1");
	is_str("items[1].sku", "B2");
	is_null("items[1].price", false);
	is_null("items[5].sku", false);
	is_str("headers[\"user-agent\"]", "curl");
	is_str("headers['user-agent']", "curl");
	is_num("event.features.z", 7);
	is_num("event.amount", 1500);
	is_null("missing", false);
	is_null("amount.x", false);
	is_null("n", false);
	is_bool("n == null", true);
	is_bool("missing == null", true);
	is_bool("amount == null", false);
}

static void test_arith(void **st)
{
	is_num("1 + 2 * 3", 7);
	is_num("(1 + 2) * 3", 9);
	is_num("10 - 4 - 3", 3);
	is_num("7 % 4", 3);
	is_num("-amount", -1500);
	is_num("- -2", 2);
	is_num("1e3 + .5", 1000.5);
	is_num("amount / 3 * 3", 1500);
	is_null("1 / 0", false);
	is_null("1 % 0", false);
	is_null("amount + null", false);
	is_null("amount + missing", false);
	is_null("s + 1", true);
	is_null("-s", true);
	is_null("b * 2", true);
}

static void test_compare(void **st)
{
	is_bool("amount > 1000", true);
	is_bool("1000 < amount", true);
	is_bool("amount >= 1500", true);
	is_bool("amount <= 1499", false);
	is_bool("s < \"abd\"", true);
	is_bool("\"ab\" < s", true);
	is_bool("s > \"abc\"", false);
	is_null("s > 5", true);
	is_null("amount > s", true);
	is_null("amount > null", false);
	is_null("missing < 3", false);
	is_null("b < true", true);
	is_bool("s == \"abc\"", true);
	is_bool("s != \"abc\"", false);
	is_bool("amount == \"1500\"", false);
	is_bool("amount != \"1500\"", true);
	is_bool("b == true", true);
	is_bool("null == null", true);
	is_bool("tags == [\"x\", \"y\", 3]", true);
	is_bool("[1, 2] == [1, 2]", true);
	is_bool("[1, 2] != [2, 1]", true);
}

static void test_logic(void **st)
{
	is_bool("true and true", true);
	is_bool("true && false", false);
	is_bool("false or true", true);
	is_bool("false || false", false);
	is_bool("not false", true);
	is_bool("!true", false);
	is_bool("not null", true);
	is_bool("null or true", true);
	is_bool("null and true", false);
	is_bool("not missing", true);
	is_bool("amount > 1000 and card.country == \"US\"", true);
	/* Short-circuit: the right side's type error never happens. */
	is_bool("false and s > 5", false);
	is_bool("true or s > 5", true);
	/* A type error inside spoils the value even if it ends up true. */
	rt_val v = rt_eval("s > 5 or true", EV);
	assert_true(v.err);
	/* and/or/not on a non-boolean value is a type problem. */
	v = rt_eval("amount and true", EV);
	assert_true(v.err);
	assert_int_equal(v.t, RV_BOOL);
	assert_false(v.b);
	/* Precedence: not binds tighter than and, and tighter than or. */
	is_bool("not false and false", false);
	is_bool("true or false and false", true);
}

static void test_in(void **st)
{
	is_bool("card.country in [\"US\", \"CA\"]", true);
	is_bool("card.country in [\"GB\", \"FR\", \"DE\", \"IT\", \"ES\"]", false);
	is_bool("card.country in [\"GB\", \"FR\", \"DE\", \"IT\", \"US\"]", true);
	is_bool("card.country not in [\"US\"]", false);
	is_bool("amount in [1, 1500]", true);
	is_bool("amount in [\"1500\"]", false);
	is_bool("missing in [null]", false);
	is_bool("missing in [\"a\"]", false);
	is_bool("ip in @blocked", false);
	is_bool("\"KP\" in @blocked", true);
	is_bool("\"KP\" not in @blocked", false);
	is_bool("\"x\" in tags", true);
	is_bool("3 in tags", true);
	is_bool("\"z\" in tags", false);
	is_bool("\"z\" not in tags", true);
	is_bool("missing in tags", false);
	is_null("\"x\" in missing", false);
	is_null("\"x\" not in missing", false);
	is_null("\"x\" in s", true);
	is_bool("card.country in [card.country, s]", true);
	is_bool("amount in [amount + 1, 2]", false);
}

static void test_functions(void **st)
{
	is_num("len(s)", 3);
	is_num("len(name)", 5);
	is_num("len(items)", 2);
	is_num("len([1, 2, 3])", 3);
	is_null("len(amount)", true);
	is_null("len(missing)", false);
	is_str("lower(email)", "bob@example.com");
	is_str("upper(s)", "ABC");
	is_null("lower(amount)", true);
	is_bool("starts_with(card.bin, \"4571\")", true);
	is_bool("ends_with(email, \".COM\")", true);
	is_bool("contains(email, \"@\")", true);
	is_null("contains(missing, \"@\")", false);
	is_null("contains(amount, \"@\")", true);
	is_bool("matches(email, \"^[A-Za-z]+@\")", true);
	is_bool("matches(s, \"^x\")", false);
	is_null("matches(missing, \"x\")", false);
	is_null("matches(amount, \"x\")", true);
	is_num("abs(-3)", 3);
	is_num("abs(0 - amount)", 1500);
	is_num("min(3, 1, 2)", 1);
	is_num("max(3, amount, 2)", 1500);
	is_null("min(1, missing)", false);
	is_null("max(1, s)", true);
	is_num("round(2.5)", 3);
	is_num("round(-2.5)", -3);
	is_num("round(2.4)", 2);
	is_str("coalesce(missing, n, s)", "abc");
	is_null("coalesce(missing, n)", false);
	is_bool("exists(amount)", true);
	is_bool("exists(n)", false);
	is_bool("exists(missing)", false);
	is_str("email_domain(email)", "example.com");
	is_null("email_domain(s)", false);
	is_null("email_domain(amount)", true);
	is_bool("in_cidr(ip, \"10.0.0.0/8\")", true);
	is_bool("in_cidr(ip, \"192.168.0.0/16\")", false);
	is_bool("in_cidr(ip6, @ranges)", true);
	is_bool("in_cidr(ip, @ranges)", true);
	is_bool("in_cidr(s, \"10.0.0.0/8\")", false);
	is_null("in_cidr(missing, \"10.0.0.0/8\")", false);
	is_num("timestamp(\"1970-01-01T00:01:00Z\")", 60);
	is_num("timestamp(1700000000)", 1700000000);
	is_null("timestamp(\"yesterday\")", false);
	is_null("timestamp(b)", true);
	rt_val v = rt_eval("distance_km(51.5074, -0.1278, 48.8566, 2.3522)", EV);
	assert_int_equal(v.t, RV_NUM);
	assert_true(v.n > 340 && v.n < 346);
	is_null("distance_km(1, 2, 3, missing)", false);
	is_null("distance_km(100, 0, 0, 0)", false);
	is_null("distance_km(1, 2, 3, s)", true);
}

static void test_features_velocity(void **st)
{
	rt_val v = rt_eval_in("features.card.cb > 1 and velocity.v1h >= 5", EV,
			      "{\"card\": {\"cb\": 2}}", "{\"v1h\": 5}");
	assert_true(v.compiled);
	assert_int_equal(v.t, RV_BOOL);
	assert_true(v.b);
	v = rt_eval_in("features.user.age == null", EV, "{\"card\": {}}", NULL);
	assert_true(v.b);
	v = rt_eval_in("velocity.v1h", EV, NULL, NULL);
	assert_int_equal(v.t, RV_NULL);
}

static void test_strings_and_comments(void **st)
{
	is_str("\"a\\\"b\"", "a\"b");
	is_str("'it\\'s'", "it's");
	is_str("\"t\\tn\\n\\\\\"", "t\tn\n\\");
	is_str("\"\\u00e9\"", "\xc3\xa9");
	is_str("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
	is_bool("amount > 1 # a comment\n and true", true);
	is_num("# leading comment\n 5", 5);
}

/* Shared sub-expressions are evaluated once and give the same answer. */
static void test_sharing(void **st)
{
	const char *w[] = {"amount > 1000 and s == \"abc\"",
			   "amount > 1000 and s == \"abc\" and b",
			   "lower(email) == \"bob@example.com\"",
			   "lower(email) != \"x\""};
	rules_def *d = rt_def(w, 4);
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, NULL, &dg);
	assert_non_null(s);
	assert_true(s->nmemo >= 2);
	rules_frame *f = rules_frame_new(s);
	cJSON *ev = cJSON_Parse(EV);
	rules_input in = {ev, NULL, NULL, false};
	rules_result res;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rules_eval(s, f, &in, &res), 0);
		assert_int_equal(res.nhits, 4);
		assert_int_equal(res.nerrors, 0);
	}
	cJSON_Delete(ev);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&dg);
	rt_def_free(d);
}

/* A rule whose shared operand had a type error is spoiled every time. */
static void test_shared_error(void **st)
{
	const char *w[] = {"(s > 5) == null", "not (s > 5)", "amount > 1"};
	rules_def *d = rt_def(w, 3);
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, NULL, &dg);
	assert_non_null(s);
	rules_frame *f = rules_frame_new(s);
	cJSON *ev = cJSON_Parse(EV);
	rules_input in = {ev, NULL, NULL, true};
	rules_result res;
	assert_int_equal(rules_eval(s, f, &in, &res), 0);
	assert_int_equal(res.nerrors, 2);
	assert_int_equal(res.errors[0], 0);
	assert_int_equal(res.errors[1], 1);
	assert_int_equal(res.nhits, 1);
	assert_int_equal(res.hits[0], 2);
	assert_int_equal(res.ntrace, 3);
	assert_true(res.trace[0].error);
	assert_false(res.trace[2].error);
	assert_true(res.trace[2].matched);
	cJSON *bad = cJSON_Parse("[1]");
	rules_input in2 = {bad, NULL, NULL, false};
	assert_int_equal(rules_eval(s, f, &in2, &res), RK_EINVAL);
	cJSON_Delete(bad);
	cJSON_Delete(ev);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&dg);
	rt_def_free(d);
}

/* Once a frame is warm, evaluation allocates nothing at all. */
static void test_no_allocation(void **st)
{
	const char *w[] = {"lower(email) == \"bob@example.com\" and amount > 10",
			   "email_domain(email) in [\"a\", \"b\", \"c\", \"example.com\"]",
			   "matches(email, \"^B\") and in_cidr(ip, @ranges)",
			   "card.country in [card.bin, s, \"US\"] and len(items) > 1",
			   "upper(s) == \"ABC\" and coalesce(missing, 1) == 1",
			   "[amount, 2] == [1500, 2]", "timestamp(\"2024-01-01T00:00:00Z\") > 0"};
	rules_def *d = rt_def(w, 7);
	rules_lists *l = rt_lists();
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, l, &dg);
	assert_non_null(s);
	rules_frame *f = rules_frame_new(s);
	cJSON *ev = cJSON_Parse(EV);
	rules_input in = {ev, NULL, NULL, true};
	rules_result r;
	assert_int_equal(rules_eval(s, f, &in, &r), 0);
	assert_int_equal(r.nhits, 7);
	rk_alloc_fail_after(-1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rules_eval(s, f, &in, &r), 0);
	assert_int_equal(rk_alloc_fail_after(-1), 0);
	assert_int_equal(r.nhits, 7);
	cJSON_Delete(ev);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&dg);
	rules_lists_free(l);
	rt_def_free(d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_arith),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_logic),
		cmocka_unit_test(test_in),
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_features_velocity),
		cmocka_unit_test(test_strings_and_comments),
		cmocka_unit_test(test_sharing),
		cmocka_unit_test(test_shared_error),
		cmocka_unit_test(test_no_allocation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
