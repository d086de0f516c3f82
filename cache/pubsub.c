/*
 * pubsub.c - the subscriber side of the Redis tier (rg_subscribe): one
 * thread per region keeps a SUBSCRIBE connection while the region's last
 * health PING succeeded, so an instance hears invalidations published
 * through any region. A lost connection is retried after 100 ms,
 * doubling to 2 s while PINGs still succeed; once PINGs fail the thread
 * waits for the next success instead and then connects at once.
 * Messages reach the callback one at a time. Neighbours: region.c
 * (publishing is rg_publish there), health.c (the PING state).
 */
#include "region_int.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/rk.h"

#define BACKOFF_MIN_US 100000
#define BACKOFF_MAX_US 2000000

struct rg_subr {
	rg_t *rg;
	int idx;
	pthread_t th;
	bool started;
};

struct rg_sub {
	const char **argv; /* "SUBSCRIBE", channels... (owned) */
	size_t *argvlen;
	int argc;
	void (*cb)(void *ud, const char *channel, const char *msg,
		   size_t len);
	void *ud;
	pthread_mutex_t cb_mu;
	atomic_bool stop;
	int wakefd;
	struct rg_subr per[RG_MAX_REGIONS];
};

static void sub_destroy(struct rg_sub *s)
{
	if (!s)
		return;
	for (int i = 1; s->argv && i < s->argc; i++)
		rk_free((char *)s->argv[i]);
	rk_free(s->argv);
	rk_free(s->argvlen);
	if (s->wakefd >= 0)
		close(s->wakefd);
	pthread_mutex_destroy(&s->cb_mu);
	rk_free(s);
}

/* Waits for fd (-1: none) to be readable, stop, or until_us. 1 readable,
 * 0 time is up, -1 stopping. */
static int sub_wait(struct rg_sub *s, int fd, int64_t until_us)
{
	for (;;) {
		if (atomic_load(&s->stop))
			return -1;
		int64_t left = until_us - rk_now_us();
		if (left <= 0)
			return 0;
		struct pollfd p[2] = {{.fd = s->wakefd, .events = POLLIN},
				      {.fd = fd, .events = POLLIN}};
		struct timespec ts = {.tv_sec = (time_t)(left / 1000000),
				      .tv_nsec = (long)(left % 1000000) * 1000};
		int rc = ppoll(p, fd >= 0 ? 2 : 1, &ts, NULL);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc > 0 && p[0].revents)
			return -1;
		if (rc > 0 && p[1].revents)
			return 1;
	}
}

static bool last_ping_ok(rg_t *rg, int idx)
{
	pthread_mutex_lock(&rg->mu);
	bool ok = rg->r[idx].succ > 0;
	pthread_mutex_unlock(&rg->mu);
	return ok;
}

static void sub_event(rg_t *rg, const char *what, const char *region,
		      const char *detail)
{
	pthread_mutex_lock(&rg->mu);
	rg__event(rg, "pubsub: %s %s%s%s", what, region, detail ? ": " : "",
		  detail ? detail : "");
	pthread_mutex_unlock(&rg->mu);
	rg__emit(rg);
}

static redisContext *sub_connect(rg_t *rg, struct rg_sub *s, int idx,
				 char *err, size_t errlen)
{
	int64_t timeout_us = rg->cfg.health_timeout_ms * 1000;
	redisContext *ctx =
		rg__connect(&rg->r[idx].cfg, timeout_us, err, errlen);
	if (!ctx)
		return NULL;
	if (redisAppendCommandArgv(ctx, s->argc, s->argv, s->argvlen) !=
		    REDIS_OK ||
	    rg__flush(ctx, rk_now_us() + timeout_us)) {
		snprintf(err, errlen, "SUBSCRIBE: %s",
			 ctx->err ? ctx->errstr : "timed out");
		redisFree(ctx);
		return NULL;
	}
	return ctx;
}

/* One reply on a subscribed connection: 1 when it confirms a channel. */
static int deliver(struct rg_sub *s, redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	const char *kind = r->element[0]->str;
	if (!strcmp(kind, "subscribe"))
		return 1;
	if (strcmp(kind, "message") ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return 0;
	pthread_mutex_lock(&s->cb_mu);
	s->cb(s->ud, r->element[1]->str, r->element[2]->str,
	      r->element[2]->len);
	pthread_mutex_unlock(&s->cb_mu);
	return 0;
}

/* Reads what is there; false when the connection is lost. */
static bool sub_read(struct rg_sub *s, redisContext *ctx, int *confirmed)
{
	if (redisBufferRead(ctx) != REDIS_OK)
		return false;
	for (;;) {
		void *rep = NULL;
		if (redisGetReplyFromReader(ctx, &rep) != REDIS_OK)
			return false;
		if (!rep)
			return true;
		*confirmed += deliver(s, rep);
		freeReplyObject(rep);
	}
}

static void *sub_main(void *arg)
{
	struct rg_subr *me = arg;
	rg_t *rg = me->rg;
	struct rg_sub *s = rg->sub;
	const char *name = rg->r[me->idx].cfg.name;
	int64_t interval = rg->cfg.health_interval_ms * 1000;
	redisContext *ctx = NULL;
	int64_t backoff = 0, next_try = 0;
	int confirmed = 0;
	bool announced = false;
	char err[160];
	while (!atomic_load(&s->stop)) {
		int64_t now = rk_now_us();
		if (!ctx) {
			if (!last_ping_ok(rg, me->idx)) {
				backoff = next_try = 0;
				sub_wait(s, -1, now + interval);
				continue;
			}
			if (now < next_try) {
				sub_wait(s, -1, next_try);
				continue;
			}
			ctx = sub_connect(rg, s, me->idx, err, sizeof(err));
			if (!ctx)
				goto retry;
			confirmed = 0;
			announced = false;
		}
		int rc = sub_wait(s, ctx->fd, now + interval);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		if (!sub_read(s, ctx, &confirmed)) {
			snprintf(err, sizeof(err), "%s", ctx->errstr);
			sub_event(rg, "lost", name, err);
			redisFree(ctx);
			ctx = NULL;
			goto retry;
		}
		if (!announced && confirmed >= s->argc - 1) {
			announced = true;
			backoff = 0;
			sub_event(rg, "subscribed on", name, NULL);
		}
		continue;
	retry:
		backoff = backoff ? backoff * 2 : BACKOFF_MIN_US;
		if (backoff > BACKOFF_MAX_US)
			backoff = BACKOFF_MAX_US;
		next_try = rk_now_us() + backoff;
	}
	redisFree(ctx);
	return NULL;
}

void rg__sub_free(rg_t *rg)
{
	struct rg_sub *s = rg->sub;
	if (!s)
		return;
	atomic_store(&s->stop, true);
	uint64_t one = 1;
	if (write(s->wakefd, &one, sizeof(one)) < 0) {
		/* fails only on overflow: already woken */
	}
	for (int i = 0; i < RG_MAX_REGIONS; i++) {
		if (s->per[i].started)
			pthread_join(s->per[i].th, NULL);
	}
	rg->sub = NULL;
	sub_destroy(s);
}

int rg_subscribe(rg_t *rg, const char *const *channels, int n,
		 void (*cb)(void *ud, const char *channel, const char *msg,
			    size_t len),
		 void *ud)
{
	if (n < 1 || !cb)
		return RK_EINVAL;
	struct rg_sub *s = rk_calloc(1, sizeof(*s));
	if (!s)
		return RK_ENOMEM;
	pthread_mutex_init(&s->cb_mu, NULL);
	s->wakefd = -1;
	s->cb = cb;
	s->ud = ud;
	s->argv = rk_calloc((size_t)n + 1, sizeof(*s->argv));
	s->argvlen = rk_calloc((size_t)n + 1, sizeof(*s->argvlen));
	if (!s->argv || !s->argvlen)
		goto out_nomem;
	s->argv[0] = "SUBSCRIBE";
	s->argvlen[0] = 9;
	s->argc = 1;
	for (int i = 0; i < n; i++) {
		char *ch = rk_strdup(channels[i]);
		if (!ch)
			goto out_nomem;
		s->argv[s->argc] = ch;
		s->argvlen[s->argc++] = strlen(ch);
	}
	s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wakefd < 0)
		goto out_nomem;
	pthread_mutex_lock(&rg->mu);
	bool taken = rg->sub != NULL || rg->stop;
	if (!taken)
		rg->sub = s;
	pthread_mutex_unlock(&rg->mu);
	if (taken) {
		sub_destroy(s);
		return RK_ESTATE;
	}
	for (int i = 0; i < rg->n; i++) {
		s->per[i].rg = rg;
		s->per[i].idx = i;
		if (pthread_create(&s->per[i].th, NULL, sub_main, &s->per[i])) {
			rg__sub_free(rg);
			return RK_ENOMEM;
		}
		pthread_setname_np(s->per[i].th, "riskd-sub");
		s->per[i].started = true;
	}
	return 0;

out_nomem:
	sub_destroy(s);
	return RK_ENOMEM;
}
