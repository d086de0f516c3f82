/*
 * test_fn_cidr.c - unit tests of rules/fn_cidr.c: IPv4 and IPv6 prefix
 * parsing and rejection of malformed text, host bits masked, /0 and host
 * prefixes, IPv4-mapped IPv6, duplicates, a set of thousands of prefixes
 * checked against a brute-force scan, and failing each allocation of
 * fn_cidr_set_add. Neighbours: test_fn_str.c, test_fn_regex.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/rk.h"
#include "rules/fn.h"

static int add(fn_cidr_set *cs, const char *s)
{
	return fn_cidr_set_add(cs, s, strlen(s));
}

static int has(const fn_cidr_set *cs, const char *ip)
{
	return fn_cidr_set_match(cs, ip, strlen(ip));
}

static void test_parse_valid(void **state)
{
	static const char *const ok[] = {
		"10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32",
		"192.168.1.1", "10.1.2.3/8", "1.2.3.4/0", "172.16.0.0/12",
		"2001:db8::/32", "::/0", "::1", "::1/128", "fe80::/10",
		"2001:db8::1/64", "::ffff:10.0.0.0/104", "::ffff:1.2.3.4",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		"2001:db8:0:0:0:0:0:0/48",
	};
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	assert_non_null(cs);
	for (size_t i = 0; i < RK_ARRAY_LEN(ok); i++)
		if (add(cs, ok[i]) != 0)
			fail_msg("rejected valid prefix '%s'", ok[i]);
	fn_cidr_set_free(cs);
}

static void test_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"", "10.0.0.0/33", "1.2.3", "10.0.0.0/8x", "10.0.0.0/",
		"/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08",
		"10.0.0.0/ 8", " 10.0.0.0/8", "10.0.0.0/8 ", "256.0.0.0/8",
		"1.2.3.4.5", "01.2.3.4", "10.0.0.0//8", "10.0.0.0/8/8",
		"abc", "2001:db8::/129", "2001:db8::/1000", ":::/0",
		"2001:db8::g/32", "fe80::1%eth0", "1.2.3.4/32/",
		"::ffff:1.2.3.4/129", "10.0.0.0/4294967304",
		"0x0a.0.0.0/8", "1.2.3.4:80",
		"1111:2222:3333:4444:5555:6666:7777:8888:9999/128",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	for (size_t i = 0; i < RK_ARRAY_LEN(bad); i++)
		if (add(cs, bad[i]) != RK_EINVAL)
			fail_msg("accepted invalid prefix '%s'", bad[i]);
	/* Length bounds the text: an embedded NUL or trailing bytes past n
	 * are not read. */
	assert_int_equal(fn_cidr_set_add(cs, "10.0.0.0/8\0", 11), RK_EINVAL);
	assert_int_equal(fn_cidr_set_add(cs, "10.0.0.0/8", 9), RK_EINVAL);
	assert_int_equal(fn_cidr_set_add(cs, NULL, 0), RK_EINVAL);
	assert_int_equal(fn_cidr_set_add(NULL, "1.2.3.4", 7), RK_EINVAL);
	assert_int_equal(fn_cidr_set_count(cs), 0);
	/* "10.0.0.0/16" cut to 10 bytes is "10.0.0.0/1": 0.0.0.0/1. */
	assert_int_equal(fn_cidr_set_add(cs, "10.0.0.0/16", 10), 0);
	assert_int_equal(fn_cidr_set_count(cs), 1);
	assert_int_equal(has(cs, "127.255.255.255"), 1);
	assert_int_equal(has(cs, "128.0.0.0"), 0);
	fn_cidr_set_free(cs);
}

static void test_match_v4(void **state)
{
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	assert_int_equal(has(cs, "10.0.0.1"), 0);	/* empty set */
	assert_int_equal(add(cs, "10.0.0.0/8"), 0);
	assert_int_equal(add(cs, "192.168.1.0/24"), 0);
	assert_int_equal(add(cs, "203.0.113.7"), 0);
	assert_int_equal(add(cs, "100.64.0.0/10"), 0);
	assert_int_equal(fn_cidr_set_count(cs), 4);

	assert_int_equal(has(cs, "10.0.0.0"), 1);
	assert_int_equal(has(cs, "10.255.255.255"), 1);
	assert_int_equal(has(cs, "11.0.0.0"), 0);
	assert_int_equal(has(cs, "9.255.255.255"), 0);
	assert_int_equal(has(cs, "192.168.1.255"), 1);
	assert_int_equal(has(cs, "192.168.2.0"), 0);
	assert_int_equal(has(cs, "203.0.113.7"), 1);
	assert_int_equal(has(cs, "203.0.113.6"), 0);
	assert_int_equal(has(cs, "203.0.113.8"), 0);
	assert_int_equal(has(cs, "100.64.0.0"), 1);
	assert_int_equal(has(cs, "100.127.255.255"), 1);
	assert_int_equal(has(cs, "100.128.0.0"), 0);
	assert_int_equal(has(cs, "100.63.255.255"), 0);
	/* IPv6 addresses do not match IPv4 prefixes, except mapped ones. */
	assert_int_equal(has(cs, "::a00:1"), 0);	/* ::10.0.0.1 */
	assert_int_equal(has(cs, "::ffff:10.1.2.3"), 1);
	assert_int_equal(has(cs, "::FFFF:0a01:0203"), 1);
	assert_int_equal(has(cs, "::ffff:11.1.2.3"), 0);
	assert_int_equal(has(cs, "::ffff:203.0.113.7"), 1);
	/* Malformed addresses are errors, not "no". */
	assert_int_equal(has(cs, ""), RK_EINVAL);
	assert_int_equal(has(cs, "10.0.0"), RK_EINVAL);
	assert_int_equal(has(cs, "10.0.0.1/32"), RK_EINVAL);
	assert_int_equal(has(cs, "10.0.0.256"), RK_EINVAL);
	assert_int_equal(has(cs, " 10.0.0.1"), RK_EINVAL);
	assert_int_equal(has(cs, "hello"), RK_EINVAL);
	assert_int_equal(fn_cidr_set_match(cs, NULL, 0), RK_EINVAL);
	assert_int_equal(fn_cidr_set_match(cs, "10.0.0.1\0", 9), RK_EINVAL);
	/* Only n bytes are read. */
	assert_int_equal(fn_cidr_set_match(cs, "10.0.0.1999", 8), 1);
	fn_cidr_set_free(cs);
}

static void test_host_bits_masked(void **state)
{
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	assert_int_equal(add(cs, "10.1.2.3/8"), 0);
	assert_int_equal(has(cs, "10.200.0.1"), 1);
	assert_int_equal(has(cs, "11.1.2.3"), 0);
	/* Same network after masking: a duplicate, not a second entry. */
	assert_int_equal(add(cs, "10.0.0.0/8"), 0);
	assert_int_equal(add(cs, "10.9.9.9/8"), 0);
	assert_int_equal(fn_cidr_set_count(cs), 1);
	/* Different length, same network: a distinct prefix. */
	assert_int_equal(add(cs, "10.0.0.0/16"), 0);
	assert_int_equal(fn_cidr_set_count(cs), 2);

	assert_int_equal(add(cs, "2001:db8:1234:5678::9/32"), 0);
	assert_int_equal(has(cs, "2001:db8:ffff::1"), 1);
	assert_int_equal(has(cs, "2001:db9::1"), 0);
	/* Prefix lengths not multiple of 8 or 64. */
	assert_int_equal(add(cs, "172.31.255.255/12"), 0);
	assert_int_equal(has(cs, "172.16.0.0"), 1);
	assert_int_equal(has(cs, "172.31.255.255"), 1);
	assert_int_equal(has(cs, "172.32.0.0"), 0);
	assert_int_equal(has(cs, "172.15.255.255"), 0);
	fn_cidr_set_free(cs);
}

static void test_match_zero_and_host(void **state)
{
	fn_cidr_set *v4all = fn_cidr_set_new();
	fn_cidr_set *v6all = fn_cidr_set_new();

	(void)state;
	assert_int_equal(add(v4all, "0.0.0.0/0"), 0);
	assert_int_equal(has(v4all, "0.0.0.0"), 1);
	assert_int_equal(has(v4all, "255.255.255.255"), 1);
	assert_int_equal(has(v4all, "::ffff:1.2.3.4"), 1);
	assert_int_equal(has(v4all, "2001:db8::1"), 0);
	assert_int_equal(has(v4all, "::"), 0);

	assert_int_equal(add(v6all, "::/0"), 0);
	assert_int_equal(has(v6all, "2001:db8::1"), 1);
	assert_int_equal(has(v6all, "::"), 1);
	assert_int_equal(has(v6all, "::ffff:1.2.3.4"), 1);
	/* ::/0 is all of IPv6, not IPv4. */
	assert_int_equal(has(v6all, "1.2.3.4"), 0);
	fn_cidr_set_free(v4all);
	fn_cidr_set_free(v6all);
}

static void test_match_v6(void **state)
{
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	assert_int_equal(add(cs, "2001:db8::/32"), 0);
	assert_int_equal(add(cs, "fe80::/10"), 0);
	assert_int_equal(add(cs, "::1"), 0);
	assert_int_equal(add(cs, "2a00:1450:4000::/37"), 0);
	assert_int_equal(add(cs, "2600::/64"), 0);
	assert_int_equal(add(cs, "2620:0:0:0:8000::/65"), 0);
	assert_int_equal(add(cs, "2a01::1:0/127"), 0);

	assert_int_equal(has(cs, "2001:db8::"), 1);
	assert_int_equal(has(cs, "2001:DB8:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"), 1);
	assert_int_equal(has(cs, "2001:db9::"), 0);
	assert_int_equal(has(cs, "2001:db7:ffff::"), 0);
	assert_int_equal(has(cs, "fe80::1"), 1);
	assert_int_equal(has(cs, "febf:ffff::1"), 1);
	assert_int_equal(has(cs, "fec0::1"), 0);
	assert_int_equal(has(cs, "::1"), 1);
	assert_int_equal(has(cs, "::2"), 0);
	assert_int_equal(has(cs, "::"), 0);
	assert_int_equal(has(cs, "0:0:0:0:0:0:0:1"), 1);
	assert_int_equal(has(cs, "2a00:1450:4007:ffff::1"), 1);
	assert_int_equal(has(cs, "2a00:1450:47ff::"), 1);
	assert_int_equal(has(cs, "2a00:1450:4800::"), 0);
	/* /64: the boundary between the two 64-bit halves. */
	assert_int_equal(has(cs, "2600::ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(has(cs, "2600:0:0:1::"), 0);
	/* /65: the first bit of the low half counts. */
	assert_int_equal(has(cs, "2620::8000:0:0:1"), 1);
	assert_int_equal(has(cs, "2620::ffff:ffff:ffff:ffff"), 1);
	assert_int_equal(has(cs, "2620::7fff:ffff:ffff:ffff"), 0);
	/* /127 */
	assert_int_equal(has(cs, "2a01::1:0"), 1);
	assert_int_equal(has(cs, "2a01::1:1"), 1);
	assert_int_equal(has(cs, "2a01::1:2"), 0);
	/* IPv4 addresses never match IPv6 prefixes. */
	assert_int_equal(has(cs, "0.0.0.1"), 0);
	assert_int_equal(has(cs, "fe80::1%eth0"), RK_EINVAL);
	assert_int_equal(has(cs, "2001:db8::1::2"), RK_EINVAL);
	fn_cidr_set_free(cs);
}

/* Prefixes written in IPv4-mapped IPv6 form are IPv4 prefixes. */
static void test_mapped_prefixes(void **state)
{
	fn_cidr_set *cs = fn_cidr_set_new();

	(void)state;
	assert_int_equal(add(cs, "::ffff:192.0.2.0/120"), 0);
	assert_int_equal(has(cs, "192.0.2.55"), 1);
	assert_int_equal(has(cs, "::ffff:192.0.2.55"), 1);
	assert_int_equal(has(cs, "192.0.3.1"), 0);
	/* Same prefix in both spellings: one entry. */
	assert_int_equal(add(cs, "192.0.2.0/24"), 0);
	assert_int_equal(fn_cidr_set_count(cs), 1);
	/* Shorter than /96: stays an IPv6 prefix. */
	assert_int_equal(add(cs, "::ffff:0:0/95"), 0);
	assert_int_equal(has(cs, "::fffe:1:1"), 1);
	assert_int_equal(has(cs, "::ffff:8.8.8.8"), 1);
	assert_int_equal(has(cs, "8.8.8.8"), 0);
	fn_cidr_set_free(cs);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Thousands of random prefixes: every answer agrees with a linear scan
 * and the probes stay cheap. */
static void test_many_prefixes(void **state)
{
	enum { NPFX = 5000, NPROBE = 20000 };
	static uint32_t net[NPFX];
	static unsigned len[NPFX];
	fn_cidr_set *cs = fn_cidr_set_new();
	char buf[64];
	int hits = 0;

	(void)state;
	for (int i = 0; i < NPFX; i++) {
		len[i] = 8 + rnd() % 25;	/* 8..32 */
		net[i] = rnd() & (~0U << (32 - len[i]));
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u/%u", net[i] >> 24,
			 net[i] >> 16 & 255, net[i] >> 8 & 255, net[i] & 255,
			 len[i]);
		assert_int_equal(add(cs, buf), 0);
	}
	/* Short random prefixes repeat; the set counts distinct ones. */
	size_t distinct = 0;
	for (int i = 0; i < NPFX; i++) {
		int j = 0;
		while (j < i && (net[j] != net[i] || len[j] != len[i]))
			j++;
		distinct += j == i;
	}
	assert_int_equal(fn_cidr_set_count(cs), distinct);
	assert_true(distinct < NPFX);

	for (int k = 0; k < NPROBE; k++) {
		/* Half the probes inside a known prefix. */
		uint32_t a = rnd();
		if (k % 2) {
			int i = (int)(rnd() % NPFX);
			uint32_t host = len[i] == 32 ? 0 :
					a & (~0U >> len[i]);
			a = net[i] | host;
		}
		int want = 0;
		for (int i = 0; i < NPFX && !want; i++)
			if (len[i] && (a & (~0U << (32 - len[i]))) == net[i])
				want = 1;
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a >> 24,
			 a >> 16 & 255, a >> 8 & 255, a & 255);
		int got = has(cs, buf);
		if (got != want)
			fail_msg("%s: got %d want %d", buf, got, want);
		hits += got;
	}
	assert_true(hits >= NPROBE / 2);
	fn_cidr_set_free(cs);
}

static void test_many_v6(void **state)
{
	fn_cidr_set *cs = fn_cidr_set_new();
	char buf[64];

	(void)state;
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x:%x::/%u", i, i * 7,
			 64 + i % 3 * 16);
		assert_int_equal(add(cs, buf), 0);
	}
	assert_int_equal(fn_cidr_set_count(cs), 3000);
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(buf, sizeof(buf), "2001:db8:%x:%x::abcd", i, i * 7);
		assert_int_equal(has(cs, buf), 1);
		snprintf(buf, sizeof(buf), "2001:db9:%x:%x::abcd", i, i * 7);
		assert_int_equal(has(cs, buf), 0);
	}
	fn_cidr_set_free(cs);
}

static void test_null_and_empty(void **state)
{
	(void)state;
	fn_cidr_set_free(NULL);
	assert_int_equal(fn_cidr_set_count(NULL), 0);
	assert_int_equal(fn_cidr_set_match(NULL, "1.2.3.4", 7), 0);
	assert_int_equal(fn_cidr_set_match(NULL, "1.2.3", 5), RK_EINVAL);
}

/* Fails each allocation of a series of adds in turn: every failure is
 * RK_ENOMEM, leaves the set consistent (what was added still matches),
 * and leaks nothing. */
static void test_add_alloc_failures(void **state)
{
	char buf[64];
	long total, fail;

	(void)state;
	for (fail = 0;; fail++) {
		fn_cidr_set *cs;
		int added = 0, rc = 0;

		rk_alloc_fail_after(fail);
		cs = fn_cidr_set_new();
		if (!cs) {
			rk_alloc_fail_after(-1);
			continue;
		}
		for (int i = 0; i < 100; i++) {
			snprintf(buf, sizeof(buf), "10.%d.0.0/16", i);
			rc = fn_cidr_set_add(cs, buf, strlen(buf));
			if (rc)
				break;
			added++;
		}
		total = rk_alloc_fail_after(-1);
		if (rc)
			assert_int_equal(rc, RK_ENOMEM);
		assert_int_equal(fn_cidr_set_count(cs), added);
		for (int i = 0; i < 100; i++) {
			snprintf(buf, sizeof(buf), "10.%d.1.2", i);
			assert_int_equal(has(cs, buf), i < added);
		}
		/* After the failure, adding works again. */
		assert_int_equal(add(cs, "10.200.0.0/16"), 0);
		assert_int_equal(has(cs, "10.200.3.4"), 1);
		fn_cidr_set_free(cs);
		if (!rc)
			break;
	}
	/* 1 for the set, then the table grows 16, 32, 64, 128, 256. */
	assert_int_equal(fail, 6);
	assert_int_equal(total, 6);
}

/* A parsed address matches exactly as its text does. */
static void test_parsed_ip(void **state)
{
	(void)state;
	fn_cidr_set *cs = fn_cidr_set_new();
	assert_int_equal(fn_cidr_set_add(cs, "10.0.0.0/8", 10), 0);
	assert_int_equal(fn_cidr_set_add(cs, "2001:db8::/32", 13), 0);
	fn_ip ip;
	assert_true(fn_ip_parse("10.9.8.7", 8, &ip));
	assert_int_equal(fn_cidr_set_match_ip(cs, &ip), 1);
	assert_true(fn_ip_parse("::ffff:10.1.1.1", 15, &ip));
	assert_int_equal(fn_cidr_set_match_ip(cs, &ip), 1);
	assert_true(fn_ip_parse("2001:db8:1::1", 13, &ip));
	assert_int_equal(fn_cidr_set_match_ip(cs, &ip), 1);
	assert_true(fn_ip_parse("11.0.0.1", 8, &ip));
	assert_int_equal(fn_cidr_set_match_ip(cs, &ip), 0);
	assert_false(fn_ip_parse("10.0.0", 6, &ip));
	assert_false(fn_ip_parse("", 0, &ip));
	fn_cidr_set_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_match_v4),
		cmocka_unit_test(test_host_bits_masked),
		cmocka_unit_test(test_match_zero_and_host),
		cmocka_unit_test(test_match_v6),
		cmocka_unit_test(test_mapped_prefixes),
		cmocka_unit_test(test_many_prefixes),
		cmocka_unit_test(test_many_v6),
		cmocka_unit_test(test_null_and_empty),
		cmocka_unit_test(test_add_alloc_failures),
		cmocka_unit_test(test_parsed_ip),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
