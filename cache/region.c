/*
 * region.c - the Redis tier's regions: configuration, lifecycle, the
 * per-region pool of request connections and deadline-bounded pipelines
 * (see region.h). The up/down state machine and the prober threads are
 * in health.c, the subscriber threads in pubsub.c; region_int.h holds
 * the structures they share. Transition messages are queued under the
 * lock and handed to on_event after it is released, in order.
 */
#include "region_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/rk.h"

void rg_config_defaults(rg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->health_interval_ms = 250;
	cfg->health_timeout_ms = 100;
	cfg->fail_threshold = 3;
	cfg->recover_threshold = 5;
	cfg->failback_min_ms = 30000;
	cfg->pool_idle_max = 64;
}

int64_t rg__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval to_tv(int64_t us)
{
	struct timeval tv;
	if (us < 1)
		us = 1; /* a zero timeval would mean "no timeout" */
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	return tv;
}

/* Called with rg->mu held. Drops the oldest message when the queue is
 * full (only a callback that blocks for long can make it so). */
void rg__event(rg_t *rg, const char *fmt, ...)
{
	if (!rg->cfg.on_event)
		return;
	if (rg->evcount == RG_EVQ) {
		rg->evhead = (rg->evhead + 1) % RG_EVQ;
		rg->evcount--;
	}
	char *slot = rg->evq[(rg->evhead + rg->evcount) % RG_EVQ];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(slot, RG_EVMSG, fmt, ap);
	va_end(ap);
	rg->evcount++;
}

/* Called without rg->mu: delivers the queued messages. emit_mu is taken
 * before mu (never the other way) so the order is kept and the callback
 * may take mu (rg_snapshot). */
void rg__emit(rg_t *rg)
{
	if (!rg->cfg.on_event)
		return;
	char msgs[RG_EVQ][RG_EVMSG];
	pthread_mutex_lock(&rg->emit_mu);
	pthread_mutex_lock(&rg->mu);
	int n = rg->evcount;
	for (int i = 0; i < n; i++)
		memcpy(msgs[i], rg->evq[(rg->evhead + i) % RG_EVQ], RG_EVMSG);
	rg->evhead = rg->evcount = 0;
	pthread_mutex_unlock(&rg->mu);
	for (int i = 0; i < n; i++)
		rg->cfg.on_event(rg->cfg.ud, msgs[i]);
	pthread_mutex_unlock(&rg->emit_mu);
}

redisContext *rg__connect(const rg_region_config *rc, int64_t timeout_us,
			  char *err, size_t errlen)
{
	redisContext *ctx =
		redisConnectWithTimeout(rc->host, rc->port, to_tv(timeout_us));
	if (!ctx) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (ctx->err) {
		snprintf(err, errlen, "connect %s:%d: %s", rc->host, rc->port,
			 ctx->errstr);
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

/* Waits until fd is ready for events or deadline_us: 0 or RK_ETIMEOUT.
 * POLLERR/POLLHUP count as ready so the next read or write sees them. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
	for (;;) {
		int64_t left = deadline_us - rk_now_us();
		if (left <= 0)
			return RK_ETIMEOUT;
		struct pollfd p = {.fd = fd, .events = events};
		struct timespec ts = {.tv_sec = (time_t)(left / 1000000),
				      .tv_nsec = (long)(left % 1000000) * 1000};
		int rc = ppoll(&p, 1, &ts, NULL);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return RK_EUNAVAIL;
	}
}

static int io_error(int64_t deadline_us)
{
	return rk_now_us() >= deadline_us ? RK_ETIMEOUT : RK_EUNAVAIL;
}

/* Writes ctx's output buffer, never blocking past deadline_us. */
int rg__flush(redisContext *ctx, int64_t deadline_us)
{
	int64_t left = deadline_us - rk_now_us();
	if (left <= 0)
		return RK_ETIMEOUT;
	/* SO_SNDTIMEO bounds a write that poll said could start. */
	if (redisSetTimeout(ctx, to_tv(left)) != REDIS_OK)
		return RK_EUNAVAIL;
	int done = 0;
	while (!done) {
		int rc = wait_fd(ctx->fd, POLLOUT, deadline_us);
		if (rc)
			return rc;
		if (redisBufferWrite(ctx, &done) != REDIS_OK)
			return io_error(deadline_us);
	}
	return 0;
}

/* Waits on rg->cv until until_us or stop; false when stopping. */
bool rg__sleep_until(rg_t *rg, int64_t until_us)
{
	pthread_mutex_lock(&rg->mu);
	while (!rg->stop) {
		int64_t now = rk_now_us();
		if (now >= until_us)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (until_us - now) % 1000000 * 1000;
		ts.tv_sec += (time_t)((until_us - now) / 1000000 +
				      ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&rg->cv, &rg->mu, &ts);
	}
	bool run = !rg->stop;
	pthread_mutex_unlock(&rg->mu);
	return run;
}

/* With rg->mu held: moves r's idle connections onto *out. */
void rg__drain_idle(struct rg_region *r, rg_conn **out)
{
	while (r->idle) {
		rg_conn *c = r->idle;
		r->idle = c->next;
		c->next = *out;
		*out = c;
	}
	r->nidle = 0;
}

void rg__close_list(rg_conn *list)
{
	while (list) {
		rg_conn *next = list->next;
		redisFree(list->ctx);
		rk_free(list);
		list = next;
	}
}

static int check_config(const rg_config *cfg, char *err, size_t errlen)
{
	if (cfg->nregions < 1 || cfg->nregions > RG_MAX_REGIONS) {
		snprintf(err, errlen, "regions: need 1 to %d, got %d",
			 RG_MAX_REGIONS, cfg->nregions);
		return RK_EINVAL;
	}
	for (int i = 0; i < cfg->nregions; i++) {
		const rg_region_config *r = &cfg->regions[i];
		if (!r->name[0] || !memchr(r->name, 0, sizeof(r->name))) {
			snprintf(err, errlen, "region %d: empty or long name",
				 i);
			return RK_EINVAL;
		}
		if (!r->host[0] || !memchr(r->host, 0, sizeof(r->host))) {
			snprintf(err, errlen, "region %s: empty or long host",
				 r->name);
			return RK_EINVAL;
		}
		if (r->port < 1 || r->port > 65535) {
			snprintf(err, errlen, "region %s: port %d not 1..65535",
				 r->name, r->port);
			return RK_EINVAL;
		}
		for (int j = 0; j < i; j++) {
			if (!strcmp(cfg->regions[j].name, r->name)) {
				snprintf(err, errlen,
					 "region %s: name used twice", r->name);
				return RK_EINVAL;
			}
		}
	}
	const char *bad = NULL;
	if (cfg->home < 0 || cfg->home >= cfg->nregions)
		bad = "home: not a region index";
	else if (cfg->health_interval_ms < 1)
		bad = "health interval: must be >= 1 ms";
	else if (cfg->health_timeout_ms < 1)
		bad = "health timeout: must be >= 1 ms";
	else if (cfg->fail_threshold < 1)
		bad = "fail threshold: must be >= 1";
	else if (cfg->recover_threshold < 1)
		bad = "recover threshold: must be >= 1";
	else if (cfg->failback_min_ms < 0)
		bad = "failback minimum: must be >= 0 ms";
	else if (cfg->pool_idle_max < 0)
		bad = "pool idle maximum: must be >= 0";
	if (bad) {
		snprintf(err, errlen, "%s", bad);
		return RK_EINVAL;
	}
	return 0;
}

/* Frees what rg_new made, threads already joined. */
static void destroy(rg_t *rg)
{
	for (int i = 0; i < rg->n; i++) {
		rg_conn *list = NULL;
		rg__drain_idle(&rg->r[i], &list);
		rg__close_list(list);
	}
	if (rg->wakefd >= 0)
		close(rg->wakefd);
	pthread_cond_destroy(&rg->cv);
	pthread_mutex_destroy(&rg->emit_mu);
	pthread_mutex_destroy(&rg->mu);
	rk_free(rg);
}

static void stop_threads(rg_t *rg)
{
	pthread_mutex_lock(&rg->mu);
	rg->stop = true;
	pthread_cond_broadcast(&rg->cv);
	pthread_mutex_unlock(&rg->mu);
	uint64_t one = 1;
	if (write(rg->wakefd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow: already woken */
	}
	rg__sub_free(rg);
	for (int i = 0; i < rg->n; i++) {
		if (rg->r[i].prober_started)
			pthread_join(rg->r[i].prober, NULL);
	}
}

/* Waits for every region's first probe, or the bound, then picks the
 * active region and lets transitions happen. */
static void choose_start(rg_t *rg)
{
	int64_t until = rk_now_us() + 2 * rg->cfg.health_timeout_ms * 1000 +
			200000;
	pthread_mutex_lock(&rg->mu);
	while (rg->nprobed < rg->n) {
		int64_t left = until - rk_now_us();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + left % 1000000 * 1000;
		ts.tv_sec += (time_t)(left / 1000000 + ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		pthread_cond_timedwait(&rg->cv, &rg->mu, &ts);
	}
	int a = rg->home;
	for (int i = 0; !rg->r[a].up && i < rg->n; i++) {
		if (rg->r[i].up)
			a = i;
	}
	rg->active = a;
	rg->started = true;
	if (a == rg->home)
		rg__event(rg, "regions: active region %s (home, %s)",
			  rg->r[a].cfg.name, rg->r[a].up ? "up" : "down");
	else
		rg__event(rg, "regions: active region %s (home %s down at "
			      "start: %s)",
			  rg->r[a].cfg.name, rg->r[rg->home].cfg.name,
			  rg->r[rg->home].last_err);
	pthread_mutex_unlock(&rg->mu);
	rg__emit(rg);
}

rg_t *rg_new(const rg_config *cfg, char *err, size_t errlen)
{
	if (check_config(cfg, err, errlen))
		return NULL;
	rg_t *rg = rk_calloc(1, sizeof(*rg));
	if (!rg)
		goto out_nomem;
	rg->cfg = *cfg;
	rg->n = cfg->nregions;
	rg->home = rg->active = cfg->home;
	rg->wakefd = -1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rg->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&rg->mu, NULL);
	pthread_mutex_init(&rg->emit_mu, NULL);
	int64_t now = rg__wall_ms();
	for (int i = 0; i < rg->n; i++) {
		rg->r[i].cfg = cfg->regions[i];
		rg->r[i].rtt_us = -1;
		rg->r[i].changed_ms = now;
		snprintf(rg->r[i].last_err, sizeof(rg->r[i].last_err),
			 "no answer yet");
	}
	rg->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rg->wakefd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		destroy(rg);
		return NULL;
	}
	if (rg__start_probers(rg)) {
		stop_threads(rg);
		destroy(rg);
		snprintf(err, errlen, "regions: cannot start threads");
		return NULL;
	}
	choose_start(rg);
	return rg;

out_nomem:
	snprintf(err, errlen, "regions: out of memory");
	return NULL;
}

void rg_free(rg_t *rg)
{
	if (!rg)
		return;
	stop_threads(rg);
	rg__emit(rg);
	destroy(rg);
}

rg_conn *rg_acquire(rg_t *rg, int64_t deadline_us)
{
	rg_conn *c = NULL, *stale = NULL;
	pthread_mutex_lock(&rg->mu);
	int a = rg->active;
	struct rg_region *r = &rg->r[a];
	if (!r->up) {
		pthread_mutex_unlock(&rg->mu);
		return NULL;
	}
	while (r->idle && !c) {
		c = r->idle;
		r->idle = c->next;
		r->nidle--;
		c->next = NULL;
		if (c->gen != r->gen) {
			c->next = stale;
			stale = c;
			c = NULL;
		}
	}
	uint64_t gen = r->gen;
	pthread_mutex_unlock(&rg->mu);
	rg__close_list(stale);
	if (c)
		return c;

	int64_t left = deadline_us - rk_now_us();
	if (left <= 0)
		return NULL;
	char err[160];
	redisContext *ctx = rg__connect(&r->cfg, left, err, sizeof(err));
	if (!ctx) {
		/* A connect cut short by a small budget says nothing of
		 * the region; one refused or timed out with a health
		 * timeout's worth of time does. */
		if (rk_now_us() < deadline_us ||
		    left >= rg->cfg.health_timeout_ms * 1000) {
			rg__record(rg, a, false, 0, err, true);
			rg__emit(rg);
		}
		return NULL;
	}
	c = rk_calloc(1, sizeof(*c));
	if (!c) {
		redisFree(ctx);
		return NULL;
	}
	c->ctx = ctx;
	c->region = a;
	c->name = r->cfg.name;
	c->gen = gen;
	return c;
}

void rg_release(rg_t *rg, rg_conn *c, bool failed)
{
	if (!c)
		return;
	if (failed || c->broken || c->ctx->err) {
		if (failed || c->ctx->err) {
			char err[140];
			snprintf(err, sizeof(err), "request: %s",
				 c->ctx->err ? c->ctx->errstr : "failed");
			rg__record(rg, c->region, false, 0, err, true);
			rg__emit(rg);
		}
		rg__close_list(c);
		return;
	}
	pthread_mutex_lock(&rg->mu);
	struct rg_region *r = &rg->r[c->region];
	/* a connection made before the region's last failure says nothing
	 * of it now */
	if (c->gen == r->gen)
		r->fails = 0;
	bool keep = c->gen == r->gen && r->nidle < rg->cfg.pool_idle_max;
	if (keep) {
		c->next = r->idle;
		r->idle = c;
		r->nidle++;
	}
	pthread_mutex_unlock(&rg->mu);
	if (!keep)
		rg__close_list(c);
}

void rg_discard(rg_t *rg, rg_conn *c)
{
	RK_UNUSED(rg);
	rg__close_list(c);
}

int rg_conn_set_budget(rg_conn *c, int64_t deadline_us)
{
	int64_t left = deadline_us - rk_now_us();
	if (left <= 0)
		return RK_ETIMEOUT;
	if (redisSetTimeout(c->ctx, to_tv(left)) != REDIS_OK)
		return RK_EUNAVAIL;
	return 0;
}

bool rg_conn_current(rg_t *rg, const rg_conn *c)
{
	pthread_mutex_lock(&rg->mu);
	bool cur = c->region == rg->active && c->gen == rg->r[c->region].gen;
	pthread_mutex_unlock(&rg->mu);
	return cur;
}

void rg_conn_ok(rg_t *rg, const rg_conn *c)
{
	pthread_mutex_lock(&rg->mu);
	struct rg_region *r = &rg->r[c->region];
	if (c->gen == r->gen)
		r->fails = 0;
	pthread_mutex_unlock(&rg->mu);
}

redisContext *rg_conn_ctx(rg_conn *c)
{
	return c->ctx;
}

const char *rg_conn_region(const rg_conn *c)
{
	return c->name;
}

int rg_pipeline(rg_conn *c, int n, const char **argv[],
		const size_t *argvlen[], const int *argc, redisReply **replies,
		int64_t deadline_us)
{
	if (n < 1)
		return RK_EINVAL;
	redisContext *ctx = c->ctx;
	if (c->broken || ctx->err)
		return RK_EUNAVAIL;
	for (int i = 0; i < n; i++)
		replies[i] = NULL;
	/* From the first appended command until the last reply is read
	 * the connection holds state nobody else may inherit. */
	c->broken = true;
	for (int i = 0; i < n; i++) {
		if (redisAppendCommandArgv(ctx, argc[i], argv[i],
					   argvlen ? argvlen[i] : NULL) !=
		    REDIS_OK)
			return ctx->err == REDIS_ERR_OOM ? RK_ENOMEM
							 : RK_EUNAVAIL;
	}
	int rc = rg__flush(ctx, deadline_us);
	int got = 0;
	while (!rc && got < n) {
		void *rep = NULL;
		if (redisGetReplyFromReader(ctx, &rep) != REDIS_OK) {
			rc = RK_EUNAVAIL;
		} else if (rep) {
			replies[got++] = rep;
		} else {
			rc = wait_fd(ctx->fd, POLLIN, deadline_us);
			if (!rc && redisBufferRead(ctx) != REDIS_OK)
				rc = io_error(deadline_us);
		}
	}
	if (rc) {
		for (int i = 0; i < got; i++) {
			freeReplyObject(replies[i]);
			replies[i] = NULL;
		}
		return rc;
	}
	c->broken = false;
	return 0;
}

int rg_exec(rg_t *rg, int n, const char **argv[], const size_t *argvlen[],
	    const int *argc, redisReply **replies, int64_t deadline_us,
	    const char **region)
{
	rg_conn *c = rg_acquire(rg, deadline_us);
	if (!c) {
		if (region)
			*region = rg_active_name(rg);
		return rk_now_us() >= deadline_us ? RK_ETIMEOUT : RK_EUNAVAIL;
	}
	if (region)
		*region = c->name;
	int rc = rg_pipeline(c, n, argv, argvlen, argc, replies, deadline_us);
	rg_release(rg, c, rc == RK_ETIMEOUT || rc == RK_EUNAVAIL);
	return rc;
}

int rg_publish(rg_t *rg, const char *channel, const char *msg, size_t len,
	       int64_t deadline_us)
{
	const char *args[3] = {"PUBLISH", channel, msg};
	size_t lens[3] = {7, strlen(channel), len};
	const char **argv[1] = {args};
	const size_t *argvlen[1] = {lens};
	int argc = 3;
	redisReply *rep = NULL;
	int rc = rg_exec(rg, 1, argv, argvlen, &argc, &rep, deadline_us, NULL);
	if (rc)
		return rc;
	rc = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : RK_EIO;
	freeReplyObject(rep);
	return rc;
}

void rg_snapshot(rg_t *rg, rg_status *out, int *n, int *active,
		 uint64_t *failovers)
{
	pthread_mutex_lock(&rg->mu);
	for (int i = 0; i < rg->n; i++) {
		const struct rg_region *r = &rg->r[i];
		rg_status *s = &out[i];
		memcpy(s->name, r->cfg.name, sizeof(s->name));
		memcpy(s->host, r->cfg.host, sizeof(s->host));
		s->port = r->cfg.port;
		s->role = i == rg->home ? "home" : "standby";
		s->up = r->up;
		s->state = r->up ? "up" : "down";
		s->active = i == rg->active;
		s->rtt_us = r->rtt_us;
		s->fails = r->fails;
		s->successes = r->succ;
		s->changed_ms = r->changed_ms;
	}
	if (n)
		*n = rg->n;
	if (active)
		*active = rg->active;
	if (failovers)
		*failovers = rg->failovers;
	pthread_mutex_unlock(&rg->mu);
}

const char *rg_active_name(rg_t *rg)
{
	pthread_mutex_lock(&rg->mu);
	const char *name = rg->r[rg->active].cfg.name;
	pthread_mutex_unlock(&rg->mu);
	return name;
}

bool rg_is_ready(rg_t *rg)
{
	bool up = false;
	pthread_mutex_lock(&rg->mu);
	for (int i = 0; i < rg->n && !up; i++)
		up = rg->r[i].up;
	pthread_mutex_unlock(&rg->mu);
	return up;
}
