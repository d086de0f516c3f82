/*
 * test_parse.c - the lexer and parser: precedence, every production,
 * and every syntax error with its rule id, line and column. Compile-time
 * checks of resolve.c (unknown function, list, feature group, velocity,
 * arity, regex and CIDR literals) are here too, as users meet them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rt.h"

/* Compiles expr; expects one error at line:col whose text contains msg. */
static void bad(const char *expr, int line, int col, const char *msg)
{
	rt_val v = rt_eval(expr, "{}");
	if (v.compiled)
		fail_msg("%s: compiled, expected error '%s'", expr, msg);
	char want[64];
	snprintf(want, sizeof(want), "rule 'r0' line %d col %d: ", line, col);
	if (strncmp(v.diag, want, strlen(want)) || !strstr(v.diag, msg))
		fail_msg("%s: got '%s', want '%s...%s'", expr, v.diag, want,
			 msg);
}

static void test_syntax_errors(void **st)
{
	bad("amount >", 1, 9, "unexpected end of expression");
	bad("amount > > 3", 1, 10, "unexpected '>'");
	bad("(amount > 3", 1, 12, "expected ')'");
	bad("amount > 3)", 1, 11, "unexpected ')'");
	bad("\"abc", 1, 1, "unterminated string");
	bad("'abc\ndef'", 1, 1, "unterminated string");
	bad("\"a\\qb\"", 1, 1, "invalid escape");
	bad("\"\\u12\"", 1, 1, "invalid \\u escape");
	bad("amount = 3", 1, 8, "'='");
	bad("amount > 3 $", 1, 12, "unexpected character");
	bad("1.x", 1, 1, "invalid number");
	bad("1e", 1, 1, "invalid number");
	bad("a not b", 1, 7, "expected 'in'");
	bad("a.", 1, 3, "expected a field name");
	bad("a[-1]", 1, 3, "unexpected '-'");
	bad("a[1.5]", 1, 3, "non-negative integer");
	bad("a[b]", 1, 3, "unexpected 'b'");
	bad("[1, 2", 1, 6, "expected ']'");
	bad("@", 1, 2, "expected a list name");
	bad("", 1, 1, "empty expression");
	bad("# only a comment", 1, 1, "empty expression");
	bad("amount > 1 and\n  (b or", 2, 8, "unexpected end");
	bad("x ==\n\n   ]", 3, 4, "unexpected ']'");
}

static void test_resolve_errors(void **st)
{
	bad("foo(1)", 1, 1, "unknown function 'foo'");
	bad("amount > 1 and len(a, b)", 1, 16, "function 'len' takes 1 argument, got 2");
	bad("min()", 1, 1, "takes at least 1 argument");
	bad("distance_km(1, 2, 3)", 1, 1, "takes 4 arguments, got 3");
	bad("ip in @nope", 1, 7, "unknown list '@nope'");
	bad("matches(s, \"(\")", 1, 12, "invalid regex");
	bad("matches(s, p)", 1, 12, "must be a string literal");
	bad("in_cidr(ip, \"10.0.0.0/33\")", 1, 13, "invalid CIDR '10.0.0.0/33'");
	bad("in_cidr(ip, x)", 1, 13, "CIDR string literal or an @list");
	bad("in_cidr(ip, @nope)", 1, 13, "unknown list '@nope'");
	bad("velocity.nope > 1", 1, 1, "unknown velocity 'nope'");
	bad("velocity.v1h.x > 1", 1, 1, "velocity.<name>");
	bad("features.acct.x > 1", 1, 1, "unknown feature group 'acct'");
	bad("features.card > 1", 1, 1, "features.<group>.<field>");
	bad("1 +\n  features.nope.x", 2, 3, "unknown feature group 'nope'");
}

static void test_limits(void **st)
{
	char buf[RULES_MAX_EXPR + 64];
	/* 64 nested parentheses are fine, 65 are not. */
	int n = 0;
	for (int i = 0; i < 64; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (int i = 0; i < 64; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	rt_val v = rt_eval(buf, "{}");
	assert_true(v.compiled);
	n = 0;
	for (int i = 0; i < 65; i++)
		buf[n++] = '(';
	buf[n++] = '1';
	for (int i = 0; i < 65; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	bad(buf, 1, 65, "nested too deeply");
	memset(buf, ' ', RULES_MAX_EXPR + 1);
	buf[0] = '1';
	buf[RULES_MAX_EXPR + 1] = '\0';
	bad(buf, 1, 1, "too long");
	/* A long flat chain is not nesting. */
	n = 0;
	for (int i = 0; i < 300; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%sa == %d",
			      i ? " or " : "", i);
	v = rt_eval(buf, "{\"a\": 299}");
	assert_true(v.compiled);
	assert_true(v.b);
}

static void test_keywords_as_fields(void **st)
{
	rt_val v = rt_eval("a.in == 1 and a.null == 2",
			   "{\"a\": {\"in\": 1, \"null\": 2}}");
	assert_true(v.compiled);
	assert_true(v.b);
}

/* Every error of every rule is reported, each with its rule id. */
static void test_all_errors_collected(void **st)
{
	const char *w[] = {"amount >", "ok == 1", "foo()", "ip in @nope"};
	rules_def *d = rt_def(w, 4);
	rk_diags dg;
	rk_diags_init(&dg);
	assert_null(rules_compile(d, NULL, &dg));
	assert_int_equal(dg.n, 3);
	assert_string_equal(dg.v[0].where, "r0");
	assert_string_equal(dg.v[1].where, "r2");
	assert_string_equal(dg.v[2].where, "r3");
	rk_diags_cleanup(&dg);
	rt_def_free(d);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_resolve_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_keywords_as_fields),
		cmocka_unit_test(test_all_errors_collected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
