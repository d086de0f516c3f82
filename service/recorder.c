/*
 * recorder.c - the velocity recorder of recorder.h: a bounded FIFO of
 * (rule set, event copy, time) filled by workers and drained by one
 * writer thread, which appends the recordings of up to BATCH events to
 * one connection, reads every reply, and releases the connection as
 * failed on any I/O error (so request-path failover sees it too).
 */
#include "recorder.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../cache/region.h"
#include "../cache/velocity.h"
#include "../common/rk.h"

#define BATCH 256
#define SEND_TIMEOUT_US 1000000

struct item {
	rules_set *set;
	cJSON *event;
	int64_t now_ms;
};

struct svc_recorder {
	struct rg_t *rg;
	struct item *q;           /* ring of cap items */
	size_t cap, head, n;
	uint64_t pushed, done;    /* for flush: items taken and finished */
	bool stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* work, stop */
	pthread_cond_t done_cv;   /* a batch finished */
	pthread_t thread;
	svc_recorder_stats st;
};

static void item_free(struct item *it)
{
	rules_set_free(it->set);
	cJSON_Delete(it->event);
}

/* One round trip for n items; returns whether Redis took them. */
static bool send_batch(svc_recorder *r, struct item *it, int n)
{
	rg_conn *c = rg_acquire(r->rg, rk_now_us() + SEND_TIMEOUT_US);
	if (!c)
		return false;
	bool failed = rg_conn_set_budget(c, rk_now_us() + SEND_TIMEOUT_US);
	redisContext *ctx = rg_conn_ctx(c);
	int replies = 0;
	for (int i = 0; i < n && !failed; i++) {
		const rules_def *def = rules_set_def(it[i].set);
		int k = 0;
		if (vel_redis_append_records(ctx, def->velocity,
					     def->nvelocity, it[i].event,
					     it[i].now_ms, &k))
			failed = true;
		replies += k;
	}
	for (int i = 0; i < replies && !failed; i++) {
		void *x = NULL;
		if (redisGetReply(ctx, &x) != REDIS_OK || !x)
			failed = true;
		else
			freeReplyObject(x);
	}
	rg_release(r->rg, c, failed);
	return !failed;
}

static void *writer(void *arg)
{
	svc_recorder *r = arg;
	struct item batch[BATCH];
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->n && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (!r->n && r->stop)
			break;
		int n = 0;
		while (r->n && n < BATCH) {
			batch[n++] = r->q[r->head];
			r->head = (r->head + 1) % r->cap;
			r->n--;
		}
		pthread_mutex_unlock(&r->mu);
		bool ok = send_batch(r, batch, n);
		for (int i = 0; i < n; i++)
			item_free(&batch[i]);
		pthread_mutex_lock(&r->mu);
		if (ok)
			r->st.recorded += (uint64_t)n;
		else
			r->st.failed += (uint64_t)n;
		r->st.batches++;
		r->done += (uint64_t)n;
		pthread_cond_broadcast(&r->done_cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

svc_recorder *svc_recorder_new(struct rg_t *rg, size_t cap)
{
	svc_recorder *r = rk_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->rg = rg;
	r->cap = cap ? cap : 1;
	r->q = rk_calloc(r->cap, sizeof(*r->q));
	if (!r->q) {
		rk_free(r);
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->done_cv, NULL);
	if (pthread_create(&r->thread, NULL, writer, r)) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		pthread_cond_destroy(&r->done_cv);
		rk_free(r->q);
		rk_free(r);
		return NULL;
	}
	pthread_setname_np(r->thread, "riskd-record");
	return r;
}

void svc_recorder_free(svc_recorder *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->done_cv);
	rk_free(r->q);
	rk_free(r);
}

/* Adds the value at a plain dotted path of event to copy, creating the
 * objects on the way. false when the path is not a plain dotted one
 * (brackets, quotes, an "event." prefix) or memory ran out. */
static bool copy_path(cJSON *copy, const cJSON *event, const char *path)
{
	if (strpbrk(path, "[]\"'") || !strncmp(path, "event.", 6))
		return false;
	const cJSON *v = vel_path_get(event, path);
	if (!v)
		return true;          /* absent: nothing to record anyway */
	cJSON *cur = copy;
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		char key[256];
		if (!n || n >= sizeof(key))
			return false;
		memcpy(key, p, n);
		key[n] = '\0';
		cJSON *next = cJSON_GetObjectItemCaseSensitive(cur, key);
		if (!dot) {
			if (next)
				return true;  /* an earlier definition copied it */
			cJSON *d = cJSON_Duplicate(v, true);
			return d && cJSON_AddItemToObject(cur, key, d);
		}
		if (!next && !(next = cJSON_AddObjectToObject(cur, key)))
			return false;
		if (!cJSON_IsObject(next))
			return false;
		cur = next;
		p = dot + 1;
	}
}

/*
 * What recording needs of event: the values at the definitions' entity
 * and field paths, in a small object of the same shape (a handful of
 * allocations instead of the whole event's). The whole event when a
 * path is not a plain dotted one.
 */
static cJSON *needed(const rules_def *def, const cJSON *event)
{
	cJSON *copy = cJSON_CreateObject();
	bool ok = copy != NULL;
	for (int i = 0; ok && i < def->nvelocity; i++) {
		const rules_velocity_def *v = &def->velocity[i];
		ok = copy_path(copy, event, v->entity) &&
		     (!v->field || copy_path(copy, event, v->field));
	}
	if (ok)
		return copy;
	cJSON_Delete(copy);
	return cJSON_Duplicate(event, true);
}

int svc_recorder_push(svc_recorder *r, rules_set *set, const cJSON *event,
		      int64_t now_ms)
{
	pthread_mutex_lock(&r->mu);
	bool full = r->n == r->cap;
	if (full)
		r->st.dropped++;
	pthread_mutex_unlock(&r->mu);
	if (full)
		return RK_ELIMIT;
	cJSON *copy = needed(rules_set_def(set), event);
	if (!copy)
		return RK_ENOMEM;
	pthread_mutex_lock(&r->mu);
	if (r->n == r->cap) {
		r->st.dropped++;
		pthread_mutex_unlock(&r->mu);
		cJSON_Delete(copy);
		return RK_ELIMIT;
	}
	r->q[(r->head + r->n) % r->cap] = (struct item){
		rules_set_ref(set), copy, now_ms };
	r->n++;
	r->pushed++;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

void svc_recorder_flush(svc_recorder *r)
{
	pthread_mutex_lock(&r->mu);
	uint64_t target = r->pushed;
	while (r->done < target)
		pthread_cond_wait(&r->done_cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
}

void svc_recorder_get_stats(svc_recorder *r, svc_recorder_stats *st)
{
	pthread_mutex_lock(&r->mu);
	*st = r->st;
	st->queued = r->n;
	pthread_mutex_unlock(&r->mu);
}
