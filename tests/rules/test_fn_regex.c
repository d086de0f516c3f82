/*
 * test_fn_regex.c - unit tests of rules/fn_regex.c: match / no match,
 * UTF-8 semantics and tolerated invalid subjects, compile errors with
 * their offsets, the match limit stopping catastrophic backtracking
 * quickly, and failing every allocation of compile and scratch_new.
 * Neighbours: test_fn_str.c, test_fn_cidr.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "common/rk.h"
#include "rules/fn.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static fn_regex *compile_ok(const char *pat)
{
	char err[128] = "";
	size_t off = 77;
	fn_regex *re = fn_regex_compile(pat, strlen(pat), err, sizeof(err),
					&off);

	if (!re)
		fail_msg("compile of '%s' failed: %s at %zu", pat, err, off);
	return re;
}

static int match(const char *pat, const char *s, size_t n)
{
	fn_regex_scratch *sc = fn_regex_scratch_new();
	fn_regex *re = compile_ok(pat);
	int rc;

	assert_non_null(sc);
	rc = fn_regex_match(re, sc, s, n);
	fn_regex_free(re);
	fn_regex_scratch_free(sc);
	return rc;
}

#define M(pat, lit) match(pat, S(lit))

static void test_match_basic(void **state)
{
	(void)state;
	assert_int_equal(M("abc", "xxabcxx"), 1);
	assert_int_equal(M("^abc$", "abc"), 1);
	assert_int_equal(M("^abc$", "abcd"), 0);
	assert_int_equal(M("abc", "ABC"), 0);
	assert_int_equal(M("(?i)abc", "ABC"), 1);
	assert_int_equal(M("^\\d{3}-\\d{4}$", "555-1234"), 1);
	assert_int_equal(M("^\\d{3}-\\d{4}$", "555-12345"), 0);
	assert_int_equal(M("^[a-z0-9._%+-]+@example\\.com$",
			   "bob.smith@example.com"), 1);
	assert_int_equal(M("", ""), 1);
	assert_int_equal(M("a*", ""), 1);
	assert_int_equal(M("a", ""), 0);
	/* Only the n bytes given are the subject. */
	assert_int_equal(match("^abc$", "abcdef", 3), 1);
	assert_int_equal(match("def", "abcdef", 3), 0);
	/* Binary-safe subject. */
	assert_int_equal(match("a\\x00b", "a\0b", 3), 1);
	assert_int_equal(match("^x$", NULL, 0), 0);
	assert_int_equal(match("^$", NULL, 0), 1);
}

static void test_match_utf(void **state)
{
	(void)state;
	/* UTF mode: '.' is one code point, not one byte. */
	assert_int_equal(M("^h.llo$", "h\xc3\xa9llo"), 1);
	assert_int_equal(M("^.$", "\xf0\x9f\x98\x80"), 1);
	assert_int_equal(M("^....$", "\xf0\x9f\x98\x80"), 0);
	assert_int_equal(M("caf\xc3\xa9", "un caf\xc3\xa9 noir"), 1);
	/* Invalid UTF-8 in the subject is tolerated, not an error. */
	assert_int_equal(M("abc", "\xff\xfe" "abc\xc3"), 1);
	assert_int_equal(M("^abc$", "\xff" "abc"), 0);
	assert_int_equal(M("xyz", "\xc0\xaf\xed\xa0\x80"), 0);
}

static void test_compile_errors(void **state)
{
	char err[128];
	size_t off;

	(void)state;
	memset(err, 0, sizeof(err));
	off = 99;
	assert_null(fn_regex_compile(S("abc("), err, sizeof(err), &off));
	assert_int_equal(off, 4);
	assert_string_equal(err, "missing closing parenthesis");

	off = 99;
	assert_null(fn_regex_compile(S("ab[c"), err, sizeof(err), &off));
	assert_int_equal(off, 4);
	assert_string_equal(err, "missing terminating ] for character class");

	off = 99;
	assert_null(fn_regex_compile(S("a**+"), err, sizeof(err), &off));
	assert_int_equal(off, 2);
	assert_true(strlen(err) > 0);

	off = 99;
	assert_null(fn_regex_compile(S("x{2,1}"), err, sizeof(err), &off));
	assert_int_equal(off, 5);
	assert_string_equal(err,
			    "numbers out of order in {} quantifier");

	/* Invalid UTF-8 in the pattern itself is a compile error. */
	off = 99;
	assert_null(fn_regex_compile(S("ab\xff"), err, sizeof(err), &off));
	assert_int_equal(off, 2);

	/* A tiny buffer gets a truncated, terminated message; NULL buffer
	 * and offset are allowed. */
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_null(fn_regex_compile(S("("), small, sizeof(small), &off));
	assert_int_equal(strlen(small), 7);
	assert_null(fn_regex_compile(S("("), NULL, 0, NULL));
}

static void test_pattern_copy(void **state)
{
	char buf[] = "^a.c$ trailing";
	fn_regex *re = fn_regex_compile(buf, 5, NULL, 0, NULL);

	(void)state;
	assert_non_null(re);
	memset(buf, 'z', sizeof(buf) - 1);	/* the copy is independent */
	assert_string_equal(fn_regex_pattern(re), "^a.c$");
	fn_regex_free(re);
	fn_regex_free(NULL);
	fn_regex_scratch_free(NULL);
	assert_null(fn_regex_pattern(NULL));
}

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* (a+)+$ against "aaaa...b" is exponential without a limit; the match
 * limit must turn it into a quick error. */
static void test_catastrophic_backtracking(void **state)
{
	char subj[4097];
	struct timespec t0, t1;
	fn_regex_scratch *sc = fn_regex_scratch_new();
	fn_regex *re = compile_ok("(a+)+$");
	int rc;

	(void)state;
	assert_non_null(sc);
	for (size_t len = 30; len < sizeof(subj); len *= 4) {
		memset(subj, 'a', len - 1);
		subj[len - 1] = 'b';
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = fn_regex_match(re, sc, subj, len);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_int_equal(rc, RK_ELIMIT);
		/* Typically well under 50 ms; the bound is generous so a
		 * loaded CI machine or valgrind does not make it flaky. */
		assert_true(elapsed_s(&t0, &t1) < 1.0);
	}
	/* The scratch is still usable after a limit error. */
	assert_int_equal(fn_regex_match(re, sc, S("aaaa")), 1);

	/* Same through a nested-quantifier variant. */
	fn_regex *re2 = compile_ok("^(\\w+\\s?)*$");
	memset(subj, 'x', 200);
	subj[200] = '!';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = fn_regex_match(re2, sc, subj, 201);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, RK_ELIMIT);
	assert_true(elapsed_s(&t0, &t1) < 1.0);
	fn_regex_free(re2);

	fn_regex_free(re);
	fn_regex_scratch_free(sc);
}

/* A group repeated over a long subject needs one backtracking frame per
 * iteration: the depth limit (interpreter) or the JIT stack stops it with
 * an error instead of growing memory without bound. Short subjects are
 * unaffected. */
static void test_deep_pattern_bounded(void **state)
{
	static char subj[100001];
	fn_regex_scratch *sc = fn_regex_scratch_new();
	fn_regex *re = compile_ok("^(a|b)*c$");

	(void)state;
	memset(subj, 'a', sizeof(subj) - 2);
	subj[sizeof(subj) - 2] = 'c';
	assert_int_equal(fn_regex_match(re, sc, subj, sizeof(subj) - 1),
			 RK_ELIMIT);
	memset(subj + 199, 'c', 1);
	assert_int_equal(fn_regex_match(re, sc, subj, 200), 1);
	/* Without the final 'c' PCRE2 knows there is no match at once. */
	assert_int_equal(fn_regex_match(re, sc, subj, 199), 0);
	fn_regex_free(re);
	fn_regex_scratch_free(sc);
}

static void test_bad_args(void **state)
{
	fn_regex_scratch *sc = fn_regex_scratch_new();
	fn_regex *re = compile_ok("a");

	(void)state;
	assert_int_equal(fn_regex_match(NULL, sc, S("a")), RK_EINVAL);
	assert_int_equal(fn_regex_match(re, NULL, S("a")), RK_EINVAL);
	fn_regex_free(re);
	fn_regex_scratch_free(sc);
}

/* Fails each allocation of fn_regex_compile in turn: the result is NULL
 * with a message, or a regex that works (JIT failure falls back to the
 * interpreter); ASan and valgrind check that nothing leaks. */
static void test_compile_alloc_failures(void **state)
{
	const char *pat = "^(foo|bar)+[0-9]{2,4}\\w*$";
	fn_regex_scratch *sc = fn_regex_scratch_new();
	char err[128];
	size_t off;
	long total, i;

	(void)state;
	assert_non_null(sc);
	rk_alloc_fail_after(-1);
	fn_regex *re = fn_regex_compile(pat, strlen(pat), err, sizeof(err),
					&off);
	total = rk_alloc_fail_after(-1);
	assert_non_null(re);
	fn_regex_free(re);
	assert_true(total >= 3);

	for (i = 0; i <= total; i++) {
		err[0] = '\0';
		rk_alloc_fail_after(i);
		re = fn_regex_compile(pat, strlen(pat), err, sizeof(err),
				      &off);
		rk_alloc_fail_after(-1);
		if (!re) {
			assert_true(i < total);
			assert_true(strlen(err) > 0);
			continue;
		}
		assert_int_equal(fn_regex_match(re, sc, S("foobar123x")), 1);
		assert_int_equal(fn_regex_match(re, sc, S("foobaz123")), 0);
		fn_regex_free(re);
	}
	fn_regex_scratch_free(sc);
}

/* The same walk on a catastrophic pattern: where JIT compilation failed
 * for want of memory the interpreter runs, and its match and depth limits
 * must stop the backtracking just as quickly. */
static void test_limits_without_jit(void **state)
{
	char subj[2000];
	struct timespec t0, t1;
	fn_regex_scratch *sc = fn_regex_scratch_new();
	long total, i;
	fn_regex *re;

	(void)state;
	memset(subj, 'a', sizeof(subj) - 1);
	subj[sizeof(subj) - 1] = 'b';
	rk_alloc_fail_after(-1);
	re = compile_ok("(a+)+$");
	total = rk_alloc_fail_after(-1);
	fn_regex_free(re);
	for (i = 0; i <= total; i++) {
		rk_alloc_fail_after(i);
		re = fn_regex_compile(S("(a+)+$"), NULL, 0, NULL);
		rk_alloc_fail_after(-1);
		if (!re)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(fn_regex_match(re, sc, subj, sizeof(subj)),
				 RK_ELIMIT);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true(elapsed_s(&t0, &t1) < 1.0);
		assert_int_equal(fn_regex_match(re, sc, S("xaab")), 0);
		assert_int_equal(fn_regex_match(re, sc, S("xaa")), 1);
		fn_regex_free(re);
	}
	fn_regex_scratch_free(sc);
}

static void test_scratch_alloc_failures(void **state)
{
	long total, i;
	fn_regex_scratch *sc;

	(void)state;
	rk_alloc_fail_after(-1);
	sc = fn_regex_scratch_new();
	total = rk_alloc_fail_after(-1);
	assert_non_null(sc);
	fn_regex_scratch_free(sc);

	for (i = 0; i < total; i++) {
		rk_alloc_fail_after(i);
		sc = fn_regex_scratch_new();
		rk_alloc_fail_after(-1);
		assert_null(sc);
	}
	rk_alloc_fail_after(total);
	sc = fn_regex_scratch_new();
	rk_alloc_fail_after(-1);
	assert_non_null(sc);
	fn_regex_scratch_free(sc);
}

/* Matching itself may allocate (interpreter backtracking frames beyond
 * the on-stack vector); failing that is an error, never a crash. */
static void test_match_alloc_failure(void **state)
{
	static char subj[20001];
	fn_regex_scratch *sc = fn_regex_scratch_new();
	fn_regex *re = compile_ok("^(?:(a)|b)*c$");
	int rc;

	(void)state;
	memset(subj, 'a', sizeof(subj) - 2);
	subj[sizeof(subj) - 2] = 'c';
	rk_alloc_fail_after(0);
	rc = fn_regex_match(re, sc, subj, sizeof(subj) - 1);
	rk_alloc_fail_after(-1);
	assert_true(rc == 1 || rc == RK_ENOMEM || rc == RK_ELIMIT);
	fn_regex_free(re);
	fn_regex_scratch_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_basic),
		cmocka_unit_test(test_match_utf),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_pattern_copy),
		cmocka_unit_test(test_catastrophic_backtracking),
		cmocka_unit_test(test_deep_pattern_bounded),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_compile_alloc_failures),
		cmocka_unit_test(test_limits_without_jit),
		cmocka_unit_test(test_scratch_alloc_failures),
		cmocka_unit_test(test_match_alloc_failure),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
