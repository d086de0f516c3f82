/*
 * velocity_redis.c - the Redis encoding of velocity (velocity.h): the
 * commands that read, record and prune aggregates, appended to a
 * caller-owned hiredis context so they share one pipelined round trip
 * with the feature reads, and the parsing of their replies. Count and
 * sum are hashes of bucket start -> value, distinct a sorted set of
 * member -> last seen; see docs/internals/cache.md "Velocity".
 * velocity.c holds the in-process store and the shared helpers.
 */
#include "velocity.h"
#include "../common/rk.h"
#include "resp.h"

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (sizeof("riskd:v:") + 64 + 1 + VEL_TEXT_MAX + 2 + 1)

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static char agg_suffix(int agg)
{
	if (agg == RULES_AGG_SUM)
		return 's';
	return agg == RULES_AGG_DISTINCT ? 'd' : 'c';
}

/*
 * The key of definition d for event into key; its length, RK_ENOENT when
 * the event has no entity, RK_EINVAL for a malformed definition.
 */
static int key_of(const rules_velocity_def *d, const cJSON *event,
		  char key[KEY_MAX])
{
	char ent[VEL_TEXT_MAX + 1];
	if (!vel_def_is_valid(d) || strlen(d->name) > 64)
		return RK_EINVAL;
	int el = vel_text(vel_path_get(event, d->entity), ent, sizeof(ent));
	if (el < 0)
		return el;
	return snprintf(key, KEY_MAX, "riskd:v:%s:%s:%c", d->name, ent,
			agg_suffix(d->agg));
}

static int append(redisContext *c, int argc, const char **argv,
		  const size_t *len, int *count)
{
	if (resp_append(c, argc, argv, len) != REDIS_OK)
		return RK_ENOMEM;
	(*count)++;
	return 0;
}

int vel_redis_append_reads(redisContext *c, const rules_velocity_def *defs,
			   int n, const cJSON *event, int64_t now_ms,
			   int *nreplies)
{
	int rc = cJSON_IsObject(event) ? 0 : RK_EINVAL;
	*nreplies = 0;
	for (int i = 0; i < n && cJSON_IsObject(event); i++) {
		const rules_velocity_def *d = &defs[i];
		char key[KEY_MAX], since[32];
		int kl = key_of(d, event, key);
		if (kl == RK_EINVAL)
			rc = kl;
		if (kl < 0)
			continue;
		int r;
		if (d->agg == RULES_AGG_DISTINCT) {
			int sl = snprintf(since, sizeof(since), "(%" PRId64,
					  now_ms - d->window_ms);
			const char *argv[] = {"ZCOUNT", key, since, "+inf"};
			size_t len[] = {6, (size_t)kl, (size_t)sl, 4};
			r = append(c, 4, argv, len, nreplies);
		} else {
			const char *argv[] = {"HGETALL", key};
			size_t len[] = {7, (size_t)kl};
			r = append(c, 2, argv, len, nreplies);
		}
		if (r < 0)
			return r;
	}
	return rc;
}

/* Walks the (field, value) pairs of an HGETALL reply; false if malformed. */
static bool hash_ok(const redisReply *r)
{
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return false;
	for (size_t j = 0; j < r->elements; j++)
		if (r->element[j]->type != REDIS_REPLY_STRING)
			return false;
	return true;
}

static int64_t field_start(const redisReply *f, bool *ok)
{
	char *end;
	long long v = strtoll(f->str, &end, 10);
	*ok = end != f->str && *end == '\0';
	return v;
}

int vel_redis_parse_reads(redisReply **replies, int nreplies,
			  const rules_velocity_def *defs, int n,
			  const cJSON *event, int64_t now_ms, double *out,
			  bool *has)
{
	int rc = 0, k = 0;
	for (int i = 0; i < n; i++) {
		out[i] = 0;
		has[i] = false;
	}
	if (!cJSON_IsObject(event))
		return RK_EINVAL;
	for (int i = 0; i < n; i++) {
		const rules_velocity_def *d = &defs[i];
		char key[KEY_MAX];
		int kl = key_of(d, event, key);
		if (kl == RK_EINVAL && !rc)
			rc = kl;
		if (kl < 0)
			continue;
		if (k >= nreplies)
			return RK_EINVAL;
		const redisReply *r = replies[k++];
		if (d->agg == RULES_AGG_DISTINCT) {
			if (!r || r->type != REDIS_REPLY_INTEGER) {
				rc = RK_EIO;
				continue;
			}
			out[i] = (double)r->integer;
		} else {
			if (!hash_ok(r)) {
				rc = RK_EIO;
				continue;
			}
			int64_t b = vel_bucket_ms(d->window_ms);
			int64_t lo = floordiv(now_ms - d->window_ms, b) * b;
			double v = 0;
			for (size_t j = 0; j < r->elements; j += 2) {
				bool ok;
				int64_t st = field_start(r->element[j], &ok);
				const char *val = r->element[j + 1]->str;
				if (ok && st >= lo)
					v += strtod(val, NULL);
			}
			out[i] = v;
		}
		has[i] = true;
	}
	return k == nreplies ? rc : RK_EINVAL;
}

int vel_redis_append_records(redisContext *c, const rules_velocity_def *defs,
			     int n, const cJSON *event, int64_t now_ms,
			     int *nreplies)
{
	int rc = cJSON_IsObject(event) ? 0 : RK_EINVAL;
	*nreplies = 0;
	for (int i = 0; i < n && cJSON_IsObject(event); i++) {
		const rules_velocity_def *d = &defs[i];
		char key[KEY_MAX], a[40], b[40], m[VEL_TEXT_MAX + 1], ttl[32];
		int kl = key_of(d, event, key), r = 0;
		if (kl == RK_EINVAL)
			rc = kl;
		if (kl < 0)
			continue;
		const cJSON *f =
			d->field ? vel_path_get(event, d->field) : NULL;
		int64_t bms = vel_bucket_ms(d->window_ms);
		if (d->agg == RULES_AGG_DISTINCT) {
			int ml = vel_text(f, m, sizeof(m));
			if (ml < 0)
				continue;
			int al = snprintf(a, sizeof(a), "%" PRId64, now_ms);
			int bl = snprintf(b, sizeof(b), "%" PRId64,
					  now_ms - d->window_ms);
			int rl = snprintf(ttl, sizeof(ttl), "-%d",
					  VEL_DISTINCT_MAX + 1);
			const char *zadd[] = {"ZADD", key, "GT", a, m};
			size_t zaddl[] = {4, (size_t)kl, 2, (size_t)al,
					  (size_t)ml};
			const char *zrem[] = {"ZREMRANGEBYSCORE", key, "-inf",
					      b};
			size_t zreml[] = {16, (size_t)kl, 4, (size_t)bl};
			const char *zcap[] = {"ZREMRANGEBYRANK", key, "0", ttl};
			size_t zcapl[] = {15, (size_t)kl, 1, (size_t)rl};
			r = append(c, 5, zadd, zaddl, nreplies);
			if (!r)
				r = append(c, 4, zrem, zreml, nreplies);
			if (!r)
				r = append(c, 4, zcap, zcapl, nreplies);
		} else {
			if (d->agg == RULES_AGG_SUM &&
			    (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)))
				continue;
			int al = snprintf(a, sizeof(a), "%" PRId64,
					  floordiv(now_ms, bms) * bms);
			int bl = d->agg == RULES_AGG_SUM
					 ? snprintf(b, sizeof(b), "%.17g",
						    f->valuedouble)
					 : snprintf(b, sizeof(b), "1");
			const char *cmd = d->agg == RULES_AGG_SUM
						  ? "HINCRBYFLOAT"
						  : "HINCRBY";
			const char *argv[] = {cmd, key, a, b};
			size_t len[] = {strlen(cmd), (size_t)kl, (size_t)al,
					(size_t)bl};
			r = append(c, 4, argv, len, nreplies);
		}
		if (!r) {
			/* count/sum: the oldest bucket lives one bucket past
			 * the window; distinct members expire with it */
			int64_t keep = d->window_ms +
				       (d->agg == RULES_AGG_DISTINCT ? 0 : bms);
			int tl = snprintf(ttl, sizeof(ttl), "%" PRId64, keep);
			const char *argv[] = {"PEXPIRE", key, ttl};
			size_t len[] = {7, (size_t)kl, (size_t)tl};
			r = append(c, 3, argv, len, nreplies);
		}
		if (r < 0)
			return r;
	}
	return rc;
}

int vel_redis_append_prunes(redisContext *c, redisReply **replies,
			    int nreplies, const rules_velocity_def *defs, int n,
			    const cJSON *event, int64_t now_ms, int *nout)
{
	int k = 0;
	*nout = 0;
	if (!cJSON_IsObject(event))
		return RK_EINVAL;
	for (int i = 0; i < n; i++) {
		const rules_velocity_def *d = &defs[i];
		char key[KEY_MAX];
		int kl = key_of(d, event, key);
		if (kl < 0)
			continue;
		if (k >= nreplies)
			return RK_EINVAL;
		const redisReply *r = replies[k++];
		if (d->agg == RULES_AGG_DISTINCT || !hash_ok(r))
			continue;
		int64_t b = vel_bucket_ms(d->window_ms);
		int64_t lo = floordiv(now_ms - d->window_ms, b) * b;
		size_t nf = 0;
		for (size_t j = 0; j < r->elements; j += 2) {
			bool ok;
			int64_t st = field_start(r->element[j], &ok);
			nf += !ok || st < lo;
		}
		if (!nf)
			continue;
		const char **argv = rk_malloc((nf + 2) * sizeof(*argv));
		size_t *len = rk_malloc((nf + 2) * sizeof(*len));
		int rc = argv && len ? 0 : RK_ENOMEM;
		if (!rc) {
			argv[0] = "HDEL";
			len[0] = 4;
			argv[1] = key;
			len[1] = (size_t)kl;
			size_t a = 2;
			for (size_t j = 0; j < r->elements; j += 2) {
				bool ok;
				int64_t st = field_start(r->element[j], &ok);
				if (ok && st >= lo)
					continue;
				argv[a] = r->element[j]->str;
				len[a++] = r->element[j]->len;
			}
			rc = append(c, (int)a, argv, len, nout);
		}
		rk_free(argv);
		rk_free(len);
		if (rc < 0)
			return rc;
	}
	return 0;
}
