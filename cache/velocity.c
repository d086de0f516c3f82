/*
 * velocity.c - velocity aggregates kept in process (riskd without Redis),
 * and what both back ends share: event paths, the key form of entity
 * values, definition checks, the JSON handed to the rule engine. The
 * store is a sharded hash table of (velocity, entity) -> a ring of
 * buckets (count, sum) or a bounded member list (distinct), each shard
 * with its own mutex and least-recently-updated eviction.
 * velocity_redis.c is the Redis encoding of the same contract.
 */
#include "velocity.h"
#include "../common/rk.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

/* Ring slots: a power of two >= the VEL_BUCKETS + 2 buckets a window of
 * any length in 1m..30d can overlap (B = floor(W / 60) makes W / B < 61). */
#define RING 64
#define NSHARDS_MAX 64
/* Entities a shard holds at least, so eviction stays close to a global
 * least-recently-updated order in small stores. */
#define SHARD_MIN 64
#define DISTINCT_CAP0 4
#define TAB_CAP0 16
#define TAB_CAP_MAX ((size_t)1 << 22)
#define HEAD_NONE INT64_MIN

/* ---- shared helpers ---- */

int64_t vel_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vel_bucket_ms(int64_t window_ms)
{
	int64_t b = window_ms / VEL_BUCKETS;
	return b > 0 ? b : 1;
}

bool vel_def_is_valid(const rules_velocity_def *d)
{
	if (!d->name || !d->entity || d->window_ms < 60000 ||
	    d->window_ms > 30LL * 86400000)
		return false;
	if (d->agg == RULES_AGG_COUNT)
		return true;
	return (d->agg == RULES_AGG_SUM || d->agg == RULES_AGG_DISTINCT) &&
	       d->field;
}

/* The member of object o named by the len bytes at key (first match). */
static const cJSON *child(const cJSON *o, const char *key, size_t len)
{
	if (!cJSON_IsObject(o))
		return NULL;
	for (const cJSON *c = o->child; c; c = c->next)
		if (c->string && c->string[0] == key[0] &&
		    strncmp(c->string, key, len) == 0 && c->string[len] == '\0')
			return c;
	return NULL;
}

const cJSON *vel_path_get(const cJSON *event, const char *path)
{
	const cJSON *cur = event;
	const char *p = path;
	if (!event || !path || !*path)
		return NULL;
	/* `event.x` always means the event's field x, as in rules. */
	if (strncmp(p, "event", 5) == 0 && (p[5] == '.' || p[5] == '['))
		p += 5 + (p[5] == '.');
	for (bool first = true; cur && *p; first = false) {
		if (*p == '[') {
			p++;
			if (*p == '"' || *p == '\'') {
				const char *end = strchr(p + 1, *p);
				if (!end || end[1] != ']')
					return NULL;
				cur = child(cur, p + 1, (size_t)(end - p - 1));
				p = end + 2;
				continue;
			}
			long idx = 0;
			const char *st = p;
			while (*p >= '0' && *p <= '9' && idx < 100000000)
				idx = idx * 10 + (*p++ - '0');
			if (p == st || *p++ != ']' || !cJSON_IsArray(cur))
				return NULL;
			cur = cJSON_GetArrayItem(cur, (int)idx);
			continue;
		}
		if (*p == '.' && !first)
			p++;
		const char *key = p;
		while (*p && *p != '.' && *p != '[')
			p++;
		if (p == key)
			return NULL;
		cur = child(cur, key, (size_t)(p - key));
	}
	return cur;
}

/* Shortest text that reads back as d; integers without a fraction. */
static size_t fmt_num(double d, char *buf, size_t cap)
{
	if (d == floor(d) && fabs(d) < 9.2e18)
		return (size_t)snprintf(buf, cap, "%lld", (long long)d);
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return (size_t)n;
}

/* [A-Za-z0-9._@+-] as a bitmap of the 256 byte values. */
static bool is_safe(unsigned char c)
{
	static const uint64_t map[4] = {0x03ff680000000000ULL,
					0x07fffffe87ffffffULL, 0, 0};
	return (map[c >> 6] >> (c & 63)) & 1;
}

int vel_text(const cJSON *v, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	char num[48];
	const char *raw;
	size_t rawlen, o = 0;
	if (cap < VEL_TEXT_MAX + 1)
		return RK_EINVAL;
	if (cJSON_IsString(v) && v->valuestring) {
		raw = v->valuestring;
		rawlen = strlen(raw);
	} else if (cJSON_IsNumber(v)) {
		rawlen = fmt_num(v->valuedouble, num, sizeof(num));
		raw = num;
	} else {
		return RK_ENOENT;
	}
	if (rawlen == 0)
		return RK_ENOENT;
	size_t unsafe = 0;
	for (size_t i = 0; i < rawlen; i++)
		unsafe += !is_safe((unsigned char)raw[i]);
	if (rawlen + 2 * unsafe > VEL_TEXT_MAX)
		goto hashed;
	if (!unsafe) {
		memcpy(buf, raw, rawlen + 1);
		return (int)rawlen;
	}
	for (size_t i = 0; i < rawlen; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (is_safe(c)) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return (int)o;
hashed:;
	/* '~' is never left unescaped, so this form cannot be a value's. */
	XXH128_hash_t h = XXH3_128bits(raw, rawlen);
	return snprintf(buf, cap, "~%016llx%016llx",
			(unsigned long long)h.high64,
			(unsigned long long)h.low64);
}

cJSON *vel_to_json(const rules_velocity_def *defs, int n, const double *out,
		   const bool *has)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; o && i < n; i++) {
		cJSON *v = has[i] ? cJSON_CreateNumber(out[i])
				  : cJSON_CreateNull();
		if (!v) {
			cJSON_Delete(o);
			return NULL;
		}
		if (!cJSON_AddItemToObject(o, defs[i].name, v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

int vel_defs_used(const rules_set *s, rules_velocity_def *out, int cap)
{
	const rules_def *d = rules_set_def(s);
	int ns = rules_set_nvelocity_slots(s), k = 0;
	for (int j = 0; j < d->nvelocity && k < cap; j++)
		for (int i = 0; i < ns; i++)
			if (rules_set_velocity_slot_def(s, i) == j) {
				out[k++] = d->velocity[j];
				break;
			}
	return k;
}

/* ---- the in-process store ---- */

typedef struct member {
	uint64_t hash;    /* XXH3 of the member's key form */
	int64_t seen_ms;  /* last seen */
} member;

typedef struct entry {
	struct entry *hnext;          /* hash chain */
	struct entry *newer, *older;  /* the shard's update order */
	uint64_t hash;
	int64_t bucket_ms;
	int64_t head;                 /* newest bucket index in ring */
	double *ring;                 /* count/sum: RING slots in this block */
	member *mem;                  /* distinct: nmem of capmem */
	uint32_t nmem, capmem;
	size_t bytes;                 /* footprint of this entry */
	uint16_t keylen;              /* name '\0' entity */
	uint8_t agg;
	char key[];
} entry;

typedef struct shard {
	pthread_mutex_t mu;
	entry **tab;
	size_t cap, count, max, bytes;
	entry *newest, *oldest;
	char pad[64];  /* keeps neighbouring shards' locks off one line */
} shard;

struct vel_store {
	int nshards;
	shard *sh;
};

vel_store *vel_store_new(size_t max_entities)
{
	if (max_entities < 1)
		max_entities = 1;
	vel_store *s = rk_calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->nshards = 1;
	while (s->nshards < NSHARDS_MAX &&
	       (size_t)s->nshards * 2 * SHARD_MIN <= max_entities)
		s->nshards *= 2;
	s->sh = rk_calloc((size_t)s->nshards, sizeof(shard));
	if (!s->sh)
		goto out_free;
	for (int i = 0; i < s->nshards; i++) {
		shard *h = &s->sh[i];
		h->max = max_entities / (size_t)s->nshards +
			 ((size_t)i < max_entities % (size_t)s->nshards);
		h->cap = TAB_CAP0;
		h->tab = rk_calloc(h->cap, sizeof(entry *));
		if (!h->tab)
			goto out_free;
		h->bytes = h->cap * sizeof(entry *);
	}
	for (int i = 0; i < s->nshards; i++)
		pthread_mutex_init(&s->sh[i].mu, NULL);
	return s;
out_free:
	for (int i = 0; s->sh && i < s->nshards; i++)
		rk_free(s->sh[i].tab);
	rk_free(s->sh);
	rk_free(s);
	return NULL;
}

static void entry_free(entry *e)
{
	rk_free(e->mem);
	rk_free(e);
}

void vel_store_free(vel_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nshards; i++) {
		shard *h = &s->sh[i];
		for (entry *e = h->newest, *nx; e; e = nx) {
			nx = e->older;
			entry_free(e);
		}
		rk_free(h->tab);
		pthread_mutex_destroy(&h->mu);
	}
	rk_free(s->sh);
	rk_free(s);
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* What one definition addresses for one event: the shard key. */
typedef struct target {
	char key[64 + 1 + VEL_TEXT_MAX + 1];  /* name '\0' entity */
	size_t keylen;
	uint64_t hash;
	int64_t bucket_ms;
	int agg;
} target;

/* The entity of the last definition looked at: definitions on the same
 * entity path (often neighbours) share one lookup per event. */
typedef struct ent_memo {
	const char *path;
	int len;  /* vel_text result */
	char text[VEL_TEXT_MAX + 1];
} ent_memo;

/* Fills t for definition d and event; RK_ENOENT when no entity. */
static int target_of(const rules_velocity_def *d, const cJSON *event,
		     ent_memo *m, target *t)
{
	size_t nl = strlen(d->name);
	if (nl > 64)
		return RK_EINVAL;
	if (!m->path || strcmp(m->path, d->entity) != 0) {
		m->path = d->entity;
		m->len = vel_text(vel_path_get(event, d->entity), m->text,
				  sizeof(m->text));
	}
	if (m->len < 0)
		return m->len;
	memcpy(t->key, d->name, nl + 1);
	memcpy(t->key + nl + 1, m->text, (size_t)m->len);
	t->keylen = nl + 1 + (size_t)m->len;
	t->agg = d->agg;
	t->bucket_ms = vel_bucket_ms(d->window_ms);
	t->hash = XXH3_64bits_withSeed(t->key, t->keylen,
				       (uint64_t)t->bucket_ms * 4 +
					       (uint64_t)t->agg);
	return 0;
}

static shard *shard_of(vel_store *s, uint64_t hash)
{
	return &s->sh[(hash >> 58) & (uint64_t)(s->nshards - 1)];
}

static entry **slot_of(shard *h, const target *t)
{
	entry **pp = &h->tab[t->hash & (h->cap - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		const entry *e = *pp;
		if (e->hash == t->hash && e->keylen == t->keylen &&
		    e->agg == t->agg && e->bucket_ms == t->bucket_ms &&
		    memcmp(e->key, t->key, t->keylen) == 0)
			break;
	}
	return pp;
}

/* Count or sum of the buckets from lo on. */
static double ring_value(const entry *e, int64_t lo)
{
	if (e->head == HEAD_NONE || e->head < lo)
		return 0;
	int64_t from = e->head - (RING - 1);
	if (from < lo)
		from = lo;
	/* four partial sums: the adds do not wait on each other */
	double v[4] = {0, 0, 0, 0};
	for (int64_t b = from; b <= e->head; b++)
		v[b & 3] += e->ring[(uint64_t)b & (RING - 1)];
	return (v[0] + v[1]) + (v[2] + v[3]);
}

/*
 * Adds delta to bucket b. A bucket older than the ring can hold means
 * the clock was stepped back by more than a window: the aggregate starts
 * again from b rather than staying frozen until the clock catches up.
 */
static void ring_add(entry *e, int64_t b, double delta)
{
	if (e->head == HEAD_NONE || b - e->head >= RING ||
	    e->head - b >= RING) {
		memset(e->ring, 0, RING * sizeof(double));
		e->head = b;
	} else if (b > e->head) {
		while (e->head < b)
			e->ring[(uint64_t)++e->head & (RING - 1)] = 0;
	}
	e->ring[(uint64_t)b & (RING - 1)] += delta;
}

static double distinct_value(const entry *e, int64_t since)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < e->nmem; i++)
		k += e->mem[i].seen_ms > since;
	return k;
}

static int distinct_add(shard *h, entry *e, uint64_t mh, int64_t now,
			int64_t since)
{
	for (uint32_t i = 0; i < e->nmem; i++)
		if (e->mem[i].hash == mh) {
			if (now > e->mem[i].seen_ms)
				e->mem[i].seen_ms = now;
			return 0;
		}
	if (e->nmem == e->capmem) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < e->nmem; i++)
			if (e->mem[i].seen_ms > since)
				e->mem[k++] = e->mem[i];
		e->nmem = k;
	}
	if (e->nmem == e->capmem && e->capmem < VEL_DISTINCT_MAX) {
		uint32_t nc = e->capmem ? e->capmem * 2 : DISTINCT_CAP0;
		member *nm = rk_realloc(e->mem, nc * sizeof(member));
		if (!nm)
			return RK_ENOMEM;
		h->bytes += (nc - e->capmem) * sizeof(member);
		e->bytes += (nc - e->capmem) * sizeof(member);
		e->mem = nm;
		e->capmem = nc;
	}
	if (e->nmem == e->capmem) {
		/* full of live members: the least recently seen goes */
		uint32_t old = 0;
		for (uint32_t i = 1; i < e->nmem; i++)
			if (e->mem[i].seen_ms < e->mem[old].seen_ms)
				old = i;
		if (e->mem[old].seen_ms > now)
			return 0;
		e->mem[old] = (member){mh, now};
		return 0;
	}
	e->mem[e->nmem++] = (member){mh, now};
	return 0;
}

static void lru_unlink(shard *h, entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		h->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		h->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_push(shard *h, entry *e)
{
	e->older = h->newest;
	if (h->newest)
		h->newest->newer = e;
	h->newest = e;
	if (!h->oldest)
		h->oldest = e;
}

/* Doubles the table when it is fuller than one entry a slot; a failed
 * allocation only leaves the chains longer. */
static void maybe_grow(shard *h)
{
	if (h->count <= h->cap || h->cap >= TAB_CAP_MAX)
		return;
	size_t nc = h->cap * 2;
	entry **nt = rk_calloc(nc, sizeof(entry *));
	if (!nt)
		return;
	for (size_t i = 0; i < h->cap; i++)
		for (entry *e = h->tab[i], *nx; e; e = nx) {
			nx = e->hnext;
			e->hnext = nt[e->hash & (nc - 1)];
			nt[e->hash & (nc - 1)] = e;
		}
	rk_free(h->tab);
	h->bytes += (nc - h->cap) * sizeof(entry *);
	h->tab = nt;
	h->cap = nc;
}

static void evict_oldest(shard *h)
{
	entry *e = h->oldest;
	target t = {.keylen = e->keylen, .hash = e->hash, .agg = e->agg,
		    .bucket_ms = e->bucket_ms};
	memcpy(t.key, e->key, e->keylen);
	entry **pp = slot_of(h, &t);
	*pp = e->hnext;
	lru_unlink(h, e);
	h->count--;
	h->bytes -= e->bytes;
	entry_free(e);
}

/* A new entry for t, linked in as the newest; NULL on allocation failure. */
static entry *entry_add(shard *h, const target *t, entry **pp)
{
	size_t off = (sizeof(entry) + t->keylen + 1 + 7) & ~(size_t)7;
	size_t size = off + (t->agg == RULES_AGG_DISTINCT ? 0 : RING * 8);
	entry *e = rk_calloc(1, size);
	if (!e)
		return NULL;
	e->hash = t->hash;
	e->bucket_ms = t->bucket_ms;
	e->head = HEAD_NONE;
	e->agg = (uint8_t)t->agg;
	e->keylen = (uint16_t)t->keylen;
	memcpy(e->key, t->key, t->keylen);
	if (t->agg != RULES_AGG_DISTINCT)
		e->ring = (double *)(void *)((char *)e + off);
	e->bytes = size;
	if (h->count >= h->max) {
		evict_oldest(h);
		pp = slot_of(h, t); /* the chain may have changed */
	}
	*pp = e;
	lru_push(h, e);
	h->count++;
	h->bytes += size;
	maybe_grow(h);
	return e;
}

int vel_store_read(vel_store *s, const rules_velocity_def *defs, int n,
		   const cJSON *event, int64_t now_ms, double *out, bool *has)
{
	bool obj = cJSON_IsObject(event);
	int rc = obj ? 0 : RK_EINVAL;
	ent_memo m = {0};
	for (int i = 0; i < n; i++) {
		const rules_velocity_def *d = &defs[i];
		target t;
		out[i] = 0;
		has[i] = false;
		if (!obj)
			continue;
		int r = vel_def_is_valid(d) ? target_of(d, event, &m, &t)
					     : RK_EINVAL;
		if (r == RK_ENOENT)
			continue;
		if (r < 0) {
			rc = r;
			continue;
		}
		shard *h = shard_of(s, t.hash);
		pthread_mutex_lock(&h->mu);
		const entry *e = *slot_of(h, &t);
		if (e && d->agg == RULES_AGG_DISTINCT)
			out[i] = distinct_value(e, now_ms - d->window_ms);
		else if (e)
			out[i] = ring_value(e, floordiv(now_ms - d->window_ms,
							t.bucket_ms));
		pthread_mutex_unlock(&h->mu);
		has[i] = true;
	}
	return rc;
}

/* Records one definition; RK_ENOENT when the event gives nothing. */
static int record_one(vel_store *s, const rules_velocity_def *d,
		      const cJSON *event, ent_memo *m, int64_t now_ms)
{
	target t;
	double delta = 1;
	uint64_t mh = 0;
	int r = target_of(d, event, m, &t);
	if (r < 0)
		return r;
	const cJSON *f = d->field ? vel_path_get(event, d->field) : NULL;
	if (d->agg == RULES_AGG_SUM) {
		if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
			return RK_ENOENT;
		delta = f->valuedouble;
	} else if (d->agg == RULES_AGG_DISTINCT) {
		char mt[VEL_TEXT_MAX + 1];
		int ml = vel_text(f, mt, sizeof(mt));
		if (ml < 0)
			return ml;
		mh = XXH3_64bits(mt, (size_t)ml);
	}
	shard *h = shard_of(s, t.hash);
	pthread_mutex_lock(&h->mu);
	entry **pp = slot_of(h, &t), *e = *pp;
	if (!e) {
		e = entry_add(h, &t, pp);
		if (!e) {
			r = RK_ENOMEM;
			goto out_unlock;
		}
	} else if (h->newest != e) {
		lru_unlink(h, e);
		lru_push(h, e);
	}
	if (d->agg == RULES_AGG_DISTINCT)
		r = distinct_add(h, e, mh, now_ms, now_ms - d->window_ms);
	else
		ring_add(e, floordiv(now_ms, t.bucket_ms), delta);
out_unlock:
	pthread_mutex_unlock(&h->mu);
	return r;
}

int vel_store_record(vel_store *s, const rules_velocity_def *defs, int n,
		     const cJSON *event, int64_t now_ms)
{
	if (!cJSON_IsObject(event))
		return RK_EINVAL;
	int rc = 0;
	ent_memo m = {0};
	for (int i = 0; i < n; i++) {
		int r = vel_def_is_valid(&defs[i])
				? record_one(s, &defs[i], event, &m, now_ms)
				: RK_EINVAL;
		if (r < 0 && r != RK_ENOENT && (!rc || r == RK_ENOMEM))
			rc = r;
	}
	return rc;
}

size_t vel_store_count(vel_store *s)
{
	size_t n = 0;
	for (int i = 0; i < s->nshards; i++) {
		pthread_mutex_lock(&s->sh[i].mu);
		n += s->sh[i].count;
		pthread_mutex_unlock(&s->sh[i].mu);
	}
	return n;
}

size_t vel_store_footprint(vel_store *s)
{
	size_t n = sizeof(*s) + (size_t)s->nshards * sizeof(shard);
	for (int i = 0; i < s->nshards; i++) {
		pthread_mutex_lock(&s->sh[i].mu);
		n += s->sh[i].bytes;
		pthread_mutex_unlock(&s->sh[i].mu);
	}
	return n;
}
