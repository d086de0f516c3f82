/*
 * test_fn_str.c - unit tests of rules/fn_str.c: UTF-8 length (valid,
 * emoji, invalid and truncated bytes), ASCII case mapping and the no-copy
 * rule, starts/ends/contains edges, email_domain. Neighbours:
 * test_fn_regex.c, test_fn_cidr.c, test_fn_time.c, test_fn_geo.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/rk.h"
#include "rules/fn.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_utf8_len_valid(void **state)
{
	(void)state;
	assert_int_equal(fn_utf8_len(S("")), 0);
	assert_int_equal(fn_utf8_len(NULL, 0), 0);
	assert_int_equal(fn_utf8_len(S("hello")), 5);
	assert_int_equal(fn_utf8_len(S("h\xc3\xa9llo")), 5);       /* héllo */
	assert_int_equal(fn_utf8_len(S("\xe2\x82\xac")), 1);        /* € */
	assert_int_equal(fn_utf8_len(S("\xf0\x9f\x98\x80")), 1);    /* 😀 */
	assert_int_equal(fn_utf8_len(S("a\xf0\x9f\x98\x80z")), 3);
	/* 👍🏽: two code points (thumbs up + skin tone modifier). */
	assert_int_equal(fn_utf8_len(S("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd")), 2);
	assert_int_equal(fn_utf8_len(S("\xe6\x97\xa5\xe6\x9c\xac")), 2);
	/* Boundaries: U+007F, U+0080, U+07FF, U+0800, U+FFFF, U+10000,
	 * U+10FFFF. */
	assert_int_equal(fn_utf8_len(S("\x7f")), 1);
	assert_int_equal(fn_utf8_len(S("\xc2\x80")), 1);
	assert_int_equal(fn_utf8_len(S("\xdf\xbf")), 1);
	assert_int_equal(fn_utf8_len(S("\xe0\xa0\x80")), 1);
	assert_int_equal(fn_utf8_len(S("\xef\xbf\xbf")), 1);
	assert_int_equal(fn_utf8_len(S("\xf0\x90\x80\x80")), 1);
	assert_int_equal(fn_utf8_len(S("\xf4\x8f\xbf\xbf")), 1);
	/* An embedded NUL is a character like any other. */
	assert_int_equal(fn_utf8_len("a\0b", 3), 3);
	/* Length bounds the scan, not NUL. */
	assert_int_equal(fn_utf8_len("\xc3\xa9xyz", 2), 1);
}

static void test_utf8_len_invalid(void **state)
{
	(void)state;
	assert_int_equal(fn_utf8_len(S("\xff")), 1);
	assert_int_equal(fn_utf8_len(S("\x80")), 1);            /* stray cont. */
	assert_int_equal(fn_utf8_len(S("a\x80\x80z")), 4);
	assert_int_equal(fn_utf8_len(S("\xc3")), 1);            /* truncated */
	assert_int_equal(fn_utf8_len(S("\xc3z")), 2);
	assert_int_equal(fn_utf8_len(S("\xe2\x82")), 2);        /* truncated € */
	assert_int_equal(fn_utf8_len(S("\xf0\x9f\x98")), 3);    /* truncated 😀 */
	assert_int_equal(fn_utf8_len(S("\xc0\xaf")), 2);        /* overlong / */
	assert_int_equal(fn_utf8_len(S("\xc1\xbf")), 2);
	assert_int_equal(fn_utf8_len(S("\xe0\x80\xaf")), 3);    /* overlong */
	assert_int_equal(fn_utf8_len(S("\xf0\x80\x80\xaf")), 4);
	assert_int_equal(fn_utf8_len(S("\xed\xa0\x80")), 3);    /* surrogate */
	assert_int_equal(fn_utf8_len(S("\xf4\x90\x80\x80")), 4); /* >10FFFF */
	assert_int_equal(fn_utf8_len(S("\xf5\x80\x80\x80")), 4);
	/* Invalid bytes then a valid sequence resynchronise. */
	assert_int_equal(fn_utf8_len(S("\xff\xc3\xa9")), 2);
	assert_int_equal(fn_utf8_len(S("\xe2\x82\xe2\x82\xac")), 3);
}

static void test_lower_upper(void **state)
{
	arena a;
	const char *r;

	(void)state;
	arena_init(&a, 0);

	const char *mixed = "HeLLo World 42";
	r = fn_lower(&a, mixed, strlen(mixed));
	assert_non_null(r);
	assert_ptr_not_equal(r, mixed);
	assert_string_equal(r, "hello world 42");
	r = fn_upper(&a, mixed, strlen(mixed));
	assert_string_equal(r, "HELLO WORLD 42");

	/* No change needed: the very same pointer, no allocation. */
	const char *low = "already lower 1@#";
	size_t used = a.used;
	assert_ptr_equal(fn_lower(&a, low, strlen(low)), low);
	const char *up = "ALREADY UPPER";
	assert_ptr_equal(fn_upper(&a, up, strlen(up)), up);
	assert_int_equal(a.used, used);

	/* Only the given length is read and mapped; the copy is
	 * NUL-terminated at n. */
	r = fn_lower(&a, "ABCDEF", 3);
	assert_string_equal(r, "abc");
	/* Change late in the string: prefix copied. */
	r = fn_lower(&a, S("abcdefgH"));
	assert_string_equal(r, "abcdefgh");

	/* Non-ASCII bytes unchanged: É stays, only ASCII maps. */
	r = fn_lower(&a, S("\xc3\x89" "COLE"));
	assert_string_equal(r, "\xc3\x89" "cole");
	r = fn_upper(&a, S("\xc3\xa9t\xc3\xa9"));
	assert_string_equal(r, "\xc3\xa9T\xc3\xa9");
	/* Characters next to the letter ranges are not letters. */
	r = fn_upper(&a, S("@[`{az"));
	assert_string_equal(r, "@[`{AZ");
	r = fn_lower(&a, S("@[`{AZ"));
	assert_string_equal(r, "@[`{az");

	/* Empty input is returned as is (never NULL). */
	assert_ptr_equal(fn_lower(&a, "", 0), "");
	assert_non_null(fn_upper(&a, NULL, 0));
	arena_cleanup(&a);
}

static void test_lower_nomem(void **state)
{
	arena a;

	(void)state;
	arena_init(&a, 0);
	rk_alloc_fail_after(0);
	assert_null(fn_lower(&a, S("ABC")));
	/* No allocation needed: still works. */
	const char *s = "abc";
	assert_ptr_equal(fn_lower(&a, s, 3), s);
	rk_alloc_fail_after(-1);
	arena_cleanup(&a);
}

static void test_starts_ends(void **state)
{
	(void)state;
	assert_true(fn_starts_with(S("hello"), S("he")));
	assert_true(fn_starts_with(S("hello"), S("hello")));
	assert_true(fn_starts_with(S("hello"), S("")));
	assert_true(fn_starts_with(S(""), S("")));
	assert_false(fn_starts_with(S("hello"), S("hello!")));
	assert_false(fn_starts_with(S("hello"), S("He")));
	assert_false(fn_starts_with(S(""), S("a")));
	assert_true(fn_ends_with(S("hello"), S("llo")));
	assert_true(fn_ends_with(S("hello"), S("hello")));
	assert_true(fn_ends_with(S("hello"), S("")));
	assert_false(fn_ends_with(S("hello"), S("xhello")));
	assert_false(fn_ends_with(S("hello"), S("ll")));
	assert_false(fn_ends_with(S(""), S("o")));
	/* Binary-safe. */
	assert_true(fn_starts_with("a\0b", 3, "a\0", 2));
	assert_false(fn_starts_with("a\0b", 3, "a\0c", 3));
	assert_true(fn_ends_with("a\0b", 3, "\0b", 2));
}

static void test_contains(void **state)
{
	(void)state;
	assert_true(fn_contains(S("hello world"), S("o w")));
	assert_true(fn_contains(S("hello world"), S("hello world")));
	assert_true(fn_contains(S("hello"), S("")));
	assert_true(fn_contains(S(""), S("")));
	assert_true(fn_contains(NULL, 0, NULL, 0));
	assert_false(fn_contains(S(""), S("a")));
	assert_false(fn_contains(S("hello"), S("hello!")));
	assert_false(fn_contains(S("hello"), S("O")));
	assert_true(fn_contains(S("aaab"), S("aab")));
	assert_true(fn_contains("x\0yz", 4, "\0y", 2));
	/* The needle past the given length does not count. */
	assert_false(fn_contains("abcdef", 3, "de", 2));
}

static void email(arena *a, const char *s, const char *want)
{
	const char *out = (const char *)1;
	size_t outn = 99;
	bool ok = fn_email_domain(a, s, strlen(s), &out, &outn);

	if (!want) {
		assert_false(ok);
		assert_null(out);
		assert_int_equal(outn, 0);
		return;
	}
	assert_true(ok);
	assert_int_equal(outn, strlen(want));
	assert_memory_equal(out, want, outn);
}

static void test_email_domain(void **state)
{
	arena a;
	const char *out;
	size_t outn;

	(void)state;
	arena_init(&a, 0);
	email(&a, "alice@example.com", "example.com");
	email(&a, "Alice@Example.COM", "example.com");
	email(&a, "\"a@b\"@Mail.Example.org", "mail.example.org");
	email(&a, "a@b@c", "c");
	email(&a, "@x.io", "x.io");
	email(&a, "a@@", NULL);
	email(&a, "no-at-sign", NULL);
	email(&a, "", NULL);
	email(&a, "trailing@", NULL);
	email(&a, "@", NULL);
	email(&a, "u@D\xc3\x89.fr", "d\xc3\x89.fr");

	/* Already lower case: points into the input. */
	const char *s = "bob@ex.net";
	assert_true(fn_email_domain(&a, s, strlen(s), &out, &outn));
	assert_ptr_equal(out, s + 4);
	assert_int_equal(outn, 6);
	/* Only n bytes count. */
	assert_true(fn_email_domain(&a, "a@b.cZZZ", 5, &out, &outn));
	assert_int_equal(outn, 3);
	assert_memory_equal(out, "b.c", 3);
	assert_false(fn_email_domain(&a, "abc@d", 3, &out, &outn));
	assert_false(fn_email_domain(&a, NULL, 0, &out, &outn));
	arena_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_len_valid),
		cmocka_unit_test(test_utf8_len_invalid),
		cmocka_unit_test(test_lower_upper),
		cmocka_unit_test(test_lower_nomem),
		cmocka_unit_test(test_starts_ends),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_email_domain),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
