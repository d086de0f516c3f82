/*
 * health.c - the regions' health: one prober thread per region PINGs it
 * every interval on its own connection (connect and PING bounded by the
 * health timeout; a hung region never delays another's pings), and the
 * state machine that both the probers and the request path (rg_release,
 * rg_acquire) feed: consecutive failures take a region down, consecutive
 * successful pings bring it up, and the active region follows (failover
 * away from a down region; failback home only after a stable run).
 * Neighbours: region.c (pool, lifecycle), region_int.h (structures).
 */
#include "region_int.h"

#include <stdio.h>
#include <string.h>

#include "../common/rk.h"

/* One PING on *hc, connecting first if needed. true on +PONG; the
 * command's round trip in *rtt_us. A connection that failed is closed. */
static bool ping(rg_t *rg, struct rg_region *r, redisContext **hc,
		 int64_t *rtt_us, char *err, size_t errlen)
{
	int64_t timeout_us = rg->cfg.health_timeout_ms * 1000;
	if (!*hc) {
		*hc = rg__connect(&r->cfg, timeout_us, err, errlen);
		if (!*hc)
			return false;
		struct timeval tv = {.tv_sec = (time_t)(timeout_us / 1000000),
				     .tv_usec = (suseconds_t)(timeout_us %
							      1000000)};
		if (redisSetTimeout(*hc, tv) != REDIS_OK) {
			snprintf(err, errlen, "set timeout: %s",
				 (*hc)->errstr);
			goto out_close;
		}
	}
	int64_t t0 = rk_now_us();
	redisReply *rep = redisCommand(*hc, "PING");
	*rtt_us = rk_now_us() - t0;
	if (!rep) {
		snprintf(err, errlen, "PING: %s", (*hc)->errstr);
		goto out_close;
	}
	bool ok = rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG");
	if (!ok)
		snprintf(err, errlen, "PING: %.80s",
			 rep->type == REDIS_REPLY_ERROR ? rep->str
							: "unexpected reply");
	freeReplyObject(rep);
	return ok;

out_close:
	redisFree(*hc);
	*hc = NULL;
	return false;
}

static void *prober(void *arg)
{
	struct rg_region *r = arg;
	rg_t *rg = r->rg;
	int idx = (int)(r - rg->r);
	int64_t interval = rg->cfg.health_interval_ms * 1000;
	redisContext *hc = NULL;
	int64_t next = rk_now_us();
	for (;;) {
		char err[160] = "";
		int64_t rtt = 0;
		bool ok = ping(rg, r, &hc, &rtt, err, sizeof(err));
		rg__record(rg, idx, ok, rtt, err, false);
		rg__emit(rg);
		int64_t now = rk_now_us();
		next += interval;
		if (next <= now) /* a slow round: skip, keep the phase */
			next += ((now - next) / interval + 1) * interval;
		if (!rg__sleep_until(rg, next))
			break;
	}
	redisFree(hc);
	return NULL;
}

int rg__start_probers(rg_t *rg)
{
	for (int i = 0; i < rg->n; i++) {
		rg->r[i].rg = rg;
		if (pthread_create(&rg->r[i].prober, NULL, prober, &rg->r[i]))
			return RK_ENOMEM;
		pthread_setname_np(rg->r[i].prober, "riskd-health");
		rg->r[i].prober_started = true;
	}
	return 0;
}

/*
 * With rg->mu held: moves the active region when it is down (to home if
 * home is up, else the first region that is up; it stays put when none
 * is), or back home when home has answered recover_threshold pings in a
 * row and its run of successes is at least failback_min_ms old.
 */
void rg__decide(rg_t *rg)
{
	int a = rg->active, home = rg->home;
	struct rg_region *h = &rg->r[home];
	if (!rg->r[a].up) {
		int to = h->up ? home : -1;
		for (int i = 0; to < 0 && i < rg->n; i++) {
			if (rg->r[i].up)
				to = i;
		}
		if (to < 0 || to == a)
			return;
		rg->active = to;
		rg->failovers++;
		rg__event(rg, "regions: failover from %s to %s (%s down: %s)",
			  rg->r[a].cfg.name, rg->r[to].cfg.name,
			  rg->r[a].cfg.name, rg->r[a].last_err);
		return;
	}
	if (a == home || !h->up || h->succ < rg->cfg.recover_threshold)
		return;
	int64_t up_ms = (rk_now_us() - h->streak_us) / 1000;
	if (up_ms < rg->cfg.failback_min_ms)
		return;
	rg->active = home;
	rg->failovers++;
	rg__event(rg,
		  "regions: failback from %s to home %s (%d pings in a row, "
		  "up %lld ms)",
		  rg->r[a].cfg.name, h->cfg.name, h->succ, (long long)up_ms);
}

/*
 * One result for a region: a PING (from_request false) or a request
 * (true, failures only). A region's first PING sets its start state;
 * after that fail_threshold consecutive failures take it down and
 * recover_threshold consecutive successful PINGs bring it up. Every
 * failure closes the region's idle connections (after a Redis restart
 * they are all dead) and ends its run of successes.
 */
void rg__record(rg_t *rg, int idx, bool ok, int64_t rtt_us,
		const char *err, bool from_request)
{
	rg_conn *dead = NULL;
	pthread_mutex_lock(&rg->mu);
	struct rg_region *r = &rg->r[idx];
	bool first = !r->probed && !from_request;
	if (first) {
		r->probed = true;
		rg->nprobed++;
		pthread_cond_broadcast(&rg->cv);
	}
	if (ok) {
		if (r->succ == 0)
			r->streak_us = rk_now_us();
		r->succ++;
		r->fails = 0;
		r->rtt_us = rtt_us;
		if (!r->up && (first || r->succ >= rg->cfg.recover_threshold)) {
			r->up = true;
			r->changed_ms = rg__wall_ms();
			if (!first)
				rg__event(rg,
					  "regions: %s up (%d pings in a row)",
					  r->cfg.name, r->succ);
		}
	} else {
		r->fails++;
		r->succ = 0;
		r->gen++;
		snprintf(r->last_err, sizeof(r->last_err), "%s", err);
		rg__drain_idle(r, &dead);
		if (first) {
			r->changed_ms = rg__wall_ms();
			rg__event(rg, "regions: %s down at start (%s)",
				  r->cfg.name, r->last_err);
		} else if (r->up && r->fails >= rg->cfg.fail_threshold) {
			r->up = false;
			r->changed_ms = rg__wall_ms();
			rg__event(rg,
				  "regions: %s down (%d failures in a row, "
				  "last: %s)",
				  r->cfg.name, r->fails, r->last_err);
		}
	}
	if (rg->started)
		rg__decide(rg);
	pthread_mutex_unlock(&rg->mu);
	rg__close_list(dead);
}
