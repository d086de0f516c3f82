/*
 * pool.c - the admission queue (a FIFO under one mutex) and the worker
 * threads that drain it. Shedding follows CoDel's detection rule: when
 * every job dequeued during one interval waited longer than the target,
 * the queue is standing, and new jobs are refused until a job is seen
 * under target again or the queue empties. Neighbours: server.c submits,
 * handlers_*.c run the jobs.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../common/rk.h"

struct svc_pool {
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	svc_job *head, *tail;
	int depth, capacity, busy;
	int idle;              /* workers waiting for a job */
	int wakes;             /* signals sent and not yet taken */
	atomic_int qlen;       /* depth, readable without the lock */
	bool stopping, stopped;
	int64_t target_us, interval_us;
	int64_t above_since;   /* 0, or when delays went above target */
	bool shedding;
	uint64_t submitted, shed_full, shed_delay;
	int64_t last_delay_us;
	svc_pool_opts o;
	pthread_t *tids;
	int nthreads;          /* started */
	void **wctx;
	int ninit;             /* worker contexts made */
	int init_failed;
	pthread_cond_t inited;
};

struct start {
	svc_pool *p;
	int index;
};

/* CoDel's detector, run under the lock for each dequeued job. */
static void observe_delay(svc_pool *p, int64_t now, int64_t delay)
{
	p->last_delay_us = delay;
	if (delay < p->target_us) {
		p->above_since = 0;
		p->shedding = false;
	} else if (!p->above_since) {
		p->above_since = now;
	} else if (now - p->above_since >= p->interval_us) {
		p->shedding = true;
	}
}

static void *worker_main(void *arg)
{
	struct start *s = arg;
	svc_pool *p = s->p;
	int index = s->index;
	rk_free(s);
	void *wctx = p->o.worker_init ? p->o.worker_init(p->o.arg, index) :
			     NULL;
	pthread_mutex_lock(&p->mu);
	p->wctx[index] = wctx;
	p->ninit++;
	if (p->o.worker_init && !wctx)
		p->init_failed++;
	pthread_cond_broadcast(&p->inited);
	for (;;) {
		while (!p->head && !p->stopping) {
			p->idle++;
			pthread_cond_wait(&p->nonempty, &p->mu);
			p->idle--;
			if (p->wakes > 0)
				p->wakes--;
		}
		if (!p->head)
			break;   /* stopping and drained */
		svc_job *jobs[SVC_POOL_BATCH];
		int64_t delays[SVC_POOL_BATCH];
		int n = 0;
		int64_t now = rk_now_us();
		do {
			svc_job *j = p->head;
			p->head = j->next;
			j->next = NULL;
			delays[n] = now - j->enq_us;
			observe_delay(p, now, delays[n]);
			jobs[n++] = j;
		} while (jobs[0]->run_many && p->head && n < SVC_POOL_BATCH &&
			 p->head->run_many == jobs[0]->run_many);
		if (!p->head) {
			p->tail = NULL;
			p->above_since = 0;
			p->shedding = false;
		}
		p->depth -= n;
		atomic_store_explicit(&p->qlen, p->depth,
				      memory_order_relaxed);
		p->busy++;
		/* work left behind (another kind of job): another worker */
		bool more = p->head && p->idle > p->wakes;
		if (more)
			p->wakes++;
		pthread_mutex_unlock(&p->mu);
		if (more)
			pthread_cond_signal(&p->nonempty);
		if (jobs[0]->run_many)
			jobs[0]->run_many(jobs, n, wctx, delays);
		else
			jobs[0]->run(jobs[0], wctx, delays[0]);
		pthread_mutex_lock(&p->mu);
		p->busy--;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

svc_pool *svc_pool_new(const svc_pool_opts *o, char *err, size_t errlen)
{
	if (o->threads < 1 || o->capacity < 1) {
		snprintf(err, errlen, "pool: threads and capacity must be >= 1");
		return NULL;
	}
	svc_pool *p = rk_calloc(1, sizeof(*p));
	if (!p)
		goto out_nomem;
	p->o = *o;
	p->capacity = o->capacity;
	p->target_us = o->target_us > 0 ? o->target_us : 1;
	p->interval_us = o->interval_us > 0 ? o->interval_us : 100000;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->nonempty, NULL);
	pthread_cond_init(&p->inited, NULL);
	p->tids = rk_calloc((size_t)o->threads, sizeof(*p->tids));
	p->wctx = rk_calloc((size_t)o->threads, sizeof(*p->wctx));
	if (!p->tids || !p->wctx)
		goto out_free;
	for (int i = 0; i < o->threads; i++) {
		struct start *s = rk_malloc(sizeof(*s));
		if (!s)
			goto out_stop;
		s->p = p;
		s->index = i;
		int rc = pthread_create(&p->tids[i], NULL, worker_main, s);
		if (rc) {
			rk_free(s);
			snprintf(err, errlen, "pool: pthread_create: %s",
				 strerror(rc));
			svc_pool_free(p);
			return NULL;
		}
		char name[16];
		snprintf(name, sizeof(name), "riskd-work%d", i % 10000);
		pthread_setname_np(p->tids[i], name);
		p->nthreads++;
	}
	pthread_mutex_lock(&p->mu);
	while (p->ninit < p->nthreads)
		pthread_cond_wait(&p->inited, &p->mu);
	int failed = p->init_failed;
	pthread_mutex_unlock(&p->mu);
	if (failed) {
		snprintf(err, errlen, "pool: %d worker(s) failed to start",
			 failed);
		svc_pool_free(p);
		return NULL;
	}
	return p;
out_stop:
	svc_pool_free(p);
	goto out_nomem;
out_free:
	rk_free(p->tids);
	rk_free(p->wctx);
	pthread_cond_destroy(&p->inited);
	pthread_cond_destroy(&p->nonempty);
	pthread_mutex_destroy(&p->mu);
	rk_free(p);
out_nomem:
	snprintf(err, errlen, "pool: out of memory");
	return NULL;
}

int svc_pool_submit(svc_pool *p, svc_job *job)
{
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		rc = RK_ESTATE;
	} else if (p->depth >= p->capacity) {
		p->shed_full++;
		rc = RK_ELIMIT;
	} else if (p->shedding && p->head) {
		p->shed_delay++;
		rc = RK_ETIMEOUT;
	} else {
		job->next = NULL;
		job->enq_us = rk_now_us();
		if (p->tail)
			p->tail->next = job;
		else
			p->head = job;
		p->tail = job;
		p->depth++;
		atomic_store_explicit(&p->qlen, p->depth,
				      memory_order_relaxed);
		p->submitted++;
	}
	/* One wake-up at a time: a worker already woken and not yet
	 * running takes this job too (a batch, see run_many) or leaves it
	 * to the next; a job behind a busy pool waits for a worker that
	 * finishes. */
	bool wake = !rc && p->idle > 0 && p->wakes == 0;
	if (wake)
		p->wakes++;
	pthread_mutex_unlock(&p->mu);
	/* after unlocking: the woken worker does not block on the mutex */
	if (wake)
		pthread_cond_signal(&p->nonempty);
	return rc;
}

int svc_pool_queued(svc_pool *p)
{
	return atomic_load_explicit(&p->qlen, memory_order_relaxed);
}

void svc_pool_get_stats(svc_pool *p, svc_pool_stats *st)
{
	pthread_mutex_lock(&p->mu);
	st->depth = p->depth;
	st->busy = p->busy;
	st->submitted = p->submitted;
	st->shed_full = p->shed_full;
	st->shed_delay = p->shed_delay;
	st->last_delay_us = p->last_delay_us;
	pthread_mutex_unlock(&p->mu);
}

void svc_pool_stop(svc_pool *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->stopped) {
		pthread_mutex_unlock(&p->mu);
		return;
	}
	p->stopping = true;
	pthread_cond_broadcast(&p->nonempty);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->tids[i], NULL);
	for (int i = 0; i < p->nthreads; i++)
		if (p->wctx[i] && p->o.worker_fini)
			p->o.worker_fini(p->wctx[i]);
	pthread_mutex_lock(&p->mu);
	p->stopped = true;
	pthread_mutex_unlock(&p->mu);
}

void svc_pool_free(svc_pool *p)
{
	if (!p)
		return;
	svc_pool_stop(p);
	rk_free(p->tids);
	rk_free(p->wctx);
	pthread_cond_destroy(&p->inited);
	pthread_cond_destroy(&p->nonempty);
	pthread_mutex_destroy(&p->mu);
	rk_free(p);
}
