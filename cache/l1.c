/*
 * l1.c - the L1 in-process feature cache; see l1.h. Keys hash (XXH3) to
 * one of a power-of-two number of shards, each a chained hash table under
 * its own mutex, with S3-FIFO eviction (Yang et al., SOSP '23): a small
 * FIFO (10 % of the shard) that one-hit wonders leave by, a main FIFO
 * whose entries carry a 2-bit frequency and go round again while it is
 * non-zero, and a ghost of recently evicted small-queue keys (32-bit
 * fingerprints) whose return goes straight to main. A claim (request
 * coalescing) is a value-less entry in the table, outside the queues and
 * the bounds; waiters sleep on the shard's condition variable.
 */
#include "l1.h"
#include "common/rk.h"

#include <pthread.h>
#include <stdalign.h>
#include <string.h>
#include <time.h>
/* Inlined: a short key hashes in a few ns without a call into the .so. */
#define XXH_INLINE_ALL
#include <xxhash.h>

enum {
	F_NEG = 1,      /* negative entry: no value */
	F_MAIN = 2,     /* in the main queue (else the small one) */
	F_PENDING = 4,  /* a claim: a fetch in flight, no value */
	F_STALE = 8,    /* claim hit by an invalidation: do not cache fill */
};

#define FREQ_MAX 3
#define MAX_KLEN 65535
#define MAX_SHARDS 4096
#define MAX_TAB (1u << 26)
#define GHOST_WAYS 4
/* glibc malloc: 8-byte chunk header, chunks rounded up to 16 bytes. */
#define ALLOC_SLACK 24

typedef struct ent {
	struct ent *hnext;        /* hash chain */
	struct ent *prev, *next;  /* small or main queue; unused by claims */
	uint64_t hash;
	int64_t expire_us;        /* claims: when the claim times out */
	uint32_t vlen;
	uint32_t ttl_ms;          /* insert time = expire_us - ttl_ms ms */
	uint16_t klen;
	uint8_t freq;             /* 0..FREQ_MAX, hits since insert or turn */
	uint8_t flags;            /* F_* */
	char data[];              /* key, then value */
} ent;

typedef struct queue {
	ent *head, *tail;   /* evict at head, insert at tail */
	size_t n, bytes;
} queue;

typedef struct shard {
	alignas(64) pthread_mutex_t mu;
	pthread_cond_t cv;        /* claims completed */
	ent **tab;
	uint32_t tmask;
	uint32_t gmask;           /* ghost sets - 1 */
	uint32_t *ghost;          /* GHOST_WAYS fingerprints a set, 0 free */
	queue small, main;
	size_t max_e, max_b;
	uint64_t hits, negative_hits, misses, inserts, evictions, expirations,
		invalidations, coalesced;
} shard;

struct l1_cache {
	shard *shards;            /* 64-byte aligned inside shards_mem */
	void *shards_mem;
	int nshards;
	int shift;                /* shard = hash >> shift */
	int64_t claim_us;
};

size_t l1_entry_overhead(void)
{
	/* Header, allocator, one bucket pointer and one ghost slot (the
	 * tables hold at most one of each per entry allowed). */
	return sizeof(ent) + ALLOC_SLACK + sizeof(ent *) + sizeof(uint32_t);
}

static size_t charge_of(size_t klen, size_t vlen)
{
	return l1_entry_overhead() + klen + vlen;
}

static size_t pow2_floor(size_t n)
{
	size_t p = 1;
	while (p <= n / 2)
		p *= 2;
	return p;
}

/* ---- queues ---- */

static void q_push(queue *q, ent *e)
{
	e->next = NULL;
	e->prev = q->tail;
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	q->n++;
	q->bytes += charge_of(e->klen, e->vlen);
}

static void q_remove(queue *q, ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		q->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		q->tail = e->prev;
	q->n--;
	q->bytes -= charge_of(e->klen, e->vlen);
}

static queue *q_of(shard *s, const ent *e)
{
	return (e->flags & F_MAIN) ? &s->main : &s->small;
}

/* ---- ghost: recently evicted small-queue keys ---- */

static uint32_t fingerprint(uint64_t h)
{
	return (uint32_t)h | 1;
}

static uint32_t *ghost_set(const shard *s, uint64_t h)
{
	return s->ghost + (size_t)((h >> 24) & s->gmask) * GHOST_WAYS;
}

/* Newest first: the oldest fingerprint of the set falls out. */
static void ghost_add(shard *s, uint64_t h)
{
	uint32_t *g = ghost_set(s, h);
	memmove(g + 1, g, (GHOST_WAYS - 1) * sizeof(*g));
	g[0] = fingerprint(h);
}

/* True, and forgets it, if h was evicted from the small queue lately. */
static bool ghost_take(shard *s, uint64_t h)
{
	uint32_t *g = ghost_set(s, h), f = fingerprint(h);
	for (int i = 0; i < GHOST_WAYS; i++)
		if (g[i] == f) {
			g[i] = 0;
			return true;
		}
	return false;
}

/* ---- table ---- */

static shard *shard_of(const l1_cache *c, uint64_t h)
{
	return &c->shards[c->shift < 64 ? h >> c->shift : 0];
}

/* memcmp(a, b, n) == 0 without a call for the short keys L1 holds. */
static bool same_bytes(const char *a, const char *b, size_t n)
{
	uint64_t x, y, d = 0;

	for (; n >= 8; a += 8, b += 8, n -= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		d |= x ^ y;
	}
	while (n--)
		d |= (uint8_t)(*a++ ^ *b++);
	return d == 0;
}

static ent *find(const shard *s, uint64_t h, const char *key, size_t klen)
{
	for (ent *e = s->tab[h & s->tmask]; e; e = e->hnext)
		if (e->hash == h && e->klen == klen &&
		    same_bytes(e->data, key, klen))
			return e;
	return NULL;
}

static void tab_insert(shard *s, ent *e)
{
	ent **b = &s->tab[e->hash & s->tmask];
	e->hnext = *b;
	*b = e;
}

static void tab_remove(shard *s, ent *e)
{
	ent **p = &s->tab[e->hash & s->tmask];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
}

/* Unlinks a cached (non-claim) entry from table and queue and frees it. */
static void drop(shard *s, ent *e)
{
	tab_remove(s, e);
	q_remove(q_of(s, e), e);
	rk_free(e);
}

static void drop_claim(shard *s, ent *e)
{
	tab_remove(s, e);
	rk_free(e);
}

/*
 * One S3-FIFO eviction: frees one entry (an expired one as found). The
 * small queue gives up its head while over 10 % of the shard (entries or
 * bytes) or while main is empty: to main if it was hit, else to the
 * ghost. Main's head goes round again while its frequency is non-zero.
 */
static void evict_one(shard *s, int64_t now)
{
	for (;;) {
		bool from_small =
			s->small.n && (!s->main.n ||
				       s->small.n * 10 >= s->max_e ||
				       s->small.bytes * 10 >= s->max_b);
		queue *q = from_small ? &s->small : &s->main;
		ent *e = q->head;

		if (!e)
			return;
		if (now >= e->expire_us) {
			drop(s, e);
			s->expirations++;
			return;
		}
		if (e->freq == 0) {
			if (from_small)
				ghost_add(s, e->hash);
			drop(s, e);
			s->evictions++;
			return;
		}
		q_remove(q, e);
		if (from_small) {
			e->freq = 0;
			e->flags |= F_MAIN;
		} else {
			e->freq--;
		}
		q_push(&s->main, e);
	}
}

/* ---- lookups ---- */

/* l1_get's answer for an entry e that is not a claim (s locked). */
static int answer(shard *s, ent *e, int64_t now, char *buf, size_t cap,
		  size_t *len, int64_t *age_us)
{
	if (age_us)
		*age_us = now - (e->expire_us - (int64_t)e->ttl_ms * 1000);
	if (e->freq < FREQ_MAX)
		e->freq++;
	if (e->flags & F_NEG) {
		s->negative_hits++;
		if (len)
			*len = 0;
		return L1_NEGATIVE;
	}
	s->hits++;
	if (len)
		*len = e->vlen;
	if (e->vlen > cap)
		return RK_ELIMIT;
	if (e->vlen)
		memcpy(buf, e->data + e->klen, e->vlen);
	return L1_HIT;
}

/* l1_get with the shard locked; e is find's result. */
static int lookup(const l1_cache *c, shard *s, ent *e, uint64_t h,
		  const char *key, size_t klen, int64_t now, bool claim,
		  char *buf, size_t cap, size_t *len, int64_t *age_us)
{
	if (e && !(e->flags & F_PENDING)) {
		if (now < e->expire_us)
			return answer(s, e, now, buf, cap, len, age_us);
		drop(s, e);
		s->expirations++;
		e = NULL;
	}
	if (len)
		*len = 0;
	if (e && claim && now < e->expire_us) {
		s->coalesced++;
		return L1_PENDING;
	}
	s->misses++;
	if (!claim)
		return L1_MISS;
	if (e) {
		/* The owner let the claim time out: take it over. */
		e->expire_us = now + c->claim_us;
		e->flags &= (uint8_t)~F_STALE;
		return L1_CLAIMED;
	}
	e = rk_malloc(sizeof(*e) + klen);
	if (!e)
		return RK_ENOMEM;
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->klen = (uint16_t)klen;
	e->flags = F_PENDING;
	e->expire_us = now + c->claim_us;
	memcpy(e->data, key, klen);
	tab_insert(s, e);
	return L1_CLAIMED;
}

int l1_get(l1_cache *c, const char *key, size_t klen, int64_t now_us,
	   bool claim, char *buf, size_t cap, size_t *len, int64_t *age_us)
{
	if (klen > MAX_KLEN)
		return RK_EINVAL;
	uint64_t h = XXH3_64bits(key, klen);
	shard *s = shard_of(c, h);

	/* The bucket's line loads while the lock is taken (tab and tmask
	 * do not change after l1_new). */
	__builtin_prefetch(&s->tab[h & s->tmask]);
	pthread_mutex_lock(&s->mu);
	int rc = lookup(c, s, find(s, h, key, klen), h, key, klen, now_us,
			claim, buf, cap, len, age_us);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int l1_wait(l1_cache *c, const char *key, size_t klen, int64_t deadline_us,
	    char *buf, size_t cap, size_t *len, int64_t *age_us)
{
	if (klen > MAX_KLEN)
		return RK_EINVAL;
	uint64_t h = XXH3_64bits(key, klen);
	shard *s = shard_of(c, h);
	struct timespec ts = {.tv_sec = deadline_us / 1000000,
			      .tv_nsec = (deadline_us % 1000000) * 1000};
	int rc;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		ent *e = find(s, h, key, klen);
		if (!e || !(e->flags & F_PENDING)) {
			rc = lookup(c, s, e, h, key, klen, rk_now_us(), false,
				    buf, cap, len, age_us);
			break;
		}
		if (rk_now_us() >= deadline_us) {
			if (len)
				*len = 0;
			rc = L1_PENDING;
			break;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* ---- changes ---- */

int l1_put(l1_cache *c, const char *key, size_t klen, const char *val,
	   size_t vlen, int64_t now_us, int64_t ttl_ms)
{
	if (klen > MAX_KLEN)
		return RK_EINVAL;
	uint64_t h = XXH3_64bits(key, klen);
	shard *s = shard_of(c, h);
	size_t charge = charge_of(klen, val ? vlen : 0);
	ent *n = NULL;
	int rc = 0;

	if (ttl_ms <= 0 || ttl_ms > UINT32_MAX || (val && vlen > UINT32_MAX))
		rc = RK_EINVAL;
	else if (charge > s->max_b)
		rc = RK_ELIMIT;
	else if (!(n = rk_malloc(sizeof(*n) + klen + (val ? vlen : 0))))
		rc = RK_ENOMEM;
	if (n) {
		memset(n, 0, sizeof(*n));
		n->hash = h;
		n->klen = (uint16_t)klen;
		n->vlen = val ? (uint32_t)vlen : 0;
		n->flags = val ? 0 : F_NEG;
		n->ttl_ms = (uint32_t)ttl_ms;
		n->expire_us = now_us + ttl_ms * 1000;
		memcpy(n->data, key, klen);
		if (val && vlen)
			memcpy(n->data + klen, val, vlen);
	}

	pthread_mutex_lock(&s->mu);
	ent *e = find(s, h, key, klen);
	bool in_main = false;
	if (e && (e->flags & F_PENDING)) {
		/* A fill of a claim; invalidated meanwhile: do not cache. */
		if ((e->flags & F_STALE) && n) {
			rk_free(n);
			n = NULL;
		}
		drop_claim(s, e);
		pthread_cond_broadcast(&s->cv);
	} else if (e) {
		/* A newer value keeps the old one's place and frequency; a
		 * failed put still drops the old value. */
		in_main = e->flags & F_MAIN;
		if (n)
			n->freq = e->freq;
		drop(s, e);
	}
	if (n) {
		if (in_main || ghost_take(s, h))
			n->flags |= F_MAIN;
		while ((s->small.n || s->main.n) &&
		       (s->small.n + s->main.n + 1 > s->max_e ||
			s->small.bytes + s->main.bytes + charge > s->max_b))
			evict_one(s, now_us);
		tab_insert(s, n);
		q_push(q_of(s, n), n);
		s->inserts++;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void l1_abandon(l1_cache *c, const char *key, size_t klen)
{
	if (klen > MAX_KLEN)
		return;
	uint64_t h = XXH3_64bits(key, klen);
	shard *s = shard_of(c, h);

	pthread_mutex_lock(&s->mu);
	ent *e = find(s, h, key, klen);
	if (e && (e->flags & F_PENDING)) {
		drop_claim(s, e);
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

bool l1_del(l1_cache *c, const char *key, size_t klen)
{
	if (klen > MAX_KLEN)
		return false;
	uint64_t h = XXH3_64bits(key, klen);
	shard *s = shard_of(c, h);

	pthread_mutex_lock(&s->mu);
	ent *e = find(s, h, key, klen);
	if (e && (e->flags & F_PENDING)) {
		e->flags |= F_STALE;
	} else if (e) {
		drop(s, e);
		s->invalidations++;
	}
	pthread_mutex_unlock(&s->mu);
	return e != NULL;
}

/* Drops a shard's cached entries and marks its claims (s locked). */
static void clear_shard(shard *s)
{
	for (size_t b = 0; b <= s->tmask; b++) {
		ent **p = &s->tab[b];
		while (*p) {
			ent *e = *p;
			if (e->flags & F_PENDING) {
				e->flags |= F_STALE;
				p = &e->hnext;
				continue;
			}
			*p = e->hnext;
			q_remove(q_of(s, e), e);
			rk_free(e);
			s->invalidations++;
		}
	}
}

void l1_clear(l1_cache *c)
{
	for (int i = 0; i < c->nshards; i++) {
		shard *s = &c->shards[i];
		pthread_mutex_lock(&s->mu);
		clear_shard(s);
		pthread_mutex_unlock(&s->mu);
	}
}

void l1_stats_get(const l1_cache *c, l1_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < c->nshards; i++) {
		shard *s = &c->shards[i];
		pthread_mutex_lock(&s->mu);
		out->hits += s->hits;
		out->negative_hits += s->negative_hits;
		out->misses += s->misses;
		out->inserts += s->inserts;
		out->evictions += s->evictions;
		out->expirations += s->expirations;
		out->invalidations += s->invalidations;
		out->coalesced += s->coalesced;
		out->entries += s->small.n + s->main.n;
		out->bytes += s->small.bytes + s->main.bytes;
		pthread_mutex_unlock(&s->mu);
	}
}

/* ---- lifecycle ---- */

/* Frees every entry and claim of a shard and its tables. */
static void shard_cleanup(shard *s)
{
	for (size_t b = 0; s->tab && b <= s->tmask; b++)
		for (ent *e = s->tab[b], *next; e; e = next) {
			next = e->hnext;
			rk_free(e);
		}
	rk_free(s->tab);
	rk_free(s->ghost);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

static int shard_init(shard *s, size_t max_e, size_t max_b)
{
	pthread_condattr_t ca;
	/* Tables for as many entries as can fit: a huge entry bound with a
	 * small byte bound must not allocate huge tables. */
	size_t fit = max_b / l1_entry_overhead() < max_e ?
			     max_b / l1_entry_overhead() : max_e;
	size_t nb = pow2_floor(fit), ng = pow2_floor(fit) / GHOST_WAYS;

	if (nb > MAX_TAB)
		nb = MAX_TAB;
	if (ng > MAX_TAB / GHOST_WAYS)
		ng = MAX_TAB / GHOST_WAYS;
	if (ng == 0)
		ng = 1;
	s->max_e = max_e;
	s->max_b = max_b;
	s->tmask = (uint32_t)(nb - 1);
	s->gmask = (uint32_t)(ng - 1);
	if (pthread_mutex_init(&s->mu, NULL))
		return RK_ENOMEM;
	if (pthread_condattr_init(&ca))
		goto out_mutex;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int err = pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (err)
		goto out_mutex;
	s->tab = rk_calloc(nb, sizeof(*s->tab));
	s->ghost = rk_calloc(ng * GHOST_WAYS, sizeof(*s->ghost));
	if (!s->tab || !s->ghost) {
		shard_cleanup(s);
		return RK_ENOMEM;
	}
	return 0;
out_mutex:
	pthread_mutex_destroy(&s->mu);
	return RK_ENOMEM;
}

l1_cache *l1_new(const l1_config *cfg)
{
	size_t ns = (size_t)cfg->shards;

	if (!cfg->max_entries || !cfg->max_bytes || cfg->shards < 0 ||
	    cfg->shards > MAX_SHARDS || (ns & (ns - 1)) ||
	    cfg->claim_timeout_ms < 0)
		return NULL;
	if (!ns)
		for (ns = 64; ns > 1 && (cfg->max_entries / ns < 8 ||
					 cfg->max_bytes / ns < 4096);)
			ns /= 2;
	if (cfg->max_entries / ns < 1 ||
	    cfg->max_bytes / ns <= l1_entry_overhead())
		return NULL;

	l1_cache *c = rk_calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->claim_us = (cfg->claim_timeout_ms ? cfg->claim_timeout_ms : 1000) *
		      1000;
	c->shift = 64;
	for (size_t n = ns; n > 1; n /= 2)
		c->shift--;
	c->shards_mem = rk_malloc(ns * sizeof(*c->shards) + 63);
	if (!c->shards_mem)
		goto out_free;
	c->shards = (shard *)(((uintptr_t)c->shards_mem + 63) &
			      ~(uintptr_t)63);
	memset(c->shards, 0, ns * sizeof(*c->shards));
	for (; c->nshards < (int)ns; c->nshards++)
		if (shard_init(&c->shards[c->nshards], cfg->max_entries / ns,
			       cfg->max_bytes / ns))
			goto out_free;
	return c;
out_free:
	l1_free(c);
	return NULL;
}

void l1_free(l1_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nshards; i++)
		shard_cleanup(&c->shards[i]);
	rk_free(c->shards_mem);
	rk_free(c);
}
