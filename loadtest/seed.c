/*
 * seed.c - what riskload prints for other tools instead of sending it:
 * the generated events (NDJSON, for wrk), and, as Redis protocol for
 * `redis-cli --pipe`, the features of generated cards and users and a
 * full window of velocity history (loadtest/setup.sh seeds both). See
 * seed.h.
 */
#include "seed.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../common/diag.h"
#include "../common/rk.h"
#include "../gen/gen.h"
#include "../rules/rules.h"

/* The generated workload, as riskload sends it (same seed), on stdout. */
int seed_print_events(int n)
{
	static char body[1 << 16];
	gen_rng r;
	gen_params p;
	gen_rng_seed(&r, 42);
	gen_params_default(&p);
	if (n < 0 || gen_params_prepare(&p))
		return 1;
	for (int i = 0; i < n; i++) {
		int len = gen_envelope_json(&r, &p, "payments", 0, body,
					    sizeof(body));
		if (len < 0)
			return 1;
		puts(body);
	}
	return 0;
}

static void resp_bulk(const char *s, size_t n)
{
	printf("$%zu\r\n", n);
	fwrite(s, 1, n, stdout);
	fputs("\r\n", stdout);
}

/* One HSET of a generated entity's features, as RESP. */
static int resp_hset(const char *group, const char *id, const char *json)
{
	cJSON *obj = cJSON_Parse(json);
	if (!cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		return 1;
	}
	char key[160];
	int kl = snprintf(key, sizeof(key), "riskd:f:%s:%s", group, id);
	printf("*%d\r\n", 2 + 2 * cJSON_GetArraySize(obj));
	resp_bulk("HSET", 4);
	resp_bulk(key, (size_t)kl);
	const cJSON *f;
	cJSON_ArrayForEach(f, obj) {
		char *v = cJSON_PrintUnformatted(f);
		if (!v) {
			cJSON_Delete(obj);
			return 1;
		}
		resp_bulk(f->string, strlen(f->string));
		resp_bulk(v, strlen(v));
		cJSON_free(v);
	}
	cJSON_Delete(obj);
	return 0;
}

/* Features of the first n cards and users, for `redis-cli --pipe`. */
int seed_print_features(int n)
{
	char id[64], json[1024];
	for (int i = 0; i < n; i++) {
		if (gen_card_id((uint32_t)i, id, sizeof(id)) < 0 ||
		    gen_card_features_json((uint32_t)i, json, sizeof(json)) < 0 ||
		    resp_hset("card", id, json))
			return 1;
		if (gen_user_id((uint32_t)i, id, sizeof(id)) < 0 ||
		    gen_user_features_json((uint32_t)i, json, sizeof(json)) < 0 ||
		    resp_hset("user", id, json))
			return 1;
	}
	return fflush(stdout) ? 1 : 0;
}

/*
 * A full window of buckets per count/sum velocity of the generated rule
 * set on card.id or user.id, for entities 0..n-1, in riskd's layout
 * (docs/internals/cache.md "Redis layout": riskd:v:{name}:{entity}:c|s,
 * field = bucket start ms, a bucket = window / 60, expiry window +
 * bucket). Values: 1 event (count) or 40.5 (sum) a bucket, far below
 * the generated rules' thresholds, so the decisions do not change;
 * generated ids need no key-form escaping.
 */
int seed_print_velocity(int n)
{
	char *txt = gen_ruleset_json(1, 0x5eed);
	rk_diags dg;
	rk_diags_init(&dg);
	rules_def *def = txt ? rules_def_parse(txt, strlen(txt), &dg) : NULL;
	rk_diags_cleanup(&dg);
	rk_free(txt);
	if (!def)
		return 1;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (int i = 0; i < n; i++) {
		for (int v = 0; v < def->nvelocity; v++) {
			const rules_velocity_def *d = &def->velocity[v];
			bool card = !strcmp(d->entity, "card.id");
			if (d->agg == RULES_AGG_DISTINCT ||
			    (!card && strcmp(d->entity, "user.id")))
				continue;
			char id[64], key[256], f[32], ttl[32];
			if ((card ? gen_card_id((uint32_t)i, id, sizeof(id))
				  : gen_user_id((uint32_t)i, id, sizeof(id))) < 0) {
				rules_def_free(def);
				return 1;
			}
			int64_t b = d->window_ms / 60 > 0 ? d->window_ms / 60 : 1;
			int kl = snprintf(key, sizeof(key), "riskd:v:%s:%s:%c",
					  d->name, id,
					  d->agg == RULES_AGG_SUM ? 's' : 'c');
			const char *val = d->agg == RULES_AGG_SUM ? "40.5" : "1";
			printf("*%d\r\n", 2 + 2 * 60);
			resp_bulk("HSET", 4);
			resp_bulk(key, (size_t)kl);
			for (int k = 0; k < 60; k++) {
				int fl = snprintf(f, sizeof(f), "%lld",
						  (long long)((now / b - k) * b));
				resp_bulk(f, (size_t)fl);
				resp_bulk(val, strlen(val));
			}
			int tl = snprintf(ttl, sizeof(ttl), "%lld",
					  (long long)(d->window_ms + b));
			printf("*3\r\n");
			resp_bulk("PEXPIRE", 7);
			resp_bulk(key, (size_t)kl);
			resp_bulk(ttl, (size_t)tl);
		}
	}
	rules_def_free(def);
	return fflush(stdout) ? 1 : 0;
}
