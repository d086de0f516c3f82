/*
 * auth.c - the API-key table and the per-key token buckets. The table is
 * built once per reload from store_key_list (engine.c) and never changes:
 * an open-addressing map from the first 8 bytes of each key's SHA-256 to
 * the key, confirmed with CRYPTO_memcmp. Buckets live in svc_auth, in
 * mutex-striped lists keyed by key id, so they survive reloads.
 * Neighbours: auth.h, engine.c (loads), observe.c (svc_req_auth).
 */
#include "auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "../common/rk.h"

#define TOKEN_MAX 512            /* longer bearer tokens are unknown */

struct svc_keys {
	atomic_int refs;
	svc_key *keys;               /* sorted by id */
	int n;
	int active;                  /* not revoked */
	int *slots;                  /* index into keys, -1 = empty */
	size_t nslots;               /* power of two */
};

/* ---- the key table ---- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_hash(const char *hex, unsigned char out[32])
{
	if (strlen(hex) != 64)
		return RK_EINVAL;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return RK_EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static uint64_t hash_head(const unsigned char h[32])
{
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	return v;
}

static int cmp_key_id(const void *a, const void *b)
{
	const svc_key *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

svc_keys *svc_keys_new(const store_key *keys, int n, char *err,
		       size_t errlen)
{
	svc_keys *k = rk_calloc(1, sizeof(*k));
	if (!k)
		goto out_oom;
	atomic_init(&k->refs, 1);
	k->nslots = 8;
	while (k->nslots < (size_t)n * 2 + 1)
		k->nslots *= 2;
	k->keys = rk_calloc((size_t)n + 1, sizeof(*k->keys));
	k->slots = rk_malloc(k->nslots * sizeof(*k->slots));
	if (!k->keys || !k->slots)
		goto out_oom;
	for (int i = 0; i < n; i++) {
		svc_key *d = &k->keys[i];
		d->id = keys[i].id;
		snprintf(d->name, sizeof(d->name), "%s",
			 keys[i].name ? keys[i].name : "");
		d->admin = !strcmp(keys[i].role, "admin");
		d->revoked = keys[i].revoked;
		if (parse_hash(keys[i].hash, d->hash)) {
			snprintf(err, errlen, "API key %lld: bad hash",
				 (long long)d->id);
			goto out_free;
		}
		if (!d->revoked)
			k->active++;
	}
	k->n = n;
	qsort(k->keys, (size_t)n, sizeof(*k->keys), cmp_key_id);
	for (size_t i = 0; i < k->nslots; i++)
		k->slots[i] = -1;
	for (int i = 0; i < n; i++) {
		size_t j = hash_head(k->keys[i].hash) & (k->nslots - 1);
		while (k->slots[j] >= 0)
			j = (j + 1) & (k->nslots - 1);
		k->slots[j] = i;
	}
	return k;

out_oom:
	snprintf(err, errlen, "out of memory");
out_free:
	if (k) {
		rk_free(k->keys);
		rk_free(k->slots);
		rk_free(k);
	}
	return NULL;
}

svc_keys *svc_keys_load(store *st, char *err, size_t errlen)
{
	store_key *keys = NULL;
	int n = 0;
	int rc = store_key_list(st, &keys, &n);
	if (rc) {
		snprintf(err, errlen, "reading API keys: %s",
			 store_errmsg(st));
		return NULL;
	}
	svc_keys *k = svc_keys_new(keys, n, err, errlen);
	store_key_list_free(keys, n);
	return k;
}

svc_keys *svc_keys_ref(svc_keys *k)
{
	atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
	return k;
}

void svc_keys_release(svc_keys *k)
{
	if (!k || atomic_fetch_sub_explicit(&k->refs, 1,
					    memory_order_acq_rel) != 1)
		return;
	rk_free(k->keys);
	rk_free(k->slots);
	rk_free(k);
}

int svc_keys_active(const svc_keys *k)
{
	return k ? k->active : 0;
}

bool svc_keys_equal(const svc_keys *a, const svc_keys *b)
{
	int na = a ? a->n : 0, nb = b ? b->n : 0;
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++) {
		const svc_key *x = &a->keys[i], *y = &b->keys[i];
		if (x->id != y->id || x->admin != y->admin ||
		    x->revoked != y->revoked || strcmp(x->name, y->name) ||
		    memcmp(x->hash, y->hash, sizeof(x->hash)))
			return false;
	}
	return true;
}

/* The token of "Bearer <token>" into buf; RK_EINVAL if malformed. */
static int bearer_token(const char *h, char *buf, size_t n)
{
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Bearer", 6) || (h[6] != ' ' && h[6] != '\t'))
		return RK_EINVAL;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	size_t len = strcspn(h, " \t");
	const char *rest = h + len;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	if (!len || *rest)
		return RK_EINVAL;
	if (len >= n)
		len = n - 1;   /* too long: hashes to an unknown key */
	memcpy(buf, h, len);
	buf[len] = '\0';
	return 0;
}

enum svc_auth_status svc_keys_check(const svc_keys *k, const char *header,
				    const svc_key **key)
{
	*key = NULL;
	if (!header)
		return SVC_AUTH_MISSING;
	char tok[TOKEN_MAX + 2];
	if (bearer_token(header, tok, sizeof(tok)))
		return SVC_AUTH_MALFORMED;
	if (!k || !k->n || strlen(tok) > TOKEN_MAX)
		return SVC_AUTH_UNKNOWN;
	char hex[65];
	unsigned char h[32];
	store_key_hash(tok, hex);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (parse_hash(hex, h))
		return SVC_AUTH_UNKNOWN;
	size_t j = hash_head(h) & (k->nslots - 1);
	for (; k->slots[j] >= 0; j = (j + 1) & (k->nslots - 1)) {
		const svc_key *c = &k->keys[k->slots[j]];
		if (CRYPTO_memcmp(c->hash, h, sizeof(h)))
			continue;
		*key = c;
		return c->revoked ? SVC_AUTH_REVOKED : SVC_AUTH_OK;
	}
	return SVC_AUTH_UNKNOWN;
}

const char *svc_auth_status_msg(enum svc_auth_status st)
{
	switch (st) {
	case SVC_AUTH_OK:
		return "ok";
	case SVC_AUTH_MISSING:
		return "missing Authorization: Bearer <key>";
	case SVC_AUTH_MALFORMED:
		return "malformed Authorization header (expected Bearer "
		       "<key>)";
	case SVC_AUTH_UNKNOWN:
		return "unknown API key";
	case SVC_AUTH_REVOKED:
		return "revoked API key";
	}
	return "unauthorized";
}

/* ---- token buckets ---- */

#define STRIPES 16

struct bucket {
	int64_t id;
	double tokens;
	int64_t last_us;
};

struct stripe {
	pthread_mutex_t mu;
	struct bucket *b;
	int n, cap;
};

struct svc_auth {
	double rate;                 /* tokens per second, 0 = unlimited */
	double burst;
	struct stripe st[STRIPES];
};

svc_auth *svc_auth_new(int64_t rate, int64_t burst, char *err,
		       size_t errlen)
{
	svc_auth *a = rk_calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->rate = rate > 0 ? (double)rate : 0;
	a->burst = burst > 0 ? (double)burst : a->rate;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&a->st[i].mu, NULL);
	return a;
}

void svc_auth_free(svc_auth *a)
{
	if (!a)
		return;
	for (int i = 0; i < STRIPES; i++) {
		pthread_mutex_destroy(&a->st[i].mu);
		rk_free(a->st[i].b);
	}
	rk_free(a);
}

static struct bucket *find_bucket(struct stripe *s, int64_t id,
				  double burst, int64_t now_us)
{
	for (int i = 0; i < s->n; i++)
		if (s->b[i].id == id)
			return &s->b[i];
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 4;
		struct bucket *b = rk_realloc(s->b, (size_t)cap * sizeof(*b));
		if (!b)
			return NULL;
		s->b = b;
		s->cap = cap;
	}
	struct bucket *b = &s->b[s->n++];
	b->id = id;
	b->tokens = burst;
	b->last_us = now_us;
	return b;
}

int svc_auth_take(svc_auth *a, int64_t key_id, int64_t now_us,
		  int *retry_after_s)
{
	*retry_after_s = 0;
	if (!a || a->rate <= 0)
		return 0;
	struct stripe *s = &a->st[(uint64_t)key_id % STRIPES];
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	struct bucket *b = find_bucket(s, key_id, a->burst, now_us);
	if (!b) {
		rc = RK_ENOMEM;
		goto out_unlock;
	}
	if (now_us > b->last_us) {
		b->tokens += (double)(now_us - b->last_us) * a->rate / 1e6;
		if (b->tokens > a->burst)
			b->tokens = a->burst;
		b->last_us = now_us;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
	} else {
		double secs = (1.0 - b->tokens) / a->rate;
		int ra = (int)secs;
		if ((double)ra < secs)
			ra++;
		*retry_after_s = ra < 1 ? 1 : ra;
		rc = RK_ELIMIT;
	}
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return rc;
}
