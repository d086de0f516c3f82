/*
 * l1.h - the L1 in-process feature cache (SPEC §7 "Caching tiers"): byte-
 * string keys to immutable byte-string values, bounded by entries and by
 * bytes, a TTL per insert, negative entries for known misses, S3-FIFO
 * admission and eviction, and request coalescing (one fetch per key in
 * flight). Sharded by XXH3 of the key, one short mutex per shard: no
 * global lock. The L2 Redis tier (region.h) sits behind it.
 * See docs/internals/cache.md "L1".
 */
#ifndef CACHE_L1_H
#define CACHE_L1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct l1_cache l1_cache;

typedef struct l1_config {
	size_t max_entries;   /* cached entries at most (>= shards) */
	size_t max_bytes;     /* key + value + l1_entry_overhead() per entry */
	int shards;           /* power of two <= 4096; 0 = 64 (fewer for a
			       * small cache: >= 8 entries and 4 KiB each) */
	int64_t claim_timeout_ms; /* a claim not filled by then may be taken
				   * over by another caller; 0 = 1000 */
} l1_config;

/*
 * A new cache, or NULL on a bad configuration (max_entries or max_bytes
 * 0, shards not a power of two, fewer than one entry or than
 * l1_entry_overhead() + 1 bytes per shard) or allocation failure. The
 * bounds are split evenly over the shards and each shard keeps its share.
 */
l1_cache *l1_new(const l1_config *cfg);

/* Frees the cache and every entry; NULL is a no-op. No caller may be
 * inside l1_* on it (in particular none may be waiting in l1_wait). */
void l1_free(l1_cache *c);

/* What l1_get and l1_wait found (non-negative; errors are RK_E*). */
enum l1_status {
	L1_HIT = 0,      /* a value: copied into buf */
	L1_NEGATIVE = 1, /* a cached "known missing" marker */
	L1_MISS = 2,     /* nothing cached (claim false) */
	L1_CLAIMED = 3,  /* nothing cached; the caller now owns the fetch and
			  * must call l1_put or l1_abandon for the key */
	L1_PENDING = 4,  /* nothing cached; another caller's fetch is in
			  * flight (claim true, or l1_wait's deadline passed) */
};

/*
 * Looks key up at time now_us (rk_now_us's clock; an entry lives while
 * now_us < insert time + ttl). Returns an l1_status or a negative RK_E*:
 *   L1_HIT: the value is copied into buf and *len set to its length;
 *     if cap < length, nothing is copied, *len is set to the length
 *     needed and RK_ELIMIT is returned (buf may be NULL with cap 0 to ask
 *     the size). *age_us = now_us - insert time (HIT and NEGATIVE).
 *   L1_NEGATIVE: a cached miss (*len 0).
 *   Nothing cached, claim false: L1_MISS. Claim true: L1_CLAIMED when no
 *     fetch is in flight or its claim is older than the claim timeout
 *     (the old owner's later fill still completes it), else L1_PENDING.
 *     RK_ENOMEM when the claim could not be recorded (fetch uncoalesced).
 * len and age_us may be NULL. RK_EINVAL for klen > 65,535.
 */
int l1_get(l1_cache *c, const char *key, size_t klen, int64_t now_us,
	   bool claim, char *buf, size_t cap, size_t *len, int64_t *age_us);

/*
 * Caches a copy of val (vlen bytes) for key for ttl_ms (> 0; at most
 * 2^32 - 1) from now_us, replacing any entry; val NULL stores a negative
 * entry. Completes and wakes a claim on key whatever the outcome. A fill
 * of a claim that an invalidation (l1_del, l1_clear) hit while in flight
 * is not cached (it may predate the write) and returns 0. Evicts to keep
 * the shard within its bounds. 0, RK_EINVAL (ttl, klen), RK_ELIMIT (one
 * entry larger than a shard's byte share), RK_ENOMEM; on any of these
 * but a bad klen the key's previous entry is dropped too (it is older
 * than the put).
 */
int l1_put(l1_cache *c, const char *key, size_t klen, const char *val,
	   size_t vlen, int64_t now_us, int64_t ttl_ms);

/* Releases a claim on key without a value (the fetch failed) and wakes
 * the waiters. No-op when key has no claim in flight. */
void l1_abandon(l1_cache *c, const char *key, size_t klen);

/*
 * Waits until the fetch in flight for key completes (l1_put, l1_abandon)
 * or deadline_us (rk_now_us clock) passes, then answers like l1_get
 * without claim at rk_now_us(), except that a fetch still in flight at
 * the deadline gives L1_PENDING.
 */
int l1_wait(l1_cache *c, const char *key, size_t klen, int64_t deadline_us,
	    char *buf, size_t cap, size_t *len, int64_t *age_us);

/* Invalidation: drops key's entry (value or negative) and marks a fetch in
 * flight so its fill is not cached. True if there was either. */
bool l1_del(l1_cache *c, const char *key, size_t klen);

/* Drops every entry; fetches in flight are marked as by l1_del. */
void l1_clear(l1_cache *c);

typedef struct l1_stats {
	uint64_t hits, negative_hits, misses, inserts, evictions, expirations,
		invalidations, coalesced;
	size_t entries, bytes;   /* now; bytes as counted against max_bytes */
} l1_stats;

/* Sums the shards' counters (each shard read under its lock). */
void l1_stats_get(const l1_cache *c, l1_stats *out);

/*
 * Bytes counted per entry beyond key and value: the entry header, the
 * allocator's worst case (glibc: 8-byte chunk header, 16-byte rounding)
 * and the entry's share of the hash table and the ghost queue. <= 100.
 */
size_t l1_entry_overhead(void);

#endif
