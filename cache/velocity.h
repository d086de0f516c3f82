/*
 * velocity.h - online aggregates of SPEC §2 "Velocity": count, sum of a
 * field, or distinct count of a field, per entity, over a sliding window.
 * Two back ends share one contract: velocity.c keeps them in process (no
 * Redis configured), velocity_redis.c encodes them as Redis commands that
 * the caller pipelines with its feature reads. The rule engine reads the
 * values as `velocity.<name>` from the object vel_to_json builds.
 * See docs/internals/cache.md "Velocity". Neighbours: rules/rules.h.
 */
#ifndef CACHE_VELOCITY_H
#define CACHE_VELOCITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"

struct cJSON;
struct redisContext;
struct redisReply;

/*
 * Time is wall-clock epoch milliseconds (vel_now_ms), so every instance
 * writing to one Redis shares the bucket boundaries. A window of W ms is
 * cut into buckets of B = W / VEL_BUCKETS ms aligned on the epoch; count
 * and sum at time t add the buckets that overlap (t - W, t]: every event
 * of the window is counted, and an event up to one bucket older than the
 * window may still be (the granularity error, at most 1/60 of W).
 * Distinct is exact: members last seen in (t - W, t].
 */
#define VEL_BUCKETS 60
/* Members a distinct aggregate remembers per entity (the newest). */
#define VEL_DISTINCT_MAX 1024
/* Bytes of an entity or member in its key form (longer ones hashed). */
#define VEL_TEXT_MAX 128

/* Wall-clock time in epoch milliseconds (CLOCK_REALTIME). */
int64_t vel_now_ms(void);
/* Bucket size of a window: window_ms / VEL_BUCKETS, at least 1. */
int64_t vel_bucket_ms(int64_t window_ms);
/*
 * A definition both back ends accept: name and entity set, window 1m to
 * 30d, a known agg, a field for sum and distinct (rules_def_parse
 * guarantees all of it; others are skipped with RK_EINVAL).
 */
bool vel_def_is_valid(const rules_velocity_def *d);

/*
 * The value at dot path `path` of event ("card.id", "items[0].sku",
 * "headers[\"user-agent\"]"; a leading "event." names the event itself
 * as in rules), or NULL if absent.
 */
const struct cJSON *vel_path_get(const struct cJSON *event, const char *path);

/*
 * The key form of an entity or member value v into buf (cap >=
 * VEL_TEXT_MAX + 1): a string as itself, a number as its shortest
 * round-trip text (123 and "123" are one entity); bytes outside
 * [A-Za-z0-9._@+-] escaped as %XX; a form longer than VEL_TEXT_MAX
 * replaced by "~" and 32 hex digits of its XXH3-128 hash. Returns the
 * length, or RK_ENOENT when v is no value (NULL, null, "", a boolean,
 * an object or an array).
 */
int vel_text(const struct cJSON *v, char *buf, size_t cap);

/* ---- in-process store ---- */

typedef struct vel_store vel_store;

/*
 * A store holding at most max_entities (velocity, entity) aggregates
 * (at least 1); past that the least recently updated one of the shard is
 * forgotten. Thread-safe: sharded, one mutex per shard, no global lock.
 * Returns NULL on allocation failure.
 */
vel_store *vel_store_new(size_t max_entities);
void vel_store_free(vel_store *s);

/*
 * Reads every definition defs[0..n) for event at now_ms into out[i],
 * has[i] false (out[i] 0) when the event has no value at defs[i].entity.
 * An entity never recorded reads 0. Does not allocate. Returns 0, or
 * RK_EINVAL if event is not an object or a definition is malformed
 * (window outside 1m..30d, no field for sum/distinct): has[i] false.
 */
int vel_store_read(vel_store *s, const rules_velocity_def *defs, int n,
		   const struct cJSON *event, int64_t now_ms, double *out,
		   bool *has);

/*
 * Records event at now_ms in every definition: count adds 1, sum adds the
 * number at defs[i].field (nothing if it is not a number), distinct
 * remembers the value at defs[i].field (nothing if no value). Nothing is
 * recorded where the entity is missing. Returns 0, RK_EINVAL as for
 * vel_store_read, or RK_ENOMEM (the other definitions are still
 * recorded).
 */
int vel_store_record(vel_store *s, const rules_velocity_def *defs, int n,
		     const struct cJSON *event, int64_t now_ms);

/* Aggregates held, and bytes they use (memory accounting, tests). */
size_t vel_store_count(vel_store *s);
size_t vel_store_footprint(vel_store *s);

/* ---- Redis encoding (velocity_redis.c) ---- */

/*
 * Keys (docs/internals/cache.md): riskd:v:<name>:<entity>:<c|s|d> with
 * <entity> in its vel_text form (never contains ':'). Count and sum are
 * hashes of bucket start (ms, decimal) -> count or sum; distinct is a
 * sorted set of member -> last seen ms.
 */

/*
 * Appends to c's output buffer (resp_append; nothing is sent)
 * one read command per definition whose entity the event has; *nreplies
 * gets their number. The caller sends the pipeline and reads the
 * replies with redisGetReply, in order, among its own. Returns 0,
 * RK_EINVAL as for vel_store_read, or RK_ENOMEM (then *nreplies commands
 * are in the buffer and the context should be dropped).
 */
int vel_redis_append_reads(struct redisContext *c,
			   const rules_velocity_def *defs, int n,
			   const struct cJSON *event, int64_t now_ms,
			   int *nreplies);

/*
 * Parses the nreplies replies of vel_redis_append_reads (same defs, n,
 * event and now_ms) into out/has as vel_store_read does. A reply that is
 * NULL, an error or of the wrong type leaves has[i] false and makes the
 * result RK_EIO (the other values are still parsed); a count of replies
 * that does not match gives RK_EINVAL.
 */
int vel_redis_parse_reads(struct redisReply **replies, int nreplies,
			  const rules_velocity_def *defs, int n,
			  const struct cJSON *event, int64_t now_ms,
			  double *out, bool *has);

/*
 * Appends the commands recording event at now_ms (HINCRBY /
 * HINCRBYFLOAT + PEXPIRE; ZADD GT + ZREMRANGEBYSCORE + ZREMRANGEBYRANK +
 * PEXPIRE); *nreplies gets the number of replies to read (status and
 * integers; an error reply means that write failed). Returns as
 * vel_redis_append_reads.
 */
int vel_redis_append_records(struct redisContext *c,
			     const rules_velocity_def *defs, int n,
			     const struct cJSON *event, int64_t now_ms,
			     int *nreplies);

/*
 * Appends one HDEL per count/sum hash whose read reply (the replies of
 * vel_redis_append_reads for the same defs, event and now_ms) shows
 * buckets older than the window; *nreplies gets their number (often 0).
 * Meant to ride with the records, so a hash written every bucket stays
 * at about VEL_BUCKETS + 1 fields. Returns as vel_redis_append_reads.
 */
int vel_redis_append_prunes(struct redisContext *c, struct redisReply **replies,
			    int nreplies, const rules_velocity_def *defs, int n,
			    const struct cJSON *event, int64_t now_ms,
			    int *nout);

/* ---- glue ---- */

/*
 * {"<name>": value or null} for rules_input.velocity from out/has.
 * Caller frees with cJSON_Delete. NULL on allocation failure.
 */
struct cJSON *vel_to_json(const rules_velocity_def *defs, int n,
			  const double *out, const bool *has);

/*
 * Copies into out (room for cap) the definitions the rules of s read,
 * each once, in definition order (shallow copies: strings stay owned by
 * s). Returns their number (at most cap). Read these; record all of
 * rules_set_def(s)->velocity, so a velocity warms up before a rule uses it.
 */
int vel_defs_used(const rules_set *s, rules_velocity_def *out, int cap);

#endif
