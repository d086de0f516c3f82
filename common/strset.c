/*
 * strset.c - hash set of strings; see strset.h. Members are copied into
 * one growing byte pool; the table stores hash and pool offset so a probe
 * compares 64-bit hashes before touching bytes.
 */
#include "strset.h"
#include "rk.h"

#include <string.h>
#include <xxhash.h>

typedef struct slot {
	uint64_t hash;
	uint32_t off;  /* offset of the member in pool, +1; 0 = empty */
	uint32_t len;
} slot;

struct strset {
	slot *tab;
	size_t cap;    /* power of two */
	size_t count;
	char *pool;
	size_t pool_len, pool_cap;
};

uint64_t rk_hash(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

strset *strset_new(void)
{
	strset *s = rk_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cap = 16;
	s->tab = rk_calloc(s->cap, sizeof(slot));
	if (!s->tab) {
		rk_free(s);
		return NULL;
	}
	return s;
}

void strset_free(strset *s)
{
	if (!s)
		return;
	rk_free(s->tab);
	rk_free(s->pool);
	rk_free(s);
}

static slot *find(const strset *s, uint64_t h, const char *str, size_t len)
{
	size_t mask = s->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		slot *e = &s->tab[i];
		if (!e->off)
			return e;
		if (e->hash == h && e->len == len &&
		    memcmp(s->pool + e->off - 1, str, len) == 0)
			return e;
	}
}

static int grow(strset *s)
{
	size_t ncap = s->cap * 2;
	slot *nt = rk_calloc(ncap, sizeof(slot));
	if (!nt)
		return RK_ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		slot *e = &s->tab[i];
		if (!e->off)
			continue;
		size_t j = e->hash & (ncap - 1);
		while (nt[j].off)
			j = (j + 1) & (ncap - 1);
		nt[j] = *e;
	}
	rk_free(s->tab);
	s->tab = nt;
	s->cap = ncap;
	return 0;
}

int strset_add(strset *s, const char *str, size_t len)
{
	if (len > UINT32_MAX / 2)
		return RK_EINVAL;
	if ((s->count + 1) * 4 > s->cap * 3 && grow(s))
		return RK_ENOMEM;
	uint64_t h = rk_hash(str, len);
	slot *e = find(s, h, str, len);
	if (e->off)
		return 0;
	if (s->pool_len + len + 1 > s->pool_cap) {
		size_t nc = s->pool_cap ? s->pool_cap : 256;
		while (nc < s->pool_len + len + 1)
			nc *= 2;
		if (nc > UINT32_MAX)
			return RK_ELIMIT;
		char *np = rk_realloc(s->pool, nc);
		if (!np)
			return RK_ENOMEM;
		s->pool = np;
		s->pool_cap = nc;
	}
	memcpy(s->pool + s->pool_len, str, len);
	s->pool[s->pool_len + len] = '\0';
	e->hash = h;
	e->off = (uint32_t)s->pool_len + 1;
	e->len = (uint32_t)len;
	s->pool_len += len + 1;
	s->count++;
	return 0;
}

bool strset_has(const strset *s, const char *str, size_t len)
{
	return find(s, rk_hash(str, len), str, len)->off != 0;
}

size_t strset_count(const strset *s)
{
	return s->count;
}

size_t strset_footprint(const strset *s)
{
	return sizeof(*s) + s->cap * sizeof(slot) + s->pool_cap;
}

bool strset_next(const strset *s, size_t *pos, const char **str, size_t *len)
{
	while (*pos < s->cap) {
		const slot *e = &s->tab[(*pos)++];
		if (e->off) {
			*str = s->pool + e->off - 1;
			*len = e->len;
			return true;
		}
	}
	return false;
}
