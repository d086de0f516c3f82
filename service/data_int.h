/*
 * data_int.h - the data tier's private state, shared by data.c (life
 * cycle, features API, status, metrics) and fetch.c (the fetch stage and
 * velocity recording). Nothing outside those two files includes it.
 */
#ifndef SVC_DATA_INT_H
#define SVC_DATA_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "../cache/l1.h"
#include "../cache/region.h"
#include "../cache/velocity.h"
#include "data.h"

/* Longest L1/Redis key: prefix, group, ':' and the key text. */
#define SVC_KEY_MAX 512

struct metrics_series;

struct svc_data {
	const svc_config *cfg;
	l1_cache *l1;
	rg_t *rg;                 /* NULL: no Redis configured */
	vel_store *vel;           /* in-process velocity (no Redis) */
	struct svc_recorder *rec; /* velocity recording to Redis */
	struct metrics_series *redis_latency;  /* seconds, may be NULL */
	atomic_uint_fast64_t redis_fetches, redis_errors, redis_timeouts;
	atomic_uint_fast64_t redis_fetch_requests; /* scores in those rounds */
	atomic_uint_fast64_t velocity_records, velocity_errors;
	atomic_uint_fast64_t invalidations, degraded;
	pthread_mutex_t hook_mu;  /* the rules hook */
	void (*on_rules)(void *ud, const char *msg, size_t len);
	void *on_rules_ud;
};

/* "riskd:f:<group>:<key>" into buf; its length, or -1 if too long. */
int svc_data_key(char *buf, size_t cap, const char *group, const char *key);
/* A feature hash field's value: its JSON text parsed, or (not JSON) the
 * raw text as a string. NULL on allocation failure. */
struct cJSON *svc_data_value(const char *s, size_t len);
/* One Redis round trip observed (latency histogram). */
void svc_data_observe(svc_data *d, int64_t us);

#endif
