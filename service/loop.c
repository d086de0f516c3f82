/*
 * loop.c - an HTTP event loop (loop.h). One epoll set holds the
 * daemon's own epoll descriptor, an eventfd (handed connections, stop)
 * and the pipe's Redis connections. A turn: wait (bounded by the
 * daemon's timeout and the pipe's earliest deadline), dispatch events -
 * Redis replies finish their requests and resume their connections -,
 * expire late Redis rounds, let the daemon run (new requests, resumed
 * replies), then flush the pipe: every Redis read appended during the
 * turn leaves in one write.
 */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../cache/rpipe.h"
#include "../common/rk.h"
#include "data.h"

#define MAX_EVENTS 64

struct handed {
	int fd;
	socklen_t len;
	struct sockaddr_storage ss;
};

struct svc_loop {
	rp_ev ev_mhd;              /* the daemon's epoll fd: MHD_run */
	rp_ev ev_wake;             /* eventfd: handed connections, stop */
	struct MHD_Daemon *daemon;
	svc_loop_hooks hooks;
	struct svc_data *data;
	rp_pipe *pipe;             /* NULL without Redis */
	int epfd, wakefd;
	pthread_t tid;
	bool running;
	bool run_follows;          /* loop thread: this turn's MHD_run is ahead */
	bool kick;                 /* loop thread: run the daemon again now */
	atomic_bool stop;
	pthread_mutex_t mu;        /* the handed queue */
	struct handed *q;
	int qn, qcap;
};

static _Thread_local svc_loop *self;

struct rp_pipe *svc_loop_pipe(void)
{
	return self ? self->pipe : NULL;
}

svc_loop *svc_loop_self(void)
{
	return self;
}

static void on_mhd(rp_ev *ev, uint32_t events)
{
	RK_UNUSED(ev);
	RK_UNUSED(events);   /* MHD_run runs every turn */
}

/* The connections handed since the last turn go to the daemon. */
static void on_wake(rp_ev *ev, uint32_t events)
{
	svc_loop *l = (svc_loop *)((char *)ev - offsetof(svc_loop, ev_wake));
	RK_UNUSED(events);
	uint64_t v;
	while (read(l->wakefd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	for (;;) {
		struct handed h[16];
		int n = 0;
		pthread_mutex_lock(&l->mu);
		n = l->qn < 16 ? l->qn : 16;
		memcpy(h, l->q, (size_t)n * sizeof(*h));
		l->qn -= n;
		memmove(l->q, l->q + n, (size_t)l->qn * sizeof(*h));
		pthread_mutex_unlock(&l->mu);
		if (!n)
			break;
		for (int i = 0; i < n; i++)
			if (MHD_add_connection(l->daemon, h[i].fd,
					       (struct sockaddr *)&h[i].ss,
					       h[i].len) != MHD_YES &&
			    l->hooks.refused)
				l->hooks.refused(l->hooks.ud);
	}
}

static int wait_ms(svc_loop *l)
{
	if (l->kick) {
		l->kick = false;
		return 0;
	}
	int timeout = -1;
	MHD_UNSIGNED_LONG_LONG mt;
	if (MHD_get_timeout(l->daemon, &mt) == MHD_YES)
		timeout = mt > INT_MAX ? INT_MAX : (int)mt;
	int64_t due = l->pipe ? rp_next_deadline(l->pipe) : INT64_MAX;
	if (due != INT64_MAX) {
		int64_t ms = (due - rk_now_us() + 999) / 1000;
		ms = ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : ms;
		if (timeout < 0 || ms < timeout)
			timeout = (int)ms;
	}
	return timeout;
}

static void *loop_main(void *arg)
{
	svc_loop *l = arg;
	self = l;
	struct epoll_event ev[MAX_EVENTS];
	while (!atomic_load_explicit(&l->stop, memory_order_acquire)) {
		int n = epoll_wait(l->epfd, ev, MAX_EVENTS, wait_ms(l));
		l->run_follows = true;
		for (int i = 0; i < n; i++) {
			rp_ev *e = ev[i].data.ptr;
			e->fn(e, ev[i].events);
		}
		if (l->pipe)
			rp_expire(l->pipe, rk_now_us());
		l->run_follows = false;
		MHD_run(l->daemon);
		if (l->pipe)
			rp_flush(l->pipe);
	}
	/* rounds in flight fail: their requests are answered (degraded)
	 * and resumed on this thread, whose worker state they use */
	rp_free(l->pipe);
	l->pipe = NULL;
	MHD_run(l->daemon);
	self = NULL;
	return NULL;
}

static int watch(svc_loop *l, int fd, rp_ev *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e);
}

svc_loop *svc_loop_new(struct MHD_Daemon *d, struct svc_data *data,
		       int64_t stall_us, const svc_loop_hooks *hooks,
		       char *err, size_t errlen)
{
	svc_loop *l = rk_calloc(1, sizeof(*l));
	if (!l) {
		MHD_stop_daemon(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->daemon = d;
	l->data = data;
	if (hooks)
		l->hooks = *hooks;
	l->ev_mhd.fn = on_mhd;
	l->ev_wake.fn = on_wake;
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->stop, false);
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!di || l->epfd < 0 || l->wakefd < 0 ||
	    watch(l, di->epoll_fd, &l->ev_mhd) ||
	    watch(l, l->wakefd, &l->ev_wake)) {
		snprintf(err, errlen, "event loop: %s",
			 di ? strerror(errno) : "daemon has no epoll set");
		svc_loop_free(l);
		return NULL;
	}
	struct rg_t *rg = svc_data_rg(data);
	if (rg && !(l->pipe = rp_new(rg, l->epfd, stall_us))) {
		snprintf(err, errlen, "out of memory");
		svc_loop_free(l);
		return NULL;
	}
	return l;
}

int svc_loop_start(svc_loop *l, int id, char *err, size_t errlen)
{
	int rc = pthread_create(&l->tid, NULL, loop_main, l);
	if (rc) {
		snprintf(err, errlen, "HTTP thread: %s", strerror(rc));
		return RK_EIO;
	}
	l->running = true;
	char name[16];
	snprintf(name, sizeof(name), "riskd-loop%d", id);
	pthread_setname_np(l->tid, name);
	return 0;
}

int svc_loop_pin(svc_loop *l, int cpu)
{
	if (!l->running || cpu >= CPU_SETSIZE)
		return RK_EINVAL;
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else if (sched_getaffinity(0, sizeof(set), &set))
		return RK_EIO;
	return pthread_setaffinity_np(l->tid, sizeof(set), &set) ? RK_EIO : 0;
}

static void wake(svc_loop *l)
{
	uint64_t one = 1;
	while (write(l->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void svc_loop_resumed(svc_loop *l)
{
	if (!l)
		return;
	/* On its own thread: a resume made by a Redis reply's callback in
	 * the event phase is seen by the turn's MHD_run, which follows; one
	 * made inside MHD_run (an answer given right after the suspend, e.g.
	 * a refused submit) or after it (a failed write in rp_flush) only by
	 * the next MHD_run, so the next turn must not wait. */
	if (l != self)
		wake(l);
	else if (!l->run_follows)
		l->kick = true;
}

void svc_loop_add(svc_loop *l, int fd, const struct sockaddr *sa,
		  socklen_t len)
{
	pthread_mutex_lock(&l->mu);
	if (l->qn == l->qcap) {
		int cap = l->qcap ? l->qcap * 2 : 64;
		struct handed *q = rk_realloc(l->q, (size_t)cap * sizeof(*q));
		if (!q) {
			pthread_mutex_unlock(&l->mu);
			close(fd);
			if (l->hooks.refused)
				l->hooks.refused(l->hooks.ud);
			return;
		}
		l->q = q;
		l->qcap = cap;
	}
	struct handed *h = &l->q[l->qn++];
	bool first = l->qn == 1;
	h->fd = fd;
	h->len = len > sizeof(h->ss) ? sizeof(h->ss) : len;
	memcpy(&h->ss, sa, h->len);
	pthread_mutex_unlock(&l->mu);
	if (first)
		wake(l);
}

void svc_loop_stop(svc_loop *l)
{
	if (!l || !l->running)
		return;
	atomic_store_explicit(&l->stop, true, memory_order_release);
	wake(l);
	pthread_join(l->tid, NULL);
	l->running = false;
}

void svc_loop_free(svc_loop *l)
{
	if (!l)
		return;
	svc_loop_stop(l);
	rp_free(l->pipe);   /* never started: nothing in flight */
	if (l->daemon)
		MHD_stop_daemon(l->daemon);
	/* connections handed but never added */
	for (int i = 0; i < l->qn; i++) {
		close(l->q[i].fd);
		if (l->hooks.refused)
			l->hooks.refused(l->hooks.ud);
	}
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	pthread_mutex_destroy(&l->mu);
	rk_free(l->q);
	rk_free(l);
}
