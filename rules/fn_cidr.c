/*
 * fn_cidr.c - in_cidr(ip, "cidr" | @list): a set of IPv4 and IPv6
 * prefixes. Every prefix lives, masked, in one open-addressing hash table
 * keyed by (family, length, network); a bitmap records which lengths are
 * present, so a lookup costs one probe per distinct length in use (at
 * most 33 for IPv4, 129 for IPv6) whatever the number of prefixes.
 * Contracts in fn.h. Neighbours: fn_str.c, fn_regex.c; eval.c calls us.
 */
#include "fn.h"
#include "../common/rk.h"

#include <arpa/inet.h>
#include <string.h>

enum { FAM_V4 = 1, FAM_V6 = 2 };

/* A masked prefix. IPv4 lives in lo's low 32 bits; hi is 0. */
typedef struct pfx {
	uint64_t hi, lo;
	uint8_t fam;	/* 0 = empty slot */
	uint8_t len;
} pfx;

struct fn_cidr_set {
	pfx *tab;
	size_t cap;	/* power of two, or 0 before the first add */
	size_t count;
	uint64_t v4_lens;	/* bit l: some IPv4 prefix has length l */
	uint64_t v6_lens[3];	/* bit l%64 of word l/64: IPv6 length l */
};

/* Longest text we parse: a full IPv6 address with embedded IPv4 and
 * "/128" fits in 50 bytes. */
#define TEXT_MAX 64

fn_cidr_set *fn_cidr_set_new(void)
{
	return rk_calloc(1, sizeof(fn_cidr_set));
}

void fn_cidr_set_free(fn_cidr_set *cs)
{
	if (!cs)
		return;
	rk_free(cs->tab);
	rk_free(cs);
}

size_t fn_cidr_set_count(const fn_cidr_set *cs)
{
	return cs ? cs->count : 0;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t pfx_hash(const pfx *p)
{
	return mix(p->lo ^ mix(p->hi ^ ((uint64_t)p->len << 8 | p->fam)));
}

static bool pfx_eq(const pfx *a, const pfx *b)
{
	return a->fam == b->fam && a->len == b->len && a->lo == b->lo &&
	       a->hi == b->hi;
}

/* The slot holding p, or the empty slot where it would go. */
static pfx *slot_for(pfx *tab, size_t cap, const pfx *p)
{
	size_t mask = cap - 1;

	for (size_t i = pfx_hash(p) & mask;; i = (i + 1) & mask)
		if (!tab[i].fam || pfx_eq(&tab[i], p))
			return &tab[i];
}

static bool has(const fn_cidr_set *cs, const pfx *p)
{
	return cs->cap && slot_for(cs->tab, cs->cap, p)->fam != 0;
}

static int grow(fn_cidr_set *cs)
{
	size_t ncap = cs->cap ? cs->cap * 2 : 16;
	pfx *ntab = rk_calloc(ncap, sizeof(pfx));

	if (!ntab)
		return RK_ENOMEM;
	for (size_t i = 0; i < cs->cap; i++)
		if (cs->tab[i].fam)
			*slot_for(ntab, ncap, &cs->tab[i]) = cs->tab[i];
	rk_free(cs->tab);
	cs->tab = ntab;
	cs->cap = ncap;
	return 0;
}

/* Keeps the top len bits of the 128-bit (hi, lo). */
static void mask128(uint64_t *hi, uint64_t *lo, unsigned len)
{
	if (len == 0) {
		*hi = *lo = 0;
	} else if (len < 64) {
		*hi &= ~0ULL << (64 - len);
		*lo = 0;
	} else if (len == 64) {
		*lo = 0;
	} else if (len < 128) {
		*lo &= ~0ULL << (128 - len);
	}
}

static uint32_t mask32(uint32_t a, unsigned len)
{
	return len ? a & (~0U << (32 - len)) : 0;
}

static uint64_t load_be64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* An address as a host prefix: IPv4-mapped IPv6 becomes IPv4. */
typedef struct addr {
	uint64_t hi, lo;
	uint8_t fam;
	uint8_t maxlen;	/* 32 or 128 */
} addr;

static bool is_v4_mapped(uint64_t hi, uint64_t lo)
{
	return hi == 0 && (lo >> 32) == 0xffff;
}

/* Parses an IPv4 or IPv6 address in buf (NUL-terminated). */
static bool parse_addr(const char *buf, addr *out)
{
	unsigned char b[16];

	if (inet_pton(AF_INET, buf, b) == 1) {
		out->hi = 0;
		out->lo = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 |
			  (uint64_t)b[2] << 8 | b[3];
		out->fam = FAM_V4;
		out->maxlen = 32;
		return true;
	}
	if (inet_pton(AF_INET6, buf, b) == 1) {
		out->hi = load_be64(b);
		out->lo = load_be64(b + 8);
		out->fam = FAM_V6;
		out->maxlen = 128;
		return true;
	}
	return false;
}

/* Copies (s, n) into buf as a C string; false if too long or has NUL. */
static bool to_cstr(char *buf, const char *s, size_t n)
{
	if (!s || n == 0 || n >= TEXT_MAX || memchr(s, '\0', n))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return true;
}

/* "0".."128": decimal digits, no sign, no leading zero, no spaces. */
static bool parse_len(const char *t, unsigned max, unsigned *len)
{
	unsigned v = 0;
	size_t i;

	if (t[0] == '\0' || (t[0] == '0' && t[1] != '\0'))
		return false;
	for (i = 0; t[i]; i++) {
		if (t[i] < '0' || t[i] > '9' || i >= 3)
			return false;
		v = v * 10 + (unsigned)(t[i] - '0');
	}
	if (v > max)
		return false;
	*len = v;
	return true;
}

/* Parses "addr[/len]" into a masked prefix. A prefix inside
 * ::ffff:0:0/96 is stored as the IPv4 prefix it denotes. */
static bool parse_prefix(const char *s, size_t n, pfx *p)
{
	char buf[TEXT_MAX];
	char *slash;
	unsigned len;
	addr a;

	if (!to_cstr(buf, s, n))
		return false;
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (!parse_addr(buf, &a))
		return false;
	if (!slash)
		len = a.maxlen;
	else if (!parse_len(slash + 1, a.maxlen, &len))
		return false;

	memset(p, 0, sizeof(*p));
	if (a.fam == FAM_V6 && len >= 96 && is_v4_mapped(a.hi, a.lo)) {
		a.fam = FAM_V4;
		a.lo &= 0xffffffffULL;
		len -= 96;
	}
	p->fam = a.fam;
	p->len = (uint8_t)len;
	if (a.fam == FAM_V4) {
		p->lo = mask32((uint32_t)a.lo, len);
	} else {
		p->hi = a.hi;
		p->lo = a.lo;
		mask128(&p->hi, &p->lo, len);
	}
	return true;
}

int fn_cidr_set_add(fn_cidr_set *cs, const char *s, size_t n)
{
	pfx p;
	pfx *slot;

	if (!cs || !parse_prefix(s, n, &p))
		return RK_EINVAL;
	if (has(cs, &p))
		return 0;
	/* Keep the load factor at or below 1/2. */
	if ((cs->count + 1) * 2 > cs->cap) {
		int rc = grow(cs);
		if (rc)
			return rc;
	}
	slot = slot_for(cs->tab, cs->cap, &p);
	*slot = p;
	cs->count++;
	if (p.fam == FAM_V4)
		cs->v4_lens |= 1ULL << p.len;
	else
		cs->v6_lens[p.len / 64] |= 1ULL << (p.len % 64);
	return 0;
}

static bool match_v4(const fn_cidr_set *cs, uint32_t a)
{
	pfx p = { .fam = FAM_V4 };

	/* Visit only the prefix lengths in use. */
	for (uint64_t m = cs->v4_lens; m; m &= m - 1) {
		unsigned l = (unsigned)__builtin_ctzll(m);
		p.len = (uint8_t)l;
		p.lo = mask32(a, l);
		if (has(cs, &p))
			return true;
	}
	return false;
}

static bool match_v6(const fn_cidr_set *cs, uint64_t hi, uint64_t lo)
{
	pfx p = { .fam = FAM_V6 };

	for (unsigned l = 0; l <= 128; l++) {
		if (!(cs->v6_lens[l / 64] >> (l % 64) & 1))
			continue;
		p.len = (uint8_t)l;
		p.hi = hi;
		p.lo = lo;
		mask128(&p.hi, &p.lo, l);
		if (has(cs, &p))
			return true;
	}
	return false;
}

bool fn_ip_parse(const char *s, size_t n, fn_ip *out)
{
	char buf[TEXT_MAX];
	addr a;

	if (!to_cstr(buf, s, n) || !parse_addr(buf, &a))
		return false;
	out->hi = a.hi;
	out->lo = a.lo;
	out->fam = a.fam;
	return true;
}

int fn_cidr_set_match_ip(const fn_cidr_set *cs, const fn_ip *a)
{
	if (!cs || cs->count == 0)
		return 0;
	if (a->fam == FAM_V4)
		return match_v4(cs, (uint32_t)a->lo);
	if (is_v4_mapped(a->hi, a->lo) && match_v4(cs, (uint32_t)a->lo))
		return 1;
	return match_v6(cs, a->hi, a->lo);
}

int fn_cidr_set_match(const fn_cidr_set *cs, const char *ip, size_t n)
{
	fn_ip a;

	if (!fn_ip_parse(ip, n, &a))
		return RK_EINVAL;
	return fn_cidr_set_match_ip(cs, &a);
}
