/*
 * data.h - riskd's data tier: what rules read beyond the event. Feature
 * groups come from the L1 cache (cache/l1.h) in front of Redis (the
 * active region of cache/region.h); velocity aggregates from Redis or,
 * with no Redis configured, from the in-process store (cache/velocity.h).
 * One svc_data per process, shared by every worker. The fetch stage of
 * handlers_score.c calls svc_data_fetch, the features API calls the
 * put/get pair, /v1/regions, /readyz and /metrics read the status.
 * Redis keys and channels are in docs/internals/cache.md.
 */
#ifndef SVC_DATA_H
#define SVC_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/jw.h"
#include "../rules/rules.h"
#include "config.h"

struct cJSON;
struct rp_pipe;

#define SVC_MAX_GROUPS 16
#define SVC_MAX_VELOCITY 64

/* Redis key prefix of feature hashes and the invalidation channel. */
#define SVC_FEATURE_PREFIX "riskd:f:"
#define SVC_INVALIDATE_CHANNEL "riskd:invalidate"
/* Channel of rule-set change notices (engine_redis.c publishes and follows). */
#define SVC_RULES_CHANNEL "riskd:rules"

typedef struct svc_data svc_data;

/* Where one feature group's values came from (explain). */
typedef struct svc_group_src {
	const char *group;
	const char *source;      /* "l1", "redis", "none" */
	int64_t age_ms;          /* -1 unknown */
} svc_group_src;

/* What the fetch stage found for one event. */
typedef struct svc_fetch {
	const struct cJSON *features;  /* {"group": {...}} or NULL */
	const struct cJSON *velocity;  /* {"name": n} or NULL */
	svc_group_src groups[SVC_MAX_GROUPS];
	int ngroups;
	const char *velocity_source;   /* "redis", "process", "envelope" */
	const char *region;            /* region that answered, or NULL */
	bool degraded;
	const char *degraded_reasons[3];
	int ndegraded;
} svc_fetch;

/* Starts the tier from c (regions, L1 bounds, health settings). NULL with
 * err on a bad setting or when memory or threads could not be had. */
svc_data *svc_data_new(const svc_config *c, char *err, size_t errlen);
/* Stops its threads and frees it. NULL is a no-op. */
void svc_data_free(svc_data *d);
/* Redis regions are configured. */
bool svc_data_has_redis(const svc_data *d);
/* The regions (cache/region.h), NULL without Redis: for modules that keep
 * keys of their own in Redis (rule sets). Lives as long as d. */
struct rg_t *svc_data_rg(svc_data *d);
/* fn(ud, msg, len) is called, from a subscriber thread, for every message
 * on SVC_RULES_CHANNEL from now on (one hook; NULL fn removes it). */
void svc_data_on_rules(svc_data *d,
		       void (*fn)(void *ud, const char *msg, size_t len),
		       void *ud);

/*
 * The fetch stage: every feature group and velocity value the rules of
 * set read for event, within deadline_us. All cJSON it builds lives in
 * mem (the request's arena). Never fails the request: what cannot be had
 * in time reads as null and out->degraded says why.
 */
void svc_data_fetch(svc_data *d, const rules_set *set,
		    const struct cJSON *event, int64_t deadline_us, arena *mem,
		    svc_fetch *out);
/* Largest batch of svc_data_fetch_many. */
#define SVC_FETCH_BATCH 16

/* One request of a batched fetch. */
typedef struct svc_data_req {
	const rules_set *set;
	const struct cJSON *event;
	int64_t deadline_us;
	arena *mem;             /* the request's arena (cJSON and state) */
	svc_fetch *out;
} svc_data_req;

/*
 * svc_data_fetch for n (<= SVC_FETCH_BATCH) requests at once: what they
 * need from Redis goes in ONE pipelined round trip, bounded by the
 * earliest of their deadlines. A worker that finds several scores
 * queued takes them together (pool.h), so under load a round trip, a
 * wake-up and Redis's own per-read work serve many requests.
 */
void svc_data_fetch_many(svc_data *d, const svc_data_req *qs, int n);
/* The outcomes of svc_data_fetch_start. */
enum { SVC_FETCH_DONE, SVC_FETCH_SENT, SVC_FETCH_WAIT };
/*
 * The fetch stage on an event loop (loop.h), which must never wait:
 * SVC_FETCH_DONE with q->out filled when nothing needed Redis, or Redis
 * could not be asked (then degraded); SVC_FETCH_SENT when the request's
 * reads went out as one round on p (cache/rpipe.h): done(ud) is called
 * once, from the loop, with q->out filled (q's event, mem and out must
 * live until then); SVC_FETCH_WAIT, nothing claimed, when another
 * request is fetching a key this one needs (coalescing waits for it):
 * run svc_data_fetch on a thread that may block.
 */
int svc_data_fetch_start(svc_data *d, struct rp_pipe *p,
			 const svc_data_req *q, void (*done)(void *ud),
			 void *ud);
/* Records event in every velocity definition of set (after scoring;
 * never for simulate): in process, or in Redis - on p, the pipe of the
 * loop the caller runs on (NULL on other threads), with the loop's next
 * write, else queued for the recorder. Never blocks. Failures are
 * counted, not returned. */
void svc_data_record(svc_data *d, const rules_set *set,
		     const struct cJSON *event, struct rp_pipe *p);

/*
 * PUT /v1/features/{group}/{key}: replaces the group's values for key
 * with the fields of obj, in Redis (and drops L1 copies on every instance
 * by a message on SVC_INVALIDATE_CHANNEL) or, without Redis, in L1.
 * 0, RK_EUNAVAIL / RK_ETIMEOUT (Redis), RK_ENOMEM. *region gets the
 * region written (NULL without Redis).
 */
int svc_data_put(svc_data *d, const char *group, const char *key,
		 const struct cJSON *obj, int64_t deadline_us,
		 const char **region);
/*
 * GET /v1/features/{group}/{key}: writes {"group", "key", "values",
 * "source", "age_ms", "region"} into the object open in w. RK_ENOENT
 * when no tier has the key; RK_EUNAVAIL / RK_ETIMEOUT when Redis could
 * not answer.
 */
int svc_data_get(svc_data *d, const char *group, const char *key,
		 int64_t deadline_us, jw *w);

/* Ready for /readyz: no Redis configured, or some region up. */
bool svc_data_ready(svc_data *d);
/* GET /v1/regions into the object open in w. */
void svc_data_regions(svc_data *d, jw *w);
/* The active region's name, or NULL without Redis. */
const char *svc_data_region(svc_data *d);

/* Registers the tier's metrics (cache hits and misses per tier, Redis
 * latency and errors, velocity, invalidations, region state, failovers)
 * in m. Call once, before serving. */
struct metrics_registry;
void svc_data_metrics(svc_data *d, struct metrics_registry *m);

#endif
