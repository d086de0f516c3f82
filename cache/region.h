/*
 * region.h - the Redis tier's connections and dual-region failover
 * (SPEC §7 "Dual-region failover", §8 health-check settings).
 *
 * An rg_t holds 1..4 regions (one is home), a health checker (one prober
 * thread per region, PING every interval), a pool of request connections
 * per region, and the active region that reads and writes go to. Health
 * failures and request-path failures reported through rg_release both
 * move the active region away from a failing one; it returns home only
 * after a stable run of successes. Pub/sub (cache/pubsub.c) listens on
 * every reachable region. docs/internals/cache.md tells the whole story.
 */
#ifndef RG_REGION_H
#define RG_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RG_MAX_REGIONS 4
#define RG_NAME_MAX 32
#define RG_HOST_MAX 256

typedef struct rg_t rg_t;
typedef struct rg_conn rg_conn;

typedef struct rg_region_config {
	char name[RG_NAME_MAX]; /* non-empty, unique */
	char host[RG_HOST_MAX]; /* numeric address or host name */
	int port;               /* 1..65535 */
} rg_region_config;

typedef struct rg_config {
	rg_region_config regions[RG_MAX_REGIONS];
	int nregions;               /* 1..RG_MAX_REGIONS */
	int home;                   /* index of the home region */
	int64_t health_interval_ms; /* PING period (250) */
	int64_t health_timeout_ms;  /* PING and connect timeout (100) */
	int fail_threshold;         /* consecutive failures => down (3) */
	int recover_threshold;      /* consecutive successes => up (5) */
	int64_t failback_min_ms;    /* home up this long before return (30000) */
	int pool_idle_max;          /* idle request connections kept (64) */
	/* Transitions, one line each (region up/down, failover, failback,
	 * pub/sub subscribed); may be NULL. Called from the prober, pub/sub
	 * and request threads, one call at a time, with no rg lock held: it
	 * may call rg_snapshot but not rg_acquire/rg_release. */
	void (*on_event)(void *ud, const char *msg);
	void *ud;
} rg_config;

/* One region as GET /v1/regions shows it. */
typedef struct rg_status {
	char name[RG_NAME_MAX];
	char host[RG_HOST_MAX];
	int port;
	const char *role;   /* "home" or "standby" (static) */
	const char *state;  /* "up" or "down" (static) */
	bool up;
	bool active;
	int64_t rtt_us;     /* last successful PING, -1 before the first */
	int fails;          /* consecutive failures (pings and requests) */
	int successes;      /* consecutive successful pings */
	int64_t changed_ms; /* unix ms of the last up/down change (or start) */
} rg_status;

/* The SPEC §8 defaults, no regions, no callback. */
void rg_config_defaults(rg_config *cfg);

/*
 * Checks cfg, probes every region once (in parallel, bounded by about
 * twice the health timeout) so the start state is known, picks the
 * active region (home when it answered, else the first region that did;
 * home if none did) and starts the prober threads. cfg is copied.
 * Returns NULL with a one-line message in err on an invalid setting or
 * when memory or threads could not be had.
 */
rg_t *rg_new(const rg_config *cfg, char *err, size_t errlen);

/*
 * Stops every thread (within about one health timeout, even with a hung
 * region) and frees everything. Every rg_conn must have been released.
 * rg_free(NULL) is a no-op.
 */
void rg_free(rg_t *rg);

/*
 * A connection to the ACTIVE region: an idle pooled one, or a new one
 * whose connect timeout is the remaining budget. NULL when no region is
 * up, the deadline has passed or the connect failed (a connect that
 * failed before the deadline counts as a request-path failure). The
 * caller owns the connection until rg_release; one thread at a time.
 */
rg_conn *rg_acquire(rg_t *rg, int64_t deadline_us);

/*
 * Gives c back. failed (the caller saw an I/O error or timeout on it):
 * c is closed, and the failure counts against c's region like a failed
 * PING (fail_threshold of them in a row take the region down, even
 * between pings) and drops that region's idle connections. Otherwise c
 * returns to the pool, and the region's run of failures ends (unless c
 * was made before the region's last failure). A
 * connection with an error or unread replies is closed either way.
 * rg_release(rg, NULL, ...) is a no-op.
 */
void rg_release(rg_t *rg, rg_conn *c, bool failed);

/* Closes c without a verdict on its region (a connection given up for
 * reasons of its own user: shutdown, out of memory). NULL: no-op. */
void rg_discard(rg_t *rg, rg_conn *c);

/*
 * Sets c's socket send and receive timeouts to the budget left before
 * deadline_us (redisSetTimeout), so no plain hiredis call on
 * rg_conn_ctx(c) blocks past it. 0, RK_ETIMEOUT if the deadline has
 * passed, RK_EUNAVAIL if the socket refused.
 */
int rg_conn_set_budget(rg_conn *c, int64_t deadline_us);

/*
 * For connections kept across requests (cache/rpipe.h): true while c
 * belongs to the active region and no failure has closed its region's
 * connections since it was made (after a Redis restart they are dead).
 */
bool rg_conn_current(rg_t *rg, const rg_conn *c);
/* A request on a kept connection succeeded: the region's run of
 * request-path failures ends (what rg_release(c, false) does). */
void rg_conn_ok(rg_t *rg, const rg_conn *c);

/* The hiredis context behind c (owned by c). */
redisContext *rg_conn_ctx(rg_conn *c);

/* The name of c's region (lives as long as rg); "region" in responses. */
const char *rg_conn_region(const rg_conn *c);

/*
 * Sends n commands in one write (command i is argc[i] arguments argv[i]
 * with lengths argvlen[i], or NULL for strlen) and reads the n replies,
 * never waiting past deadline_us. 0 with replies[0..n-1] set (owned by
 * the caller: freeReplyObject; Redis error replies are replies, not
 * errors). On failure no reply is left and c must be released with
 * failed=true: RK_ETIMEOUT (deadline), RK_EUNAVAIL (I/O error, closed
 * connection), RK_ENOMEM, RK_EINVAL (n < 1).
 */
int rg_pipeline(rg_conn *c, int n, const char **argv[],
		const size_t *argvlen[], const int *argc, redisReply **replies,
		int64_t deadline_us);

/*
 * The write helper (fine for reads too): acquire a connection to the
 * active region, rg_pipeline, release (failed on an I/O error or
 * timeout). region, if not NULL, gets the name of the region that
 * answered (or the active one on failure). 0 or rg_pipeline's codes;
 * RK_EUNAVAIL when no connection could be had, RK_ETIMEOUT if that was
 * because the deadline passed.
 */
int rg_exec(rg_t *rg, int n, const char **argv[], const size_t *argvlen[],
	    const int *argc, redisReply **replies, int64_t deadline_us,
	    const char **region);

/*
 * Copies every region's state into out (room for RG_MAX_REGIONS), its
 * count into *n, the active index into *active and the number of
 * switches of the active region (failovers and failbacks; the choice
 * made at start is not one) into *failovers. Any out pointer but out may
 * be NULL.
 */
void rg_snapshot(rg_t *rg, rg_status *out, int *n, int *active,
		 uint64_t *failovers);

/* Name of the active region (lives as long as rg). */
const char *rg_active_name(rg_t *rg);

/* Some region is up (for /readyz). */
bool rg_is_ready(rg_t *rg);

/*
 * Keeps a SUBSCRIBE connection on the n channels to every region whose
 * last PING succeeded (one thread per region), so messages published
 * through any region arrive; reconnects after failures with a backoff of
 * 100 ms doubling to 2 s. cb gets each message (channel NUL-terminated,
 * msg binary with len, both valid during the call), one call at a time,
 * from the subscriber threads. Once per rg: RK_ESTATE on a second call;
 * RK_EINVAL for n < 1 or no cb; RK_ENOMEM. Stops on rg_free.
 */
int rg_subscribe(rg_t *rg, const char *const *channels, int n,
		 void (*cb)(void *ud, const char *channel, const char *msg,
			    size_t len),
		 void *ud);

/*
 * PUBLISH through the active region. The number of subscribers that got
 * it (>= 0), or rg_exec's error codes.
 */
int rg_publish(rg_t *rg, const char *channel, const char *msg, size_t len,
	       int64_t deadline_us);

#endif
