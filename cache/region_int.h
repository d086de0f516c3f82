/*
 * region_int.h - private structures of the Redis region tier, shared by
 * region.c (lifecycle, connection pool, pipelines), health.c (prober
 * threads, up/down state, the choice of the active region) and pubsub.c
 * (subscriber threads). Nothing outside cache/region*.c, health.c and
 * pubsub.c includes it; the contracts are in region.h.
 */
#ifndef RG_REGION_INT_H
#define RG_REGION_INT_H

#include <pthread.h>

#include "region.h"

#define RG_EVQ 32     /* queued transition messages */
#define RG_EVMSG 200  /* bytes per message */

struct rg_conn {
	redisContext *ctx;
	const char *name; /* the region's name, owned by rg */
	int region;
	uint64_t gen;     /* region generation when connected */
	bool broken;      /* unread replies or I/O error: never pooled */
	rg_conn *next;    /* idle list */
};

struct rg_region {
	rg_region_config cfg;
	rg_t *rg;           /* back pointer for the prober thread */
	bool up;
	int fails;          /* consecutive failures, pings and requests */
	int succ;           /* consecutive successful pings */
	int64_t rtt_us;     /* last successful PING, -1 before */
	int64_t streak_us;  /* monotonic time of the run's first success */
	int64_t changed_ms; /* wall clock of the last up/down change */
	uint64_t gen;       /* bumped on each failure: idle conns older die */
	rg_conn *idle;
	int nidle;
	bool probed;        /* the first probe has answered */
	char last_err[96];
	pthread_t prober;
	bool prober_started;
};

struct rg_sub;

struct rg_t {
	rg_config cfg;
	struct rg_region r[RG_MAX_REGIONS];
	int n;
	int home;
	int active;
	uint64_t failovers;
	bool started;        /* start state known: transitions may happen */
	int nprobed;
	bool stop;
	int wakefd;          /* eventfd, readable once rg_free has begun */
	pthread_mutex_t mu;  /* everything above and the regions */
	pthread_cond_t cv;   /* CLOCK_MONOTONIC: stop, first probes */
	pthread_mutex_t emit_mu; /* one on_event call at a time, in order */
	char evq[RG_EVQ][RG_EVMSG];
	int evhead, evcount;
	struct rg_sub *sub;  /* pubsub.c */
};

/* health.c */
int rg__start_probers(rg_t *rg);
void rg__record(rg_t *rg, int region, bool ok, int64_t rtt_us,
		const char *err, bool from_request);
void rg__decide(rg_t *rg);

/* region.c */
void rg__event(rg_t *rg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rg__emit(rg_t *rg);
int64_t rg__wall_ms(void);
redisContext *rg__connect(const rg_region_config *rc, int64_t timeout_us,
			  char *err, size_t errlen);
int rg__flush(redisContext *ctx, int64_t deadline_us);
bool rg__sleep_until(rg_t *rg, int64_t until_us);
void rg__drain_idle(struct rg_region *r, rg_conn **out);
void rg__close_list(rg_conn *list);

/* pubsub.c */
void rg__sub_free(rg_t *rg);

#endif
