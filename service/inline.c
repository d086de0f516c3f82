/*
 * inline.c - run to completion on the HTTP thread. A single score is
 * answered by the HTTP thread that read it: no hand-off to a worker and
 * back, none of the thread wake-ups those cost (docs/PERFORMANCE.md);
 * one that needs Redis sends its reads on the thread's pipe and is
 * finished by the reply on the same thread (r->fetching, loop.h). The
 * request goes to the admission queue instead when RISKD_INLINE=0, when
 * the queue already holds work (arrival order is kept and the queue's
 * CoDel rule keeps shedding), or when the work would wait for a key
 * another request is fetching (svc_req_defer). Each HTTP thread owns a worker context (frames, snapshot) for
 * this, made on its first inline request and freed when the thread ends.
 *
 * Overload of the HTTP threads themselves cannot show in the admission
 * queue: it shows as time a request waited in the kernel before the
 * thread read it. That time is the socket's TCP_INFO last-data-received
 * age (milliseconds), sampled at most once a millisecond per thread and
 * run through the queue's rule: over RISKD_QUEUE_TARGET_MS for 100 ms
 * and the thread answers its requests 503 overloaded (cheaply: nothing
 * is evaluated) until a sample is under target again.
 * Neighbours: server.c (svc_req_run calls it), handlers_score.c (the
 * work and svc_req_defer), pool.c (the queue it defers to).
 */
#include "server_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "../common/rk.h"

#define SAMPLE_EVERY_US 1000
#define SHED_INTERVAL_US 100000

struct svc_inline {
	svc_worker *w;
	int64_t next_sample_us;
	int64_t above_since;   /* 0, or when waits went above target */
	bool shedding;
};

static void inline_free(void *p)
{
	struct svc_inline *t = p;
	svc_worker_free(t->w);
	rk_free(t);
}

int svc_inline_init(svc_server *s)
{
	if (!s->cfg->inline_run)
		return 0;
	if (pthread_key_create(&s->inline_key, inline_free))
		return RK_ENOMEM;
	s->inline_on = true;
	return 0;
}

void svc_inline_fini(svc_server *s)
{
	/* after the daemon stopped: its threads ran the destructors */
	if (s->inline_on)
		pthread_key_delete(s->inline_key);
	s->inline_on = false;
}

/* This thread's state, made on first use. NULL when out of memory. */
static struct svc_inline *thread_state(svc_server *s)
{
	struct svc_inline *t = pthread_getspecific(s->inline_key);
	if (t)
		return t;
	t = rk_calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->w = svc_worker_new(s, -1);
	if (!t->w || pthread_setspecific(s->inline_key, t)) {
		svc_worker_free(t->w);
		rk_free(t);
		return NULL;
	}
	return t;
}

/* How long the request's last bytes waited in the kernel, in µs (the
 * kernel counts milliseconds); 0 when unknown. */
static int64_t kernel_wait_us(svc_req *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	if (getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < sizeof(ti))
		return 0;
	return (int64_t)ti.tcpi_last_data_recv * 1000;
}

/* The queue's CoDel rule over this thread's sampled waits. */
static bool thread_overloaded(svc_req *r, struct svc_inline *t)
{
	int64_t now = rk_now_us();
	if (now < t->next_sample_us)
		return t->shedding;
	t->next_sample_us = now + SAMPLE_EVERY_US;
	int64_t wait = kernel_wait_us(r);
	atomic_store_explicit(&r->srv->inline_wait_us, wait,
			      memory_order_relaxed);
	if (wait < r->srv->cfg->queue_target_ms * 1000) {
		t->above_since = 0;
		t->shedding = false;
	} else if (!t->above_since) {
		t->above_since = now;
	} else if (now - t->above_since >= SHED_INTERVAL_US) {
		t->shedding = true;
	}
	return t->shedding;
}

bool svc_inline_run(svc_req *r, svc_work work)
{
	svc_server *s = r->srv;
	if (!s->inline_on || svc_pool_queued(s->pool) > 0)
		return false;
	struct svc_inline *t = thread_state(s);
	if (!t)
		return false;
	if (thread_overloaded(r, t)) {
		svc_reply_error(r, 503, "overloaded",
				"queueing delay above target; retry later");
		r->retry_after = 1;
		svc_note_shed(r, "queue_delay");
		return true;
	}
	r->on_http_thread = true;
	work(r, t->w, 0);
	r->on_http_thread = false;
	if (r->deferred) {
		atomic_fetch_add_explicit(&s->inline_deferred, 1,
					  memory_order_relaxed);
		return false;
	}
	if (r->fetching) {   /* the loop finishes it (loop.h) */
		atomic_fetch_add_explicit(&s->inline_fetching, 1,
					  memory_order_relaxed);
		return true;
	}
	atomic_fetch_add_explicit(&s->inline_answered, 1,
				  memory_order_relaxed);
	if (r->state != SVC_REQ_REPLIED)
		svc_reply_error(r, 500, "internal", "no reply produced");
	return true;
}
