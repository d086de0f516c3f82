/*
 * pool.h - bounded admission queue and the evaluation worker threads.
 * server.c parses a request, suspends its connection and submits a job;
 * a worker runs it (handlers_*.c) and resumes the connection, so waiting
 * requests hold no HTTP thread. Admission is refused at once (503) when
 * the queue is full or its delay stayed above the target for an interval
 * (CoDel's rule), rather than letting latency grow. Each worker owns a
 * context made by worker_init (rule frames, a store handle).
 */
#ifndef SVC_POOL_H
#define SVC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVC_POOL_BATCH 16

typedef struct svc_pool svc_pool;
typedef struct svc_job svc_job;

/* Embed in the request; the pool links it while queued. */
struct svc_job {
	/* Called on a worker with its context and the time the job waited
	 * in the queue. Must not free what the pool still links (the pool
	 * is done with the job when run is called). */
	void (*run)(svc_job *job, void *wctx, int64_t queued_us);
	/* Optional: a worker that dequeues this job also takes the jobs
	 * queued right behind it with the same run_many (at most
	 * SVC_POOL_BATCH in all) and calls run_many once for them, with
	 * each one's queueing delay; run is then not called. Under load
	 * this turns n wake-ups and n Redis round trips into one. */
	void (*run_many)(svc_job **jobs, int n, void *wctx,
			 const int64_t *queued_us);
	svc_job *next;
	int64_t enq_us;   /* set by svc_pool_submit */
};

typedef struct svc_pool_opts {
	int threads;          /* >= 1 */
	int capacity;         /* queued jobs, >= 1 */
	int64_t target_us;    /* queueing delay target */
	int64_t interval_us;  /* delay above target this long: shed; 0=100ms */
	/* Per-worker context; may be NULL. worker_init returning NULL fails
	 * svc_pool_new. */
	void *(*worker_init)(void *arg, int index);
	void (*worker_fini)(void *wctx);
	void *arg;
} svc_pool_opts;

typedef struct svc_pool_stats {
	int depth;              /* jobs queued now */
	int busy;               /* workers running a job now */
	uint64_t submitted;
	uint64_t shed_full;     /* refused: queue full */
	uint64_t shed_delay;    /* refused: delay above target */
	int64_t last_delay_us;  /* queueing delay of the last dequeued job */
} svc_pool_stats;

/* Starts the workers. NULL with a message in err. */
svc_pool *svc_pool_new(const svc_pool_opts *o, char *err, size_t errlen);

/*
 * Queues job. 0; RK_ELIMIT when the queue is full; RK_ETIMEOUT when the
 * queueing delay has stayed above target; RK_ESTATE after svc_pool_stop.
 * On an error the pool keeps no reference to job.
 */
int svc_pool_submit(svc_pool *p, svc_job *job);

/* Jobs waiting in the queue now (a relaxed read, no lock): for policy
 * decisions that tolerate a stale answer. */
int svc_pool_queued(svc_pool *p);

void svc_pool_get_stats(svc_pool *p, svc_pool_stats *st);

/* Refuses new jobs, runs every queued job, joins the workers. */
void svc_pool_stop(svc_pool *p);
/* Stops (if not yet) and frees. NULL is a no-op. */
void svc_pool_free(svc_pool *p);

#endif
